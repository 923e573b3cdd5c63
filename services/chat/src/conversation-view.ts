import {
  type Conversation,
  LIMITS,
  type Message,
  truncateText,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import type { ConversationState } from './store/message-store.js';
import type { UserDirectory } from './users/user-directory.js';

/** Turns stored conversation states into the contract's `Conversation`, with member names. */
export async function toConversations(
  states: ConversationState[],
  directory: UserDirectory,
  token: string,
): Promise<Conversation[]> {
  const ids: UserId[] = [];
  for (const state of states) ids.push(...state.memberIds);
  const users = ids.length > 0 ? await directory.lookup(ids, token) : new Map<UserId, User>();
  return states.map((state) => toConversation(state, users));
}

export function toConversation(state: ConversationState, users: Map<UserId, User>): Conversation {
  return {
    id: state.id,
    kind: state.kind,
    name: state.name,
    topic: state.topic,
    createdBy: state.createdBy,
    lastSeq: state.lastSeq,
    lastReadSeq: state.lastReadSeq,
    unread: state.unread,
    memberCount: state.memberCount,
    members: state.memberIds.map((id) => users.get(id) ?? { id, username: 'unknown' }),
    lastMessage: state.lastMessage && previewOf(state.lastMessage),
    lastActivityAt: state.lastActivityAt,
    createdAt: state.createdAt,
    muted: state.muted,
    hidden: state.hidden,
    // Protocol v1.2: where the conversation's change counter is, and the caller's unread
    // mentions (a store that predates them reads as none).
    lastChangeSeq: state.lastChangeSeq ?? 0,
    unreadMentions: state.unreadMentions ?? 0,
    mentionSeqs: state.mentionSeqs ?? [],
  };
}

/**
 * A last message as listed: its body cut to LIMITS.maxPreviewChars (history has it whole),
 * without the sender's client-made id (which only history shows, and only to the sender).
 */
function previewOf(message: Message): Message {
  const { clientMsgId: _omit, ...shown } = message;
  if (shown.body.length <= LIMITS.maxPreviewChars) return shown;
  return { ...shown, body: truncateText(shown.body, LIMITS.maxPreviewChars) };
}
