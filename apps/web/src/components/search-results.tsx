import type { SearchHit, User, UserId } from '@relay-chat/protocol';
import type { ReactNode } from 'react';
import { relativeTime, snippetParts } from '../lib/search.js';
import { fullTimeLabel } from '../lib/timeline.js';

/** Props every option row of the switcher gets from it. */
export interface OptionProps {
  id: string;
  active: boolean;
  onChoose: () => void;
  onHover: () => void;
}

/**
 * An option row of the switcher's listbox: the combobox moves over it with the keys, a click
 * chooses it, the pointer makes it the active one. `data-*` props go onto the row.
 */
export function SwitcherOption({
  option,
  className,
  disabled,
  children,
  ...data
}: {
  option: OptionProps;
  /** Classes besides `switcher-option` (and `active`). */
  className?: string;
  /** For `aria-disabled`: an option that does nothing for now. */
  disabled?: boolean;
  children: ReactNode;
  'data-testid': string;
} & { [attribute: `data-${string}`]: string | number }) {
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the combobox handles the keys for the options
    <div
      id={option.id}
      role="option"
      tabIndex={-1}
      aria-selected={option.active}
      aria-disabled={disabled}
      className={`switcher-option${className ? ` ${className}` : ''}${option.active ? ' active' : ''}`}
      onClick={option.onChoose}
      onMouseMove={option.onHover}
      {...data}
    >
      {children}
    </div>
  );
}

/**
 * A message's body cut to one line around its first match, the matched ranges in `<mark>`.
 * Every piece is a React text node: the body is never parsed as HTML.
 */
export function HitSnippet({ hit }: { hit: SearchHit }) {
  let at = 0;
  const parts = snippetParts(hit.message.body, hit.matches).map((part) => {
    const key = at;
    at += part.text.length;
    return { ...part, key };
  });
  return (
    <bdi className="search-hit-body">
      {parts.map((p) => (p.mark ? <mark key={p.key}>{p.text}</mark> : <span key={p.key}>{p.text}</span>))}
    </bdi>
  );
}

/** One message found: who wrote it and when, and the snippet. An option of the switcher's listbox. */
export function SearchHitOption({
  hit,
  users,
  now,
  option,
}: {
  hit: SearchHit;
  users: ReadonlyMap<UserId, User>;
  now: number;
  option: OptionProps;
}) {
  const author = users.get(hit.message.from)?.username ?? 'someone';
  return (
    <SwitcherOption
      option={option}
      className="search-hit"
      data-testid="search-hit"
      data-conv={hit.message.conv}
      data-seq={hit.message.seq}
    >
      <span className="search-hit-head">
        <bdi className="search-hit-author">{author}</bdi>
        <time
          className="search-hit-time muted small"
          dateTime={new Date(hit.message.ts).toISOString()}
          title={fullTimeLabel(hit.message.ts)}
        >
          {relativeTime(hit.message.ts, now)}
        </time>
      </span>
      <HitSnippet hit={hit} />
    </SwitcherOption>
  );
}

/** The "Load more" row after the last hit: an option too, so the arrow keys reach it. */
export function LoadMoreOption({ loading, option }: { loading: boolean; option: OptionProps }) {
  return (
    <SwitcherOption option={option} className="search-more" disabled={loading} data-testid="search-more">
      {loading ? (
        <>
          <span className="spinner" aria-hidden="true" /> Loading more messages…
        </>
      ) : (
        'Load more messages'
      )}
    </SwitcherOption>
  );
}
