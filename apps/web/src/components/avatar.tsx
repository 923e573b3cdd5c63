import type { CSSProperties } from 'react';
import { hueOf, initialsOf } from '../lib/avatar.js';
import type { Presence } from '../store/chat-state.js';

export interface AvatarProps {
  name: string;
  /** Pixel size; default 36. */
  size?: number;
  /** Shows a presence dot when defined: green, grey, or hollow while unknown. */
  presence?: Presence | undefined;
}

/** An initials avatar in the person's stable colour, with an optional presence dot. */
export function Avatar({ name, size = 36, presence }: AvatarProps) {
  const style = { '--avatar-hue': hueOf(name), '--avatar-size': `${size}px` } as CSSProperties;
  return (
    <span className="avatar" style={style} aria-hidden="true">
      {initialsOf(name)}
      {presence !== undefined && <span className={`presence-dot ${presence}`} data-presence={presence} />}
    </span>
  );
}
