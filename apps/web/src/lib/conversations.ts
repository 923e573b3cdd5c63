import type { Conversation, User, UserId } from '@relay-chat/protocol';
import { neutraliseBidi } from './safe-text.js';

/**
 * What a conversation is called in the UI: the other person for a DM, the name for groups
 * and channels (bidi controls removed, since names are free text).
 */
export function conversationTitle(
  conv: Pick<Conversation, 'kind' | 'name' | 'members'>,
  me: UserId | undefined,
): string {
  if (conv.kind === 'dm') {
    const other = dmPartner(conv, me);
    return other?.username ?? 'Direct message';
  }
  const name = neutraliseBidi(conv.name ?? '').trim();
  return name.length > 0 ? name : conv.kind === 'channel' ? 'channel' : 'Group';
}

/** The other member of a DM (yourself for a note-to-self DM). */
export function dmPartner(
  conv: Pick<Conversation, 'kind' | 'members'>,
  me: UserId | undefined,
): User | undefined {
  if (conv.kind !== 'dm') return undefined;
  return conv.members.find((m) => m.id !== me) ?? conv.members[0];
}

/** Most recent activity first; ties broken by id so the order is stable across renders. */
export function byRecentActivity(a: Conversation, b: Conversation): number {
  return b.lastActivityAt - a.lastActivityAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** The sidebar order of the caller's conversations. */
export function sortConversations(conversations: Iterable<Conversation>): Conversation[] {
  return [...conversations].sort(byRecentActivity);
}

/** One line of preview text for the sidebar: the last message, flattened, prefixed "You: " for own. */
export function previewOf(
  conv: Conversation,
  me: UserId | undefined,
  nameOf: (id: UserId) => string,
): string {
  const last = conv.lastMessage;
  if (!last) return conv.kind === 'channel' ? 'No messages yet — say hi' : 'No messages yet';
  const text =
    last.deleted === true ? 'Message deleted' : neutraliseBidi(last.body).replace(/\s+/g, ' ').trim();
  if (last.from === me) return `You: ${text}`;
  if (conv.kind === 'dm') return text;
  return `${nameOf(last.from)}: ${text}`;
}
