import type { ChannelListing, ConversationId } from '@relay-chat/protocol';
import { useCallback } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { neutraliseBidi } from '../lib/safe-text.js';
import { HashIcon, PlusIcon } from './icons.js';
import { type ListPage, SearchableList } from './searchable-list.js';

export interface ChannelDirectoryProps {
  onOpen: (id: ConversationId) => void;
  onCreate: () => void;
}

/** Public channels: browse by name, join, open; and a way to create one. */
export function ChannelDirectory({ onOpen, onCreate }: ChannelDirectoryProps) {
  const actions = useChatActions();
  const joinedIds = useChatState((s) => s.conversations);

  const fetchPage = useCallback(
    async (q: string): Promise<ListPage<ChannelListing>> => ({
      items: await actions.channels(q),
      nextCursor: null,
    }),
    [actions],
  );

  return (
    <SearchableList
      fetchPage={fetchPage}
      searchLabel="Search channels"
      listLabel="Channels"
      listTestId="channel-list"
      toolbar={
        <button type="button" className="primary-button small" onClick={onCreate} data-testid="new-channel">
          <PlusIcon /> New
        </button>
      }
      renderItem={(channel, row) => {
        const joined = channel.joined || joinedIds.has(channel.id);
        const name = neutraliseBidi(channel.name);
        return (
          <li className="channel-row" data-testid="channel" data-name={name}>
            <span className="room-avatar channel small" aria-hidden="true">
              <HashIcon />
            </span>
            <span className="channel-text">
              <bdi className="directory-name">{name}</bdi>
              <span className="muted small">
                {channel.memberCount} member{channel.memberCount === 1 ? '' : 's'}
              </span>
            </span>
            {joined ? (
              <button
                type="button"
                className="ghost-button small"
                onClick={() => onOpen(channel.id)}
                aria-label={`Open #${name}`}
              >
                Open
              </button>
            ) : (
              <button
                type="button"
                className="primary-button small"
                onClick={() =>
                  row.run(async () => {
                    await actions.join(channel.id);
                    onOpen(channel.id);
                  })
                }
                disabled={row.busy}
                aria-label={`Join #${name}`}
              >
                {row.busy ? 'Joining…' : 'Join'}
              </button>
            )}
          </li>
        );
      }}
      renderEmpty={(query) => (
        <div className="sidebar-empty">
          <p>{query ? `No channel matches “${query}”.` : 'No channels yet.'}</p>
          <button
            type="button"
            className="primary-button"
            onClick={onCreate}
            data-testid="create-first-channel"
          >
            <PlusIcon /> Create {query ? `#${query.trim().toLowerCase()}` : 'the first channel'}
          </button>
        </div>
      )}
    />
  );
}
