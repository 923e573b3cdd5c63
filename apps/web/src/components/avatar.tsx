import type { CSSProperties } from 'react';
import { hueOf, initialsOf } from '../lib/avatar.js';

export interface AvatarProps {
  name: string;
  /** Pixel size; default 36. */
  size?: number;
  /** Shows a presence dot when defined. */
  online?: boolean | undefined;
}

/** An initials avatar in the person's stable colour, with an optional presence dot. */
export function Avatar({ name, size = 36, online }: AvatarProps) {
  const style = { '--avatar-hue': hueOf(name), '--avatar-size': `${size}px` } as CSSProperties;
  return (
    <span className="avatar" style={style} aria-hidden="true">
      {initialsOf(name)}
      {online !== undefined && <span className={online ? 'presence-dot online' : 'presence-dot'} />}
    </span>
  );
}
