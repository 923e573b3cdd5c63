import { type Conversation, type ConversationId, type Message, toChatError } from '@relay-chat/protocol';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { lastEditable } from '../lib/changes.js';
import { conversationTitle, dmPartner } from '../lib/conversations.js';
import { type Presence, presenceOf, typingNames, typingSentence } from '../store/chat-state.js';
import { Avatar } from './avatar.js';
import { Composer } from './composer.js';
import { type ConversationUi, ConversationUiContext } from './conversation-ui.js';
import { DetailsDialog } from './details-dialog.js';
import { BackIcon, BellOffIcon, HashIcon, InfoIcon, LeaveIcon, UsersIcon } from './icons.js';
import { MessageList } from './message-list.js';
import { ThreadPanel } from './thread-panel.js';

export interface ConversationViewProps {
  conversation: Conversation;
  onBack: () => void;
  onLeft: () => void;
  /** Open at this message (a search hit): scrolled to and highlighted; a new `n` jumps again. */
  jumpRequest?: { seq: number; n: number } | undefined;
}

/** One open conversation: header, history, typing line, composer. */
export function ConversationView({ conversation, onBack, onLeft, jumpRequest }: ConversationViewProps) {
  const me = useChatState((s) => s.me);
  const title = conversationTitle(conversation, me?.id);
  const partner = dmPartner(conversation, me?.id);
  const partnerPresence = useChatState((s) => (partner ? presenceOf(s, partner.id) : undefined));
  const partnerLastKnown = useChatState((s) => (partner ? s.online.has(partner.id) : false));
  const displayTitle = conversation.kind === 'channel' ? `#${title}` : title;
  const [detailsOpen, setDetailsOpen] = useState(false);
  const [replyingTo, setReplyingTo] = useState<Message | undefined>();
  const [editingSeq, setEditingSeq] = useState<number | undefined>();
  const [threadRoot, setThreadRoot] = useState<number | undefined>();
  const [jump, setJump] = useState<{ seq: number; n: number } | undefined>();
  const composerRef = useRef<HTMLTextAreaElement | null>(null);
  const history = useChatState((s) => s.histories.get(conversation.id));

  const jumpTo = useCallback((seq: number) => setJump((j) => ({ seq, n: (j?.n ?? 0) + 1 })), []);
  // A jump asked for from outside (the search), once per request.
  const requestN = jumpRequest?.n;
  // biome-ignore lint/correctness/useExhaustiveDependencies: one jump per request, told apart by n
  useEffect(() => {
    if (jumpRequest) jumpTo(jumpRequest.seq);
  }, [requestN]);
  const focusComposer = useCallback(() => composerRef.current?.focus(), []);
  const ui = useMemo<ConversationUi>(
    () => ({
      conversation,
      replyingTo,
      setReplyingTo,
      editingSeq,
      setEditingSeq,
      threadRoot,
      openThread: setThreadRoot,
      jumpTo,
      jump,
      focusComposer,
    }),
    [conversation, replyingTo, editingSeq, threadRoot, jumpTo, jump, focusComposer],
  );
  const editLast = () => {
    const last = lastEditable(history?.messages ?? [], me?.id);
    if (last) setEditingSeq(last.seq);
  };

  return (
    <ConversationUiContext.Provider value={ui}>
      <section
        className={`conversation${threadRoot !== undefined ? ' with-thread' : ''}`}
        aria-label={displayTitle}
      >
        <header className="conversation-header">
          <button
            type="button"
            className="icon-button back-button"
            onClick={onBack}
            aria-label="Back to conversations"
          >
            <BackIcon />
          </button>
          <ConversationAvatar conversation={conversation} title={title} presence={partnerPresence} />
          <div className="conversation-heading">
            <h1 className="conversation-title" data-testid="conversation-title">
              <bdi>{displayTitle}</bdi>
              {conversation.muted === true && (
                <span className="muted-mark" data-testid="muted-mark" title="Muted">
                  <BellOffIcon />
                  <span className="visually-hidden">(muted)</span>
                </span>
              )}
            </h1>
            {conversation.kind !== 'dm' && conversation.topic && (
              <p className="conversation-topic" data-testid="conversation-topic" dir="auto">
                {conversation.topic}
              </p>
            )}
            <p className="conversation-subtitle" data-presence={partnerPresence}>
              {conversation.kind === 'dm'
                ? presenceText(partnerPresence, partnerLastKnown)
                : `${conversation.memberCount} member${conversation.memberCount === 1 ? '' : 's'}` +
                  (conversation.kind === 'group' ? ` · ${memberNames(conversation, me?.id)}` : '')}
            </p>
          </div>
          <button
            type="button"
            className="icon-button"
            onClick={() => setDetailsOpen(true)}
            aria-label={`Details of ${displayTitle}`}
            aria-haspopup="dialog"
            data-testid="details-button"
          >
            <InfoIcon />
          </button>
          {conversation.kind !== 'dm' && (
            <LeaveButton conversation={conversation} title={displayTitle} onLeft={onLeft} />
          )}
        </header>
        {detailsOpen && (
          <DetailsDialog
            conversation={conversation}
            title={displayTitle}
            onClose={() => setDetailsOpen(false)}
          />
        )}
        <div className="conversation-body">
          <div className="conversation-main">
            <MessageList conversation={conversation} title={displayTitle} />
            <TypingLine convId={conversation.id} />
            <Composer
              convId={conversation.id}
              placeholderName={displayTitle}
              members={conversation.members}
              replyingTo={replyingTo}
              onCancelReply={() => setReplyingTo(undefined)}
              onEditLast={editLast}
              inputRef={(el) => {
                composerRef.current = el;
              }}
            />
          </div>
          {threadRoot !== undefined && (
            <ThreadPanel key={threadRoot} conversation={conversation} root={threadRoot} />
          )}
        </div>
      </section>
    </ConversationUiContext.Provider>
  );
}

export function ConversationAvatar({
  conversation,
  title,
  presence,
  size = 36,
}: {
  conversation: Conversation;
  title: string;
  presence?: Presence | undefined;
  size?: number;
}) {
  if (conversation.kind === 'dm') return <Avatar name={title} size={size} presence={presence} />;
  return (
    <span
      className={`room-avatar ${conversation.kind}`}
      style={{ width: size, height: size }}
      aria-hidden="true"
    >
      {conversation.kind === 'channel' ? <HashIcon /> : <UsersIcon />}
    </span>
  );
}

/** "Online", "Offline", or while disconnected what was last known. */
export function presenceText(presence: Presence | undefined, lastKnownOnline: boolean): string {
  if (presence === 'online') return 'Online';
  if (presence === 'offline') return 'Offline';
  return `Last known: ${lastKnownOnline ? 'online' : 'offline'} · reconnecting`;
}

function memberNames(conversation: Conversation, me: string | undefined): string {
  const names = conversation.members.filter((m) => m.id !== me).map((m) => m.username);
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown} +${names.length - 4}` : shown || 'just you';
}

function TypingLine({ convId }: { convId: ConversationId }) {
  const [now, setNow] = useState(() => Date.now());
  const typing = useChatState((s) => s.typing.get(convId));
  const users = useChatState((s) => s.users);
  // Re-render once a second while someone is typing so the line expires on time.
  useEffect(() => {
    if (!typing || typing.size === 0) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [typing]);
  const sentence = typingSentence(typingNames(typing, users, now));
  return (
    <div className="typing-line" aria-live="polite" data-testid="typing-indicator">
      {sentence && (
        <>
          <span className="typing-dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
          {sentence}
        </>
      )}
    </div>
  );
}

function LeaveButton({
  conversation,
  title,
  onLeft,
}: {
  conversation: Conversation;
  title: string;
  onLeft: () => void;
}) {
  const actions = useChatActions();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const leave = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await actions.leave(conversation.id);
      onLeft();
    } catch (err) {
      setError(toChatError(err).message);
      setBusy(false);
    }
  };
  if (!confirming) {
    return (
      <div className="header-actions">
        <button
          type="button"
          className="ghost-button"
          onClick={() => setConfirming(true)}
          aria-label={`Leave ${title}`}
        >
          <LeaveIcon />
          <span className="hide-narrow">Leave</span>
        </button>
      </div>
    );
  }
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: Escape backs out of the question, as a dialog would
    <div
      className="header-actions confirm"
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !busy) {
          e.stopPropagation();
          setConfirming(false);
        }
      }}
    >
      {error ? (
        <span className="inline-error" role="alert">
          {error}
        </span>
      ) : (
        <span className="confirm-question hide-narrow">Leave {conversation.kind}?</span>
      )}
      <button type="button" className="danger-button" onClick={leave} disabled={busy}>
        {busy ? 'Leaving…' : 'Leave'}
      </button>
      <button type="button" className="ghost-button" onClick={() => setConfirming(false)} disabled={busy}>
        Cancel
      </button>
    </div>
  );
}
