import { type ChannelListing, type ConversationId, toChatError } from '@relay-chat/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { neutraliseBidi } from '../lib/safe-text.js';
import { HashIcon, PlusIcon, SearchIcon } from './icons.js';
import { DIRECTORY_REFRESH_MS } from './user-directory.js';

export interface ChannelDirectoryProps {
  onOpen: (id: ConversationId) => void;
  onCreate: () => void;
}

/** Public channels: browse by name, join, open; and a way to create one. */
export function ChannelDirectory({ onOpen, onCreate }: ChannelDirectoryProps) {
  const actions = useChatActions();
  const joinedIds = useChatState((s) => s.conversations);
  const [query, setQuery] = useState('');
  const [channels, setChannels] = useState<ChannelListing[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | undefined>();
  const [joining, setJoining] = useState<string | undefined>();
  const generation = useRef(0);

  const load = useCallback(
    async (q: string, quiet: boolean) => {
      const mine = ++generation.current;
      if (!quiet) setLoading(true);
      try {
        const list = await actions.channels(q.trim());
        if (mine !== generation.current) return;
        setChannels(list);
        setError(undefined);
      } catch (err) {
        if (mine === generation.current) setError(toChatError(err).message);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [actions],
  );

  useEffect(() => {
    const debounce = setTimeout(() => void load(query, false), query ? 200 : 0);
    const refresh = setInterval(() => void load(query, true), DIRECTORY_REFRESH_MS);
    return () => {
      clearTimeout(debounce);
      clearInterval(refresh);
    };
  }, [load, query]);

  const join = async (channel: ChannelListing) => {
    setJoining(channel.id);
    try {
      await actions.join(channel.id);
      onOpen(channel.id);
    } catch (err) {
      setError(toChatError(err).message);
    } finally {
      setJoining(undefined);
    }
  };

  return (
    <div className="directory">
      <div className="directory-toolbar">
        <label className="search-field">
          <SearchIcon />
          <span className="visually-hidden">Search channels</span>
          <input
            type="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder="Search channels"
            autoComplete="off"
            spellCheck={false}
          />
        </label>
        <button type="button" className="primary-button small" onClick={onCreate} data-testid="new-channel">
          <PlusIcon /> New
        </button>
      </div>
      {error && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
      <ul className="directory-list" aria-label="Channels" aria-busy={loading} data-testid="channel-list">
        {channels.map((channel) => {
          const joined = channel.joined || joinedIds.has(channel.id);
          const name = neutraliseBidi(channel.name);
          return (
            <li key={channel.id} className="channel-row" data-testid="channel" data-name={name}>
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
                  onClick={() => join(channel)}
                  disabled={joining === channel.id}
                  aria-label={`Join #${name}`}
                >
                  {joining === channel.id ? 'Joining…' : 'Join'}
                </button>
              )}
            </li>
          );
        })}
      </ul>
      {!loading && channels.length === 0 && (
        <div className="sidebar-empty">
          <p>{query ? `No channel matches “${query}”.` : 'No channels yet.'}</p>
          <button type="button" className="link-button" onClick={onCreate}>
            Create the first one
          </button>
        </div>
      )}
    </div>
  );
}
