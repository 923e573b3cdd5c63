import { type ConversationId, toChatError, type User } from '@relay-chat/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { Avatar } from './avatar.js';
import { SearchIcon } from './icons.js';

/** How often the directory and its presence dots are refreshed while shown, in ms. */
export const DIRECTORY_REFRESH_MS = 15_000;

export interface UserDirectoryProps {
  onOpen: (id: ConversationId) => void;
}

/**
 * Every registered user, searchable by name prefix, with a live presence dot. Refreshed
 * every DIRECTORY_REFRESH_MS so new users appear; live `presence` events move the dots in
 * between. Choosing a user opens (or creates) the DM.
 */
export function UserDirectory({ onOpen }: UserDirectoryProps) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me);
  const online = useChatState((s) => s.online);
  const [query, setQuery] = useState('');
  const [users, setUsers] = useState<User[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | undefined>();
  const [opening, setOpening] = useState<string | undefined>();
  const generation = useRef(0);

  const load = useCallback(
    async (q: string, quiet: boolean) => {
      const mine = ++generation.current;
      if (!quiet) setLoading(true);
      try {
        const page = await actions.users(q.trim().toLowerCase());
        if (mine !== generation.current) return;
        setUsers((shown) =>
          quiet && shown.length > page.users.length ? mergeUsers(page.users, shown) : page.users,
        );
        setNextCursor(page.nextCursor);
        setError(undefined);
        void actions.refreshPresence(page.users.map((u) => u.id)).catch(() => {});
      } catch (err) {
        if (mine === generation.current) setError(toChatError(err).message);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [actions],
  );

  // Search as the user types (debounced), then keep the list fresh.
  useEffect(() => {
    const debounce = setTimeout(() => void load(query, false), query ? 200 : 0);
    const refresh = setInterval(() => void load(query, true), DIRECTORY_REFRESH_MS);
    return () => {
      clearTimeout(debounce);
      clearInterval(refresh);
    };
  }, [load, query]);

  const loadMore = async () => {
    if (!nextCursor) return;
    try {
      const page = await actions.users(query.trim().toLowerCase(), nextCursor);
      setUsers((shown) => mergeUsers(shown, page.users));
      setNextCursor(page.nextCursor);
      void actions.refreshPresence(page.users.map((u) => u.id)).catch(() => {});
    } catch (err) {
      setError(toChatError(err).message);
    }
  };

  const open = async (user: User) => {
    setOpening(user.id);
    try {
      onOpen(await actions.openDm(user.id));
    } catch (err) {
      setError(toChatError(err).message);
    } finally {
      setOpening(undefined);
    }
  };

  const others = users.filter((u) => u.id !== me?.id);
  const sorted = [...others].sort(
    (a, b) => Number(online.has(b.id)) - Number(online.has(a.id)) || a.username.localeCompare(b.username),
  );
  return (
    <div className="directory">
      <label className="search-field">
        <SearchIcon />
        <span className="visually-hidden">Search people</span>
        <input
          type="search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          placeholder="Search people"
          autoComplete="off"
          spellCheck={false}
          data-testid="people-search"
        />
      </label>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <ul className="directory-list" aria-label="People" aria-busy={loading} data-testid="people-list">
        {sorted.map((user) => {
          const isOnline = online.has(user.id);
          return (
            <li key={user.id}>
              <button
                type="button"
                className="directory-item"
                onClick={() => open(user)}
                disabled={opening === user.id}
                aria-label={`Message ${user.username} (${isOnline ? 'online' : 'offline'})`}
                data-testid="person"
                data-username={user.username}
                data-online={isOnline}
              >
                <Avatar name={user.username} size={32} online={isOnline} />
                <span className="directory-name">{user.username}</span>
                <span className={`presence-label${isOnline ? ' online' : ''}`}>
                  {isOnline ? 'online' : 'offline'}
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      {!loading && sorted.length === 0 && (
        <p className="sidebar-empty muted">
          {query ? `No one matches “${query}”.` : 'No one else has signed up yet.'}
        </p>
      )}
      {nextCursor && (
        <button type="button" className="ghost-button wide" onClick={loadMore}>
          Show more people
        </button>
      )}
    </div>
  );
}

function mergeUsers(first: readonly User[], second: readonly User[]): User[] {
  const seen = new Set(first.map((u) => u.id));
  return [...first, ...second.filter((u) => !seen.has(u.id))];
}
