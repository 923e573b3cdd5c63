import type { SearchHit, User, UserId } from '@relay-chat/protocol';
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
    // biome-ignore lint/a11y/useKeyWithClickEvents: the combobox handles the keys for the options
    <div
      id={option.id}
      role="option"
      tabIndex={-1}
      aria-selected={option.active}
      className={`switcher-option search-hit${option.active ? ' active' : ''}`}
      onClick={option.onChoose}
      onMouseMove={option.onHover}
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
    </div>
  );
}

/** The "Load more" row after the last hit: an option too, so the arrow keys reach it. */
export function LoadMoreOption({ loading, option }: { loading: boolean; option: OptionProps }) {
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the combobox handles the keys for the options
    <div
      id={option.id}
      role="option"
      tabIndex={-1}
      aria-selected={option.active}
      aria-disabled={loading}
      className={`switcher-option search-more${option.active ? ' active' : ''}`}
      onClick={option.onChoose}
      onMouseMove={option.onHover}
      data-testid="search-more"
    >
      {loading ? (
        <>
          <span className="spinner" aria-hidden="true" /> Loading more messages…
        </>
      ) : (
        'Load more messages'
      )}
    </div>
  );
}
