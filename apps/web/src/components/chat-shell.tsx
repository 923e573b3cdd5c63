import type { ConversationId } from '@relay-chat/protocol';
import { useCallback, useEffect, useState } from 'react';
import { useChatState } from '../hooks/use-chat.js';
import { useRoute } from '../hooks/use-route.js';
import { documentTitle } from '../lib/alerts.js';
import { conversationTitle, sortConversations } from '../lib/conversations.js';
import { setFaviconBadge } from '../lib/favicon.js';
import { unreadTotals } from '../lib/unread.js';
import { AlertsDialog } from './alerts-dialog.js';
import { ConnectionBanner } from './connection-banner.js';
import { ConversationView } from './conversation-view.js';
import { CreateDialog, type CreateKind } from './create-dialog.js';
import { ChatIcon } from './icons.js';
import { NextActions } from './next-actions.js';
import { Sidebar, type SidebarTab } from './sidebar.js';
import { Switcher } from './switcher.js';

/**
 * The signed-in screen: sidebar and the open conversation side by side on wide screens; on
 * narrow ones one at a time (the conversation slides over the list, Back returns).
 */
export function ChatShell() {
  const [route, navigate] = useRoute();
  const [creating, setCreating] = useState<CreateKind | undefined>();
  const [alertsOpen, setAlertsOpen] = useState(false);
  const [switching, setSwitching] = useState(false);
  const [tab, setTab] = useState<SidebarTab>('chats');
  // A message to open its conversation at (a search hit); `n` tells two requests apart.
  const [jumpRequest, setJumpRequest] = useState<{ conv: ConversationId; seq: number; n: number }>();
  const activeId = route.view === 'conversation' ? route.id : undefined;
  const conversation = useChatState((s) => (activeId ? s.conversations.get(activeId) : undefined));
  const synced = useChatState((s) => s.synced);
  const me = useChatState((s) => s.me);
  const conversations = useChatState((s) => s.conversations);

  const open = useCallback((id: ConversationId) => navigate({ view: 'conversation', id }), [navigate]);
  const home = useCallback(() => navigate({ view: 'home' }), [navigate]);

  // Keyboard: Ctrl/Cmd+K switches conversations, Alt+↑/↓ moves to the previous/next one in
  // the list, Escape on a narrow screen goes back to the list (dialogs close themselves).
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
        event.preventDefault();
        setSwitching(true);
        return;
      }
      if (document.querySelector('dialog[open]')) return;
      if (event.altKey && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
        event.preventDefault();
        const order = sortConversations(conversations.values());
        if (order.length === 0) return;
        const at = order.findIndex((c) => c.id === activeId);
        const next =
          at < 0
            ? event.key === 'ArrowDown'
              ? 0
              : order.length - 1
            : Math.min(order.length - 1, Math.max(0, at + (event.key === 'ArrowDown' ? 1 : -1)));
        if (order[next]!.id !== activeId) open(order[next]!.id);
        return;
      }
      if (event.key === 'Escape' && activeId && window.matchMedia?.('(max-width: 760px)').matches) {
        home();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [conversations, activeId, open, home]);

  // A conversation we are no longer in (left on another device, or a stale link) closes.
  useEffect(() => {
    if (synced && activeId && !conversation) navigate({ view: 'home' }, { replace: true });
  }, [synced, activeId, conversation, navigate]);

  // The tab title carries the unread count, so a background tab shows there is news.
  const totals = unreadTotals(conversations.values());
  const openTitle = conversation ? conversationTitle(conversation, me?.id) : undefined;
  useEffect(() => {
    document.title = documentTitle(openTitle, totals.messages);
  }, [openTitle, totals.messages]);
  // …and so does the favicon, with a badge drawn over it.
  useEffect(() => {
    void setFaviconBadge(totals.messages);
  }, [totals.messages]);
  useEffect(() => () => void setFaviconBadge(0), []);

  return (
    <div className={`shell${conversation ? ' has-conversation' : ''}`}>
      <ConnectionBanner />
      <main className="shell-columns">
        <Sidebar
          tab={tab}
          onTab={setTab}
          activeId={activeId}
          onOpen={open}
          onCreate={setCreating}
          onAlerts={() => setAlertsOpen(true)}
        />
        <div className="main-pane">
          {conversation ? (
            <ConversationView
              key={conversation.id}
              conversation={conversation}
              onBack={home}
              onLeft={home}
              jumpRequest={jumpRequest?.conv === conversation.id ? jumpRequest : undefined}
            />
          ) : (
            <EmptyPane
              loading={!synced && activeId !== undefined}
              onFindPeople={() => setTab('people')}
              onBrowseChannels={() => setTab('channels')}
              onCreateChannel={() => setCreating('channel')}
            />
          )}
        </div>
      </main>
      {alertsOpen && <AlertsDialog onClose={() => setAlertsOpen(false)} />}
      {switching && (
        <Switcher
          onClose={() => setSwitching(false)}
          onOpen={(id) => {
            setTab('chats');
            open(id);
          }}
          onOpenMessage={(id, seq) => {
            setTab('chats');
            setJumpRequest((j) => ({ conv: id, seq, n: (j?.n ?? 0) + 1 }));
            open(id);
          }}
        />
      )}
      {creating && (
        <CreateDialog
          kind={creating}
          onClose={() => setCreating(undefined)}
          onCreated={(id) => {
            setCreating(undefined);
            open(id);
          }}
        />
      )}
    </div>
  );
}

function EmptyPane({
  loading,
  onFindPeople,
  onBrowseChannels,
  onCreateChannel,
}: {
  loading: boolean;
  onFindPeople: () => void;
  onBrowseChannels: () => void;
  onCreateChannel: () => void;
}) {
  return (
    <div className="empty-pane">
      {loading ? (
        <span className="spinner" role="status" aria-label="Loading" />
      ) : (
        <>
          <span className="empty-illustration" aria-hidden="true">
            <ChatIcon width="40" height="40" />
          </span>
          <h2>Pick a conversation</h2>
          <p className="muted">Choose a chat on the left, or start something new.</p>
          <NextActions
            onFindPeople={onFindPeople}
            onBrowseChannels={onBrowseChannels}
            onCreateChannel={onCreateChannel}
          />
        </>
      )}
    </div>
  );
}
