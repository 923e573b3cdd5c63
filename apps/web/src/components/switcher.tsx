import {
  type Conversation,
  type ConversationId,
  type SearchHit,
  toChatError,
  type User,
} from '@relay-chat/protocol';
import { type KeyboardEvent, type ReactNode, useEffect, useId, useMemo, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { useMessageSearch } from '../hooks/use-message-search.js';
import { conversationTitle, sortConversations } from '../lib/conversations.js';
import { groupHits, searchable } from '../lib/search.js';
import { badgeText } from '../lib/unread.js';
import { Avatar } from './avatar.js';
import { ConversationAvatar } from './conversation-view.js';
import { SearchIcon } from './icons.js';
import { LoadMoreOption, type OptionProps, SearchHitOption, SwitcherOption } from './search-results.js';

export interface SwitcherProps {
  onClose: () => void;
  onOpen: (id: ConversationId) => void;
  /** Opens a conversation at a message (a search hit), highlighted. */
  onOpenMessage: (id: ConversationId, seq: number) => void;
}

/** At most this many conversations are listed with no query… */
const MAX_MATCHES = 20;
/** …and this many above the messages found when searching. */
const MAX_MATCHES_SEARCHING = 6;
/** People with no DM yet, at most. */
const MAX_PEOPLE = 5;

type Item =
  | { kind: 'conversation'; key: string; conversation: Conversation; title: string; display: string }
  | { kind: 'person'; key: string; user: User }
  | { kind: 'message'; key: string; hit: SearchHit }
  | { kind: 'more'; key: string };

/**
 * The switcher (Ctrl/Cmd+K): type part of a name to jump to a conversation or a person,
 * or words to find messages (asked of the server from two characters on, grouped by
 * conversation, the matched words marked). The arrow keys move across everything, Enter
 * opens, Escape closes. A modal dialog with a combobox over one listbox.
 */
export function Switcher({ onClose, onOpen, onOpenMessage }: SwitcherProps) {
  const actions = useChatActions();
  const conversations = useChatState((s) => s.conversations);
  const users = useChatState((s) => s.users);
  const me = useChatState((s) => s.me?.id);
  const [query, setQuery] = useState('');
  const [index, setIndex] = useState(0);
  const [openError, setOpenError] = useState<string | undefined>();
  const dialogRef = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const listId = useId();
  const search = useMessageSearch(query);
  const [now, setNow] = useState(() => Date.now());
  // Relative times are computed against the moment the hits arrived.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-read the clock per result set
  useEffect(() => setNow(Date.now()), [search.hits]);

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const searching = searchable(query);
  const q = query.trim().toLowerCase();
  const matches = useMemo(
    () =>
      sortConversations(conversations.values())
        .map((conversation) => {
          const title = conversationTitle(conversation, me);
          return { conversation, title, display: conversation.kind === 'channel' ? `#${title}` : title };
        })
        .filter((m) => q === '' || m.display.toLowerCase().includes(q))
        .slice(0, searching ? MAX_MATCHES_SEARCHING : MAX_MATCHES),
    [conversations, me, q, searching],
  );
  // People the caller knows of (members, authors) with no DM yet: Enter starts one.
  const people = useMemo(() => {
    if (q === '') return [];
    const withDm = new Set<string>();
    for (const c of conversations.values()) {
      if (c.kind === 'dm') for (const m of c.members) withDm.add(m.id);
    }
    return [...users.values()]
      .filter((u) => u.id !== me && !withDm.has(u.id) && u.username.toLowerCase().includes(q))
      .sort((a, b) => a.username.localeCompare(b.username))
      .slice(0, MAX_PEOPLE);
  }, [users, conversations, me, q]);
  const groups = useMemo(() => groupHits(search.hits), [search.hits]);

  // Everything the arrow keys move over, in display order.
  const items = useMemo(() => {
    const list: Item[] = matches.map((m) => ({ kind: 'conversation', key: `c-${m.conversation.id}`, ...m }));
    for (const user of people) list.push({ kind: 'person', key: `u-${user.id}`, user });
    for (const group of groups)
      for (const hit of group.hits)
        list.push({ kind: 'message', key: `m-${hit.message.conv}-${hit.message.seq}`, hit });
    if (search.status === 'done' && search.hasMore) list.push({ kind: 'more', key: 'more' });
    return list;
  }, [matches, people, groups, search.status, search.hasMore]);
  const active = Math.min(index, Math.max(0, items.length - 1));
  const optionId = (i: number) => `${listId}-${i}`;

  // Keep the active option in view as the arrow keys move through a long list.
  // biome-ignore lint/correctness/useExhaustiveDependencies: scrolls when the active option changes
  useEffect(() => {
    document.getElementById(optionId(active))?.scrollIntoView?.({ block: 'nearest' });
  }, [active]);

  const choose = (item: Item) => {
    switch (item.kind) {
      case 'conversation':
        onClose();
        onOpen(item.conversation.id);
        return;
      case 'message':
        onClose();
        onOpenMessage(item.hit.message.conv, item.hit.message.seq);
        return;
      case 'more':
        search.loadMore();
        return;
      case 'person':
        setOpenError(undefined);
        actions
          .openDm(item.user.id)
          .then((id) => {
            onClose();
            onOpen(id);
          })
          .catch((err: unknown) => setOpenError(toChatError(err).message));
        return;
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (items.length === 0) return;
      const delta = event.key === 'ArrowDown' ? 1 : -1;
      setIndex((active + delta + items.length) % items.length);
    } else if (event.key === 'Home' && event.ctrlKey) {
      event.preventDefault();
      setIndex(0);
    } else if (event.key === 'End' && event.ctrlKey) {
      event.preventDefault();
      setIndex(Math.max(0, items.length - 1));
    } else if (event.key === 'Enter') {
      event.preventDefault();
      const item = items[active];
      if (item) choose(item);
    }
  };

  const option = (i: number): OptionProps => ({
    id: optionId(i),
    active: i === active,
    onChoose: () => choose(items[i]!),
    onHover: () => setIndex(i),
  });
  let at = 0;
  const next = () => at++;
  const displayQuery = query.trim();
  const convTitle = (id: ConversationId) => {
    const c = conversations.get(id);
    if (!c) return 'A conversation';
    const title = conversationTitle(c, me);
    return c.kind === 'channel' ? `#${title}` : title;
  };

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
          Search conversations, people and messages
        </h2>
        <label className="search-field switcher-search">
          <SearchIcon />
          <span className="visually-hidden">Conversation, person or words of a message</span>
          <input
            type="text"
            role="combobox"
            aria-expanded="true"
            aria-controls={listId}
            aria-autocomplete="list"
            aria-activedescendant={items.length > 0 ? optionId(active) : undefined}
            value={query}
            onChange={(e) => {
              setQuery(e.target.value);
              setIndex(0);
              setOpenError(undefined);
            }}
            onKeyDown={onKeyDown}
            placeholder="Jump to a conversation or search messages…"
            autoComplete="off"
            spellCheck={false}
            autoFocus
            data-testid="switcher-input"
          />
        </label>
        <div
          id={listId}
          className="switcher-list"
          role="listbox"
          aria-label="Conversations, people and messages"
          aria-busy={search.status === 'loading' || search.loadingMore}
        >
          {matches.length > 0 && (
            <OptionGroup label="Conversations" title={searching ? 'Conversations' : undefined}>
              {matches.map((m) => (
                <SwitcherOption
                  key={m.conversation.id}
                  option={option(next())}
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
                </SwitcherOption>
              ))}
            </OptionGroup>
          )}
          {people.length > 0 && (
            <OptionGroup label="People" title="People">
              {people.map((user) => (
                <SwitcherOption key={user.id} option={option(next())} data-testid="switcher-person">
                  <Avatar name={user.username} size={28} />
                  <bdi className="switcher-title">{user.username}</bdi>
                  <span className="muted small">Message</span>
                </SwitcherOption>
              ))}
            </OptionGroup>
          )}
          {groups.map((group, g) => (
            <OptionGroup
              key={group.conv}
              label={`Messages in ${convTitle(group.conv)}`}
              title={
                <>
                  {g === 0 && <span className="search-section-title">Messages · </span>}
                  <bdi data-testid="search-group-title">{convTitle(group.conv)}</bdi>
                </>
              }
              className="search-group"
              testId="search-group"
            >
              {group.hits.map((hit) => (
                <SearchHitOption
                  key={`${hit.message.conv}-${hit.message.seq}`}
                  hit={hit}
                  users={users}
                  now={now}
                  option={option(next())}
                />
              ))}
            </OptionGroup>
          ))}
          {search.status === 'done' && search.hasMore && (
            <LoadMoreOption loading={search.loadingMore} option={option(next())} />
          )}
        </div>
        <div className="switcher-status muted" role="status" data-testid="search-status">
          {searching ? (
            search.status === 'loading' ? (
              <>
                <span className="spinner" aria-hidden="true" /> Searching messages…
              </>
            ) : search.status === 'error' ? (
              <span className="search-error">{search.error}</span>
            ) : search.status === 'done' && search.hits.length === 0 ? (
              <span data-testid="search-empty">
                No messages match “<bdi>{displayQuery}</bdi>”.
                {matches.length === 0 && people.length === 0 && ' No conversation or person either.'}
              </span>
            ) : search.error ? (
              <span className="search-error">{search.error}</span>
            ) : null
          ) : matches.length === 0 ? (
            <span>
              No conversation matches “<bdi>{displayQuery}</bdi>”. Type two letters or more to search
              messages.
            </span>
          ) : null}
          {openError && <span className="search-error"> {openError}</span>}
        </div>
        <p className="switcher-hint muted small" aria-hidden="true">
          <kbd>↑</kbd> <kbd>↓</kbd> to move · <kbd>Enter</kbd> to open · <kbd>Esc</kbd> to close ·{' '}
          <kbd>Alt</kbd>+<kbd>↑</kbd>/<kbd>↓</kbd> for the previous or next conversation
        </p>
      </div>
    </dialog>
  );
}

/**
 * A labelled group of options inside the listbox (a fieldset is not allowed there), under a
 * title shown to sighted users (the group's label is what screen readers announce).
 */
function OptionGroup({
  label,
  title,
  className,
  testId,
  children,
}: {
  label: string;
  title?: ReactNode;
  className?: string;
  testId?: string;
  children: ReactNode;
}) {
  return (
    // biome-ignore lint/a11y/useSemanticElements: a listbox may hold groups of options, not fieldsets
    <div role="group" aria-label={label} className={`switcher-group ${className ?? ''}`} data-testid={testId}>
      {title !== undefined && (
        <div className="switcher-group-title" aria-hidden="true">
          {title}
        </div>
      )}
      {children}
    </div>
  );
}
