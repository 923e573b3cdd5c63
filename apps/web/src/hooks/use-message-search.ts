import type { SearchHit } from '@relay-chat/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { SEARCH_DEBOUNCE_MS, searchable, searchErrorText } from '../lib/search.js';
import { useChatActions } from './use-chat.js';

/** What the message search shows for the current query. */
export interface MessageSearch {
  /** idle: the query is too short to ask; loading: the first page is on its way. */
  status: 'idle' | 'loading' | 'done' | 'error';
  /** The query these hits and this error belong to (trimmed). */
  query: string;
  hits: SearchHit[];
  /** Another page exists. */
  hasMore: boolean;
  loadingMore: boolean;
  /** Something to tell the reader, when status is 'error' (or a next page failed). */
  error: string | undefined;
  loadMore(): void;
}

interface Results {
  status: MessageSearch['status'];
  query: string;
  hits: SearchHit[];
  nextCursor: string | null;
  loadingMore: boolean;
  error: string | undefined;
}

const IDLE: Results = {
  status: 'idle',
  query: '',
  hits: [],
  nextCursor: null,
  loadingMore: false,
  error: undefined,
};

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

/**
 * Server-side message search for a query typed in a field: waits SEARCH_DEBOUNCE_MS after
 * the last keystroke, asks only from two characters on, cancels the request a newer query
 * replaces, and ignores any answer that is not for the current query (a generation check
 * besides the abort, so a late answer can never show up under another query).
 */
export function useMessageSearch(rawQuery: string): MessageSearch {
  const actions = useChatActions();
  const query = rawQuery.trim();
  const [results, setResults] = useState<Results>(IDLE);
  const generation = useRef(0);
  const controller = useRef<AbortController | undefined>(undefined);

  useEffect(() => {
    generation.current += 1;
    const mine = generation.current;
    controller.current?.abort();
    controller.current = undefined;
    if (!searchable(query)) {
      setResults(IDLE);
      return;
    }
    setResults({ ...IDLE, status: 'loading', query });
    const timer = setTimeout(() => {
      const abort = new AbortController();
      controller.current = abort;
      actions
        .searchMessages(query, { signal: abort.signal })
        .then((page) => {
          if (generation.current !== mine) return;
          setResults({ ...IDLE, status: 'done', query, hits: page.hits, nextCursor: page.nextCursor });
        })
        .catch((err: unknown) => {
          if (generation.current !== mine || isAbort(err, abort.signal)) return;
          setResults({ ...IDLE, status: 'error', query, error: searchErrorText(err) });
        });
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [actions, query]);

  // Cancel whatever is in flight when the field goes away.
  useEffect(
    () => () => {
      generation.current += 1;
      controller.current?.abort();
    },
    [],
  );

  const loadMore = useCallback(() => {
    const cursor = results.nextCursor;
    if (results.status !== 'done' || cursor === null || results.loadingMore) return;
    const mine = generation.current;
    const abort = new AbortController();
    controller.current = abort;
    setResults((r) => ({ ...r, loadingMore: true, error: undefined }));
    actions
      .searchMessages(results.query, { cursor, signal: abort.signal })
      .then((page) => {
        if (generation.current !== mine) return;
        setResults((r) => ({
          ...r,
          hits: [...r.hits, ...page.hits],
          nextCursor: page.nextCursor,
          loadingMore: false,
        }));
      })
      .catch((err: unknown) => {
        if (generation.current !== mine || isAbort(err, abort.signal)) return;
        setResults((r) => ({ ...r, loadingMore: false, error: searchErrorText(err) }));
      });
  }, [actions, results]);

  return {
    status: results.status,
    query: results.query,
    hits: results.hits,
    hasMore: results.nextCursor !== null,
    loadingMore: results.loadingMore,
    error: results.error,
    loadMore,
  };
}
