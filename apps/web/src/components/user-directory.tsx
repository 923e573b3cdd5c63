import type { ConversationId, User } from '@relay-chat/protocol';
import { useCallback } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { Avatar } from './avatar.js';
import { CopyLinkButton } from './next-actions.js';
import { type ListPage, SearchableList } from './searchable-list.js';

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
  const fresh = useChatState((s) => s.presenceFresh);

  const fetchPage = useCallback(
    async (q: string, cursor?: string): Promise<ListPage<User>> => {
      const page = await actions.users(q.toLowerCase(), cursor);
      return { items: page.users, nextCursor: page.nextCursor };
    },
    [actions],
  );
  // Presence of the users just listed; live `presence` events keep it current after that.
  const onPage = useCallback(
    (users: readonly User[]) => void actions.refreshPresence(users.map((u) => u.id)).catch(() => {}),
    [actions],
  );

  return (
    <SearchableList
      fetchPage={fetchPage}
      onPage={onPage}
      searchLabel="Search people"
      searchTestId="people-search"
      listLabel="People"
      listTestId="people-list"
      loadMoreLabel="Show more people"
      arrange={(users) =>
        users
          .filter((u) => u.id !== me?.id)
          .sort(
            (a, b) =>
              Number(online.has(b.id)) - Number(online.has(a.id)) || a.username.localeCompare(b.username),
          )
      }
      renderItem={(user, row) => {
        const isOnline = online.has(user.id);
        const presence = fresh ? (isOnline ? 'online' : 'offline') : 'unknown';
        const label = fresh ? presence : `last known ${isOnline ? 'online' : 'offline'}`;
        return (
          <li>
            <button
              type="button"
              className="directory-item"
              onClick={() => row.run(async () => onOpen(await actions.openDm(user.id)))}
              disabled={row.busy}
              data-testid="person"
              data-username={user.username}
              data-online={isOnline}
              data-presence={presence}
            >
              <Avatar name={user.username} size={32} presence={presence} />
              <span className="directory-name">{user.username}</span>
              <span className={`presence-label ${presence}`}>{label}</span>
            </button>
          </li>
        );
      }}
      renderEmpty={(query) =>
        query ? (
          <p className="sidebar-empty muted">No one matches “{query}”.</p>
        ) : (
          <div className="sidebar-empty" data-testid="people-empty">
            <p>No one else has signed up yet.</p>
            <p className="muted">
              Send someone the link to this page — or try it yourself from a second, private window.
            </p>
            <CopyLinkButton />
          </div>
        )
      }
    />
  );
}
