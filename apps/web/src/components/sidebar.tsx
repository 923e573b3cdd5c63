import type { ConversationId } from '@relay-chat/protocol';
import { type KeyboardEvent, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { unreadTotals } from '../lib/unread.js';
import { Avatar } from './avatar.js';
import { ChannelDirectory } from './channel-directory.js';
import { ConversationList } from './conversation-list.js';
import type { CreateKind } from './create-dialog.js';
import { BellIcon, ChatIcon, HashIcon, LogoutIcon, PlusIcon, UsersIcon } from './icons.js';
import { UserDirectory } from './user-directory.js';

export type SidebarTab = 'chats' | 'people' | 'channels';

export interface SidebarProps {
  /** Which list is shown (kept by the shell, so the empty states elsewhere can switch it). */
  tab: SidebarTab;
  onTab: (tab: SidebarTab) => void;
  activeId: ConversationId | undefined;
  onOpen: (id: ConversationId) => void;
  onCreate: (kind: CreateKind) => void;
  /** Opens the notification settings. */
  onAlerts: () => void;
}

const TABS: Array<{ id: SidebarTab; label: string; Icon: typeof ChatIcon }> = [
  { id: 'chats', label: 'Chats', Icon: ChatIcon },
  { id: 'people', label: 'People', Icon: UsersIcon },
  { id: 'channels', label: 'Channels', Icon: HashIcon },
];

/** The left column: who I am, the three lists (chats, people, channels), and log out. */
export function Sidebar({ tab, onTab: setTab, activeId, onOpen, onCreate, onAlerts }: SidebarProps) {
  // Opening a conversation from a directory shows it in the chat list, where it now lives.
  const openFromDirectory = (id: ConversationId) => {
    setTab('chats');
    onOpen(id);
  };
  // Arrow keys move between the tabs (WAI-ARIA tabs pattern).
  const onTabKey = (event: KeyboardEvent<HTMLDivElement>) => {
    const delta = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
    if (delta === 0) return;
    event.preventDefault();
    const index = TABS.findIndex((t) => t.id === tab);
    const next = TABS[(index + delta + TABS.length) % TABS.length]!;
    setTab(next.id);
    document.getElementById(`tab-${next.id}`)?.focus();
  };
  const conversations = useChatState((s) => s.conversations);
  const totals = unreadTotals(conversations.values());

  return (
    <nav className="sidebar" aria-label="Conversations and directories">
      <header className="sidebar-header">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            <ChatIcon />
          </span>
          <h1 className="brand-name">relay</h1>
        </div>
        <span className="header-buttons">
          <button
            type="button"
            className="icon-button"
            onClick={onAlerts}
            aria-label="Notifications"
            title="Notifications"
            data-testid="open-alerts"
          >
            <BellIcon />
          </button>
          <button
            type="button"
            className="icon-button"
            onClick={() => onCreate('group')}
            aria-label="New group"
            title="New group"
          >
            <PlusIcon />
          </button>
        </span>
      </header>
      <div className="tabs" role="tablist" aria-label="Sidebar sections" onKeyDown={onTabKey}>
        {TABS.map(({ id, label, Icon }) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`tab-${id}`}
            aria-selected={tab === id}
            tabIndex={tab === id ? 0 : -1}
            aria-controls={`panel-${id}`}
            className={`tab${tab === id ? ' active' : ''}`}
            onClick={() => setTab(id)}
            data-testid={`tab-${id}`}
          >
            <Icon width="16" height="16" />
            {label}
            {id === 'chats' && totals.conversations > 0 && (
              <span className="tab-badge">
                {totals.conversations}
                <span className="visually-hidden"> with unread messages</span>
              </span>
            )}
          </button>
        ))}
      </div>
      <div className="sidebar-panel" role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
        {tab === 'chats' && (
          <ConversationList
            activeId={activeId}
            onOpen={onOpen}
            onFindPeople={() => setTab('people')}
            onBrowseChannels={() => setTab('channels')}
            onCreateChannel={() => onCreate('channel')}
          />
        )}
        {tab === 'people' && <UserDirectory onOpen={openFromDirectory} />}
        {tab === 'channels' && (
          <ChannelDirectory onOpen={openFromDirectory} onCreate={() => onCreate('channel')} />
        )}
      </div>
      <AccountFooter />
    </nav>
  );
}

function AccountFooter() {
  const me = useChatState((s) => s.me);
  const link = useChatState((s) => s.link);
  const actions = useChatActions();
  const [busy, setBusy] = useState(false);
  if (!me) return null;
  const status = link === 'open' ? 'Online' : link === 'offline' ? 'Offline' : 'Connecting…';
  return (
    <footer className="account">
      <Avatar name={me.username} size={32} presence={link === 'open' ? 'online' : 'offline'} />
      <span className="account-text">
        <span className="account-name" data-testid="account-name">
          {me.username}
        </span>
        <span className="account-status">{status}</span>
      </span>
      <button
        type="button"
        className="icon-button"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void actions.logout().finally(() => setBusy(false));
        }}
        aria-label="Log out"
        title="Log out"
        data-testid="logout"
      >
        <LogoutIcon />
      </button>
    </footer>
  );
}
