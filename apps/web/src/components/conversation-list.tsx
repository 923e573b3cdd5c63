import type { Conversation, ConversationId } from '@relay-chat/protocol';
import { memo, useMemo, useSyncExternalStore } from 'react';
import { useChatState } from '../hooks/use-chat.js';
import { conversationTitle, dmPartner, previewOf, sortConversations } from '../lib/conversations.js';
import { neutraliseBidi } from '../lib/safe-text.js';
import { activityLabel } from '../lib/timeline.js';
import { badgeText } from '../lib/unread.js';
import { presenceOf } from '../store/chat-state.js';
import { draftsOf } from '../store/drafts.js';
import { ConversationAvatar } from './conversation-view.js';
import { BellOffIcon } from './icons.js';
import { NextActions } from './next-actions.js';

export interface ConversationListProps {
  activeId: ConversationId | undefined;
  onOpen: (id: ConversationId) => void;
  /** The first-run actions of the empty list. */
  onFindPeople: () => void;
  onBrowseChannels: () => void;
  onCreateChannel: () => void;
}

/** The caller's conversations, most recent activity first, each with its unread badge. */
export function ConversationList({
  activeId,
  onOpen,
  onFindPeople,
  onBrowseChannels,
  onCreateChannel,
}: ConversationListProps) {
  const conversations = useChatState((s) => s.conversations);
  const synced = useChatState((s) => s.synced);
  const sorted = useMemo(() => sortConversations(conversations.values()), [conversations]);
  const me = useChatState((s) => s.me?.id);
  const drafts = draftsOf(me ?? 'anonymous');
  const draftMap = useSyncExternalStore(drafts.subscribe, drafts.all, drafts.all);

  if (!synced && sorted.length === 0) {
    return (
      <ul className="conversation-list" aria-busy="true" aria-label="Conversations">
        {[1, 2, 3, 4].map((n) => (
          <li key={n} className="conversation-item skeleton" aria-hidden="true">
            <span className="skeleton-avatar" />
            <span className="skeleton-lines">
              <span className="skeleton-line short" />
              <span className="skeleton-line" />
            </span>
          </li>
        ))}
      </ul>
    );
  }
  if (sorted.length === 0) {
    return (
      <div className="sidebar-empty" data-testid="conversations-empty">
        <p>No conversations yet.</p>
        <p className="muted">Start one with someone, or join the people in a channel.</p>
        <NextActions
          onFindPeople={onFindPeople}
          onBrowseChannels={onBrowseChannels}
          onCreateChannel={onCreateChannel}
        />
      </div>
    );
  }
  return (
    <ul className="conversation-list" aria-label="Conversations" data-testid="conversation-list">
      {sorted.map((conv) => (
        <ConversationItem
          key={conv.id}
          conversation={conv}
          active={conv.id === activeId}
          draft={conv.id === activeId ? undefined : draftMap.get(conv.id)}
          onOpen={onOpen}
        />
      ))}
    </ul>
  );
}

const ConversationItem = memo(function ConversationItem({
  conversation,
  active,
  draft,
  onOpen,
}: {
  conversation: Conversation;
  active: boolean;
  /** Unsent text, shown instead of the last message (not for the open conversation). */
  draft: string | undefined;
  onOpen: (id: ConversationId) => void;
}) {
  const me = useChatState((s) => s.me);
  const users = useChatState((s) => s.users);
  const partner = dmPartner(conversation, me?.id);
  const presence = useChatState((s) => (partner ? presenceOf(s, partner.id) : undefined));
  const title = conversationTitle(conversation, me?.id);
  const display = conversation.kind === 'channel' ? `#${title}` : title;
  const preview = previewOf(conversation, me?.id, (id) => users.get(id)?.username ?? 'someone');
  const muted = conversation.muted === true;
  // A muted conversation shows no count (its messages are still unread).
  const unread = muted ? 0 : conversation.unread;
  // Mentions show even when muted: they are what muting still lets through.
  const mentions = conversation.unreadMentions ?? 0;
  return (
    <li>
      <button
        type="button"
        className={`conversation-item${active ? ' active' : ''}${unread > 0 || mentions > 0 ? ' has-unread' : ''}`}
        onClick={() => onOpen(conversation.id)}
        aria-current={active ? 'page' : undefined}
        data-testid="conversation-item"
        data-conversation-id={conversation.id}
        data-title={display}
        data-draft={draft ? 'true' : undefined}
        data-muted={muted ? 'true' : undefined}
      >
        <ConversationAvatar conversation={conversation} title={title} presence={presence} size={40} />
        <span className="conversation-item-text">
          <span className="conversation-item-top">
            <bdi className="conversation-item-title">{display}</bdi>
            {muted && (
              <span className="muted-mark" data-testid="muted-mark">
                <BellOffIcon />
                <span className="visually-hidden">, muted</span>
              </span>
            )}
            <span className="conversation-item-time">
              {conversation.lastMessage ? activityLabel(conversation.lastActivityAt, Date.now()) : ''}
            </span>
          </span>
          <span className="conversation-item-bottom">
            {draft ? (
              <span className="conversation-item-preview draft" dir="auto" data-testid="draft-preview">
                <span className="draft-mark">Draft:</span> {neutraliseBidi(draft).replace(/\s+/g, ' ').trim()}
              </span>
            ) : (
              <span className="conversation-item-preview" dir="auto">
                {preview}
              </span>
            )}
            {mentions > 0 && (
              <>
                <span
                  className="mention-badge"
                  data-testid="mention-badge"
                  aria-hidden="true"
                  title={`${mentions} unread mention${mentions === 1 ? '' : 's'}`}
                >
                  @{mentions > 1 ? badgeText(mentions) : ''}
                </span>
                <span className="visually-hidden">
                  , {mentions} mention{mentions === 1 ? '' : 's'}
                </span>
              </>
            )}
            {unread > 0 && (
              <>
                <span className="unread-badge" data-testid="unread-badge" aria-hidden="true">
                  {badgeText(unread)}
                </span>
                <span className="visually-hidden">, {unread} unread</span>
              </>
            )}
          </span>
        </span>
      </button>
    </li>
  );
});
