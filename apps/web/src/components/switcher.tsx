import type { ConversationId } from '@relay-chat/protocol';
import { type KeyboardEvent, useEffect, useId, useMemo, useRef, useState } from 'react';
import { useChatState } from '../hooks/use-chat.js';
import { conversationTitle, sortConversations } from '../lib/conversations.js';
import { badgeText } from '../lib/unread.js';
import { ConversationAvatar } from './conversation-view.js';
import { SearchIcon } from './icons.js';

export interface SwitcherProps {
  onClose: () => void;
  onOpen: (id: ConversationId) => void;
}

/** At most this many matches are listed. */
const MAX_MATCHES = 20;

/**
 * The conversation switcher (Ctrl/Cmd+K): type part of a name, move with the arrow keys,
 * Enter opens, Escape closes. A modal dialog with a combobox over a listbox.
 */
export function Switcher({ onClose, onOpen }: SwitcherProps) {
  const conversations = useChatState((s) => s.conversations);
  const me = useChatState((s) => s.me?.id);
  const [query, setQuery] = useState('');
  const [index, setIndex] = useState(0);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const listId = useId();

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const matches = useMemo(() => {
    const q = query.trim().toLowerCase();
    return sortConversations(conversations.values())
      .map((conversation) => {
        const title = conversationTitle(conversation, me);
        return { conversation, title, display: conversation.kind === 'channel' ? `#${title}` : title };
      })
      .filter((m) => q === '' || m.display.toLowerCase().includes(q))
      .slice(0, MAX_MATCHES);
  }, [conversations, me, query]);
  const active = Math.min(index, Math.max(0, matches.length - 1));

  const choose = (id: ConversationId) => {
    onClose();
    onOpen(id);
  };

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (matches.length === 0) return;
      const delta = event.key === 'ArrowDown' ? 1 : -1;
      setIndex((active + delta + matches.length) % matches.length);
    } else if (event.key === 'Enter') {
      event.preventDefault();
      const match = matches[active];
      if (match) choose(match.conversation.id);
    }
  };

  const optionId = (i: number) => `${listId}-${i}`;
  return (
    <dialog
      ref={dialogRef}
      className="modal switcher"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={() => {}}
      data-testid="switcher"
    >
      <div className="modal-body">
        <h2 id={titleId} className="visually-hidden">
          Switch conversation
        </h2>
        <label className="search-field switcher-search">
          <SearchIcon />
          <span className="visually-hidden">Conversation name</span>
          <input
            type="text"
            role="combobox"
            aria-expanded="true"
            aria-controls={listId}
            aria-autocomplete="list"
            aria-activedescendant={matches.length > 0 ? optionId(active) : undefined}
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setIndex(0);
            }}
            onKeyDown={onKeyDown}
            placeholder="Jump to a conversation…"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            data-testid="switcher-input"
          />
        </label>
        <div id={listId} className="switcher-list" role="listbox" aria-label="Conversations">
          {matches.map((m, i) => (
            // biome-ignore lint/a11y/useKeyWithClickEvents: the combobox handles the keys for the options
            <div
              key={m.conversation.id}
              id={optionId(i)}
              role="option"
              tabIndex={-1}
              aria-selected={i === active}
              className={`switcher-option${i === active ? ' active' : ''}`}
              onClick={() => choose(m.conversation.id)}
              onMouseMove={() => setIndex(i)}
              data-testid="switcher-option"
              data-title={m.display}
            >
              <ConversationAvatar conversation={m.conversation} title={m.title} size={28} />
              <bdi className="switcher-title">{m.display}</bdi>
              {m.conversation.unread > 0 && (
                <span className="unread-badge">
                  {badgeText(m.conversation.unread)}
                  <span className="visually-hidden"> unread</span>
                </span>
              )}
            </div>
          ))}
          {matches.length === 0 && <p className="switcher-empty muted">No conversation matches “{query}”.</p>}
        </div>
        <p className="switcher-hint muted small" aria-hidden="true">
          <kbd>↑</kbd> <kbd>↓</kbd> to move · <kbd>Enter</kbd> to open · <kbd>Esc</kbd> to close ·{' '}
          <kbd>Alt</kbd>+<kbd>↑</kbd>/<kbd>↓</kbd> for the previous or next conversation
        </p>
      </div>
    </dialog>
  );
}
