import { toChatError } from '@relay-chat/protocol';
import { Fragment, type ReactNode, useCallback, useEffect, useRef, useState } from 'react';
import { SearchIcon } from './icons.js';

/** How often a shown list is re-read (quietly, keeping what is on screen until it answers), in ms. */
export const DIRECTORY_REFRESH_MS = 15_000;

/** How long typing must pause before a non-empty query is searched, in ms. */
const SEARCH_DEBOUNCE_MS = 200;

/** One page of a list; `nextCursor` is null on the last page. */
export interface ListPage<T> {
  items: readonly T[];
  nextCursor: string | null;
}

/** What a row may do besides rendering its item. */
export interface RowControls {
  /** True while this row's action (started with `run`) is in flight. */
  busy: boolean;
  /** Runs the row's action: the row is busy meanwhile, and a failure shows in the list's error slot. */
  run: (action: () => Promise<void>) => void;
}

/** Items are told apart by `id` (the React key, and which row is busy). */
export interface SearchableListProps<T extends { id: string }> {
  /**
   * Reads one page for a query (already trimmed); `cursor` is the previous page's
   * `nextCursor`. Rejects with a ChatError. Must be stable (useCallback): a new function
   * reloads the list.
   */
  fetchPage: (query: string, cursor?: string) => Promise<ListPage<T>>;
  /** Called with every page that is put on screen. Must be stable, like fetchPage. */
  onPage?: (items: readonly T[]) => void;
  /** The rows to show out of the items loaded (filtering, ordering); all of them by default. */
  arrange?: (items: readonly T[]) => readonly T[];
  /** Renders one `<li>`. Item text must be rendered as text, never as HTML. */
  renderItem: (item: T, row: RowControls) => ReactNode;
  /** Shown when loading is done and there is no row; `query` is what was typed. */
  renderEmpty: (query: string) => ReactNode;
  /** The search box's (visually hidden) label and placeholder. */
  searchLabel: string;
  searchTestId?: string;
  /** The list's accessible name. */
  listLabel: string;
  listTestId: string;
  /** Controls beside the search box; when given, both sit in a `.directory-toolbar`. */
  toolbar?: ReactNode;
  /** Text of the button that loads the next page (shown only while there is one). */
  loadMoreLabel?: string;
}

/**
 * A search box over a list read page by page: searches as the user types (debounced),
 * re-reads the list every DIRECTORY_REFRESH_MS while shown, loads further pages on request,
 * and renders the loading (`aria-busy`), empty and error states. Answers to an outdated
 * query are dropped.
 */
export function SearchableList<T extends { id: string }>({
  fetchPage,
  onPage,
  arrange,
  renderItem,
  renderEmpty,
  searchLabel,
  searchTestId,
  listLabel,
  listTestId,
  toolbar,
  loadMoreLabel = 'Show more',
}: SearchableListProps<T>) {
  const [query, setQuery] = useState('');
  const [items, setItems] = useState<readonly T[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | undefined>();
  const [busyId, setBusyId] = useState<string | undefined>();
  const generation = useRef(0);
  // Whether pages past the first are on screen: a refresh re-reads only the first page,
  // so it must not drop the rows the user paged in.
  const pagedIn = useRef(false);

  const load = useCallback(
    async (q: string, quiet: boolean) => {
      const mine = ++generation.current;
      if (!quiet) setLoading(true);
      try {
        const page = await fetchPage(q.trim());
        if (mine !== generation.current) return;
        if (!quiet) pagedIn.current = false;
        const keepPagedIn = quiet && pagedIn.current;
        setItems((shown) =>
          keepPagedIn && shown.length > page.items.length ? mergeById(page.items, shown) : page.items,
        );
        setNextCursor(page.nextCursor);
        setError(undefined);
        onPage?.(page.items);
      } catch (err) {
        if (mine === generation.current) setError(toChatError(err).message);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [fetchPage, onPage],
  );

  useEffect(() => {
    const debounce = setTimeout(() => void load(query, false), query ? SEARCH_DEBOUNCE_MS : 0);
    const refresh = setInterval(() => void load(query, true), DIRECTORY_REFRESH_MS);
    return () => {
      clearTimeout(debounce);
      clearInterval(refresh);
    };
  }, [load, query]);

  const loadMore = async () => {
    if (!nextCursor) return;
    try {
      const page = await fetchPage(query.trim(), nextCursor);
      pagedIn.current = true;
      setItems((shown) => mergeById(shown, page.items));
      setNextCursor(page.nextCursor);
      onPage?.(page.items);
    } catch (err) {
      setError(toChatError(err).message);
    }
  };

  const run = async (id: string, action: () => Promise<void>) => {
    setBusyId(id);
    try {
      await action();
    } catch (err) {
      setError(toChatError(err).message);
    } finally {
      setBusyId(undefined);
    }
  };

  const rows = arrange ? arrange(items) : items;
  const search = (
    <label className="search-field">
      <SearchIcon />
      <span className="visually-hidden">{searchLabel}</span>
      <input
        type="search"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        placeholder={searchLabel}
        autoComplete="off"
        spellCheck={false}
        data-testid={searchTestId}
      />
    </label>
  );
  return (
    <div className="directory">
      {toolbar === undefined ? (
        search
      ) : (
        <div className="directory-toolbar">
          {search}
          {toolbar}
        </div>
      )}
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <ul className="directory-list" aria-label={listLabel} aria-busy={loading} data-testid={listTestId}>
        {rows.map((item) => {
          return (
            <Fragment key={item.id}>
              {renderItem(item, { busy: busyId === item.id, run: (action) => void run(item.id, action) })}
            </Fragment>
          );
        })}
      </ul>
      {!loading && rows.length === 0 && renderEmpty(query)}
      {nextCursor && (
        <button type="button" className="ghost-button wide" onClick={loadMore}>
          {loadMoreLabel}
        </button>
      )}
    </div>
  );
}

/** `first`, then the items of `second` whose id `first` does not hold. */
export function mergeById<T extends { id: string }>(first: readonly T[], second: readonly T[]): T[] {
  const seen = new Set(first.map((item) => item.id));
  return [...first, ...second.filter((item) => !seen.has(item.id))];
}
