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
    lastSeq: state.lastSeq,
    lastReadSeq: state.lastReadSeq,
    unread: state.unread,
    memberCount: state.memberCount,
    members: state.memberIds.map((id) => users.get(id) ?? { id, username: 'unknown' }),
    lastMessage: state.lastMessage && previewOf(state.lastMessage),
    lastActivityAt: state.lastActivityAt,
    createdAt: state.createdAt,
  };
}

/** A last message as listed: its body cut to LIMITS.maxPreviewChars (history has it whole). */
function previewOf(message: Message): Message {
  if (message.body.length <= LIMITS.maxPreviewChars) return message;
  return { ...message, body: truncateText(message.body, LIMITS.maxPreviewChars) };
}
