import type {
  Conversation,
  ConversationId,
  Message,
  PresenceStatus,
  User,
  UserId,
} from '@relay-chat/protocol';
import { addNewer, addOlderPage, EMPTY_HISTORY, type HistoryWindow } from '../lib/history.js';
import { onMessage, onRead, unreadOf } from '../lib/unread.js';

/** How the live connection is doing, as the UI shows it. */
export type LinkStatus = 'connecting' | 'open' | 'reconnecting' | 'offline';

/** One own message not yet stored (or refused), shown below the history. */
export interface PendingMessage {
  clientMsgId: string;
  conv: ConversationId;
  body: string;
  status: 'sending' | 'failed';
  createdAt: number;
  /** Why it failed, for the tooltip. */
  error?: string;
}

/**
 * Everything the chat screens render. Immutable: every action returns a new state that shares
 * the unchanged parts, so components subscribe to slices and compare by reference.
 */
export interface ChatState {
  me: User | undefined;
  link: LinkStatus;
  /** True once the first `ready` arrived (the sidebar shows skeletons before). */
  synced: boolean;
  conversations: ReadonlyMap<ConversationId, Conversation>;
  histories: ReadonlyMap<ConversationId, HistoryWindow>;
  pending: ReadonlyMap<ConversationId, readonly PendingMessage[]>;
  /** conv → user → typing-until (ms since the epoch). */
  typing: ReadonlyMap<ConversationId, ReadonlyMap<UserId, number>>;
  online: ReadonlySet<UserId>;
  /**
   * Whether `online` is current: true from a `ready` (a fresh snapshot) until the live
   * connection drops. While false, presence is shown as unknown (last known), not as fact.
   */
  presenceFresh: boolean;
  /** Every user whose name we have seen, for sender names. */
  users: ReadonlyMap<UserId, User>;
}

export const INITIAL_STATE: ChatState = {
  me: undefined,
  link: 'connecting',
  synced: false,
  conversations: new Map(),
  histories: new Map(),
  pending: new Map(),
  typing: new Map(),
  online: new Set(),
  presenceFresh: false,
  users: new Map(),
};

/** What the UI says about someone's presence; `unknown` while disconnected. */
export type Presence = 'online' | 'offline' | 'unknown';

/** A user's presence as shown: online/offline while the snapshot is fresh, else unknown. */
export function presenceOf(state: ChatState, user: UserId): Presence {
  if (!state.presenceFresh) return 'unknown';
  return state.online.has(user) ? 'online' : 'offline';
}

/** How long a `typing` event keeps "X is typing…" up without a new one. */
export const TYPING_TTL_MS = 6_000;

export type ChatAction =
  | { type: 'signedIn'; me: User }
  | { type: 'link'; status: LinkStatus }
  | { type: 'ready'; me: User; conversations: readonly Conversation[]; online: readonly UserId[] }
  /** The conversation list over REST, for when the live connection is slow to come up. */
  | { type: 'bootstrap'; conversations: readonly Conversation[] }
  /**
   * A conversation as the server or the client sees it now. `member_joined` / `member_left`
   * frames describe the membership only (their per-user fields and last message are not ours).
   */
  | { type: 'conversation'; conversation: Conversation; membersOnly?: boolean }
  | { type: 'conversationRemoved'; id: ConversationId }
  /** Live messages or a gap fill, any order, possibly repeated. */
  | { type: 'messages'; conv: ConversationId; messages: readonly Message[] }
  /** A page of older history asked with `limit`. */
  | { type: 'olderPage'; conv: ConversationId; messages: readonly Message[]; limit: number }
  | { type: 'read'; conv: ConversationId; seq: number }
  | { type: 'typing'; conv: ConversationId; user: UserId; now: number }
  | { type: 'typingExpired'; now: number }
  | { type: 'presence'; user: UserId; status: PresenceStatus }
  /** The answer of a presence query: of `asked`, exactly `online` are online now. */
  | { type: 'presenceSnapshot'; asked: readonly UserId[]; online: readonly UserId[] }
  | { type: 'pending'; message: PendingMessage }
  | { type: 'pendingSettled'; conv: ConversationId; clientMsgId: string }
  | { type: 'users'; users: readonly User[] };

export function chatReducer(state: ChatState, action: ChatAction): ChatState {
  switch (action.type) {
    case 'signedIn':
      return { ...INITIAL_STATE, me: action.me, users: withUsers(INITIAL_STATE.users, [action.me]) };
    case 'link': {
      if (state.link === action.status) return state;
      // Presence events were missed while down: unknown until the next `ready` snapshot.
      const presenceFresh = action.status === 'open' && state.presenceFresh;
      return { ...state, link: action.status, presenceFresh };
    }
    case 'ready': {
      const conversations = new Map<ConversationId, Conversation>();
      for (const conv of action.conversations) {
        if (conv.hidden === true) continue;
        conversations.set(conv.id, { ...conv, unread: unreadOf(conv.lastSeq, conv.lastReadSeq) });
      }
      const users = withUsers(state.users, [action.me, ...action.conversations.flatMap((c) => c.members)]);
      return {
        ...state,
        me: action.me,
        synced: true,
        conversations,
        users,
        online: new Set(action.online),
        presenceFresh: true,
      };
    }
    case 'bootstrap': {
      if (state.synced) return state;
      const conversations = new Map<ConversationId, Conversation>();
      for (const conv of action.conversations) {
        if (conv.hidden !== true) conversations.set(conv.id, mergeConversation(undefined, conv));
      }
      const users = withUsers(
        state.users,
        action.conversations.flatMap((c) => c.members),
      );
      return { ...state, synced: true, conversations, users };
    }
    case 'conversation': {
      const known = state.conversations.get(action.conversation.id);
      // A hidden DM leaves the list until its next message (the SDK then says `hidden: false`).
      if (action.conversation.hidden === true && !action.membersOnly) {
        if (!known) return state;
        const conversations = new Map(state.conversations);
        conversations.delete(known.id);
        return { ...state, conversations };
      }
      const merged =
        known && action.membersOnly
          ? withMembership(known, action.conversation)
          : mergeConversation(known, action.conversation);
      const conversations = new Map(state.conversations).set(merged.id, merged);
      return { ...state, conversations, users: withUsers(state.users, merged.members) };
    }
    case 'conversationRemoved': {
      if (!state.conversations.has(action.id)) return state;
      const conversations = new Map(state.conversations);
      conversations.delete(action.id);
      return { ...state, conversations };
    }
    case 'messages':
      return applyMessages(state, action.conv, action.messages);
    case 'olderPage': {
      const history = addOlderPage(
        state.histories.get(action.conv) ?? EMPTY_HISTORY,
        action.messages,
        action.limit,
      );
      return { ...state, histories: new Map(state.histories).set(action.conv, history) };
    }
    case 'read': {
      const conv = state.conversations.get(action.conv);
      if (!conv) return state;
      const next = onRead(conv, action.seq);
      return next === conv
        ? state
        : { ...state, conversations: new Map(state.conversations).set(conv.id, next) };
    }
    case 'typing': {
      if (action.user === state.me?.id) return state;
      const inConv = new Map(state.typing.get(action.conv) ?? []).set(
        action.user,
        action.now + TYPING_TTL_MS,
      );
      return { ...state, typing: new Map(state.typing).set(action.conv, inConv) };
    }
    case 'typingExpired':
      return expireTyping(state, action.now);
    case 'presence': {
      const isOnline = action.status === 'online';
      if (state.online.has(action.user) === isOnline) return state;
      const online = new Set(state.online);
      if (isOnline) online.add(action.user);
      else online.delete(action.user);
      return { ...state, online };
    }
    case 'presenceSnapshot': {
      const online = new Set(state.online);
      for (const id of action.asked) online.delete(id);
      for (const id of action.online) online.add(id);
      return sameSet(online, state.online) ? state : { ...state, online };
    }
    case 'pending': {
      const list = state.pending.get(action.message.conv) ?? [];
      const index = list.findIndex((p) => p.clientMsgId === action.message.clientMsgId);
      const next =
        index < 0 ? [...list, action.message] : list.map((p, i) => (i === index ? action.message : p));
      return { ...state, pending: new Map(state.pending).set(action.message.conv, next) };
    }
    case 'pendingSettled':
      return settlePending(state, action.conv, [action.clientMsgId]);
    case 'users': {
      const users = withUsers(state.users, action.users);
      return users === state.users ? state : { ...state, users };
    }
  }
}

function applyMessages(state: ChatState, convId: ConversationId, messages: readonly Message[]): ChatState {
  if (messages.length === 0) return state;
  const before = state.histories.get(convId) ?? EMPTY_HISTORY;
  const history = addNewer(before, messages);
  let next: ChatState =
    history === before ? state : { ...state, histories: new Map(state.histories).set(convId, history) };

  const conv = next.conversations.get(convId);
  if (conv) {
    let updated = conv;
    for (const message of messages) {
      updated = onMessage(updated, message.seq, message.from, next.me?.id);
      if (message.seq >= (updated.lastMessage?.seq ?? 0)) {
        updated = {
          ...updated,
          lastMessage: message,
          lastActivityAt: Math.max(updated.lastActivityAt, message.ts),
        };
      }
    }
    if (updated !== conv) next = { ...next, conversations: new Map(next.conversations).set(convId, updated) };
  }

  // A stored message ends its sender's typing, and settles our own pending copy.
  const typers = next.typing.get(convId);
  if (typers && messages.some((m) => typers.has(m.from))) {
    const inConv = new Map(typers);
    for (const m of messages) inConv.delete(m.from);
    next = { ...next, typing: new Map(next.typing).set(convId, inConv) };
  }
  const ownIds = messages.flatMap((m) => (m.clientMsgId && m.from === next.me?.id ? [m.clientMsgId] : []));
  return ownIds.length > 0 ? settlePending(next, convId, ownIds) : next;
}

function settlePending(state: ChatState, convId: ConversationId, clientMsgIds: readonly string[]): ChatState {
  const list = state.pending.get(convId);
  if (!list) return state;
  const next = list.filter((p) => !clientMsgIds.includes(p.clientMsgId));
  if (next.length === list.length) return state;
  const pending = new Map(state.pending);
  if (next.length === 0) pending.delete(convId);
  else pending.set(convId, next);
  return { ...state, pending };
}

/**
 * A server copy of a conversation replaces ours, except that progress we have seen live and it
 * does not show yet (a later message, a later read marker) is kept: markers only move forward.
 */
export function mergeConversation(known: Conversation | undefined, incoming: Conversation): Conversation {
  if (!known) return { ...incoming, unread: unreadOf(incoming.lastSeq, incoming.lastReadSeq) };
  let next = incoming;
  if (known.lastSeq > incoming.lastSeq) {
    next = {
      ...next,
      lastSeq: known.lastSeq,
      lastMessage: known.lastMessage,
      lastActivityAt: known.lastActivityAt,
    };
  }
  // No last message with the same lastSeq means "not told", not "none" (a member_joined frame).
  if (next.lastMessage === null && known.lastMessage && known.lastMessage.seq >= next.lastSeq) {
    next = { ...next, lastMessage: known.lastMessage, lastActivityAt: known.lastActivityAt };
  }
  const lastReadSeq = Math.max(known.lastReadSeq, next.lastReadSeq);
  return { ...next, lastReadSeq, unread: unreadOf(next.lastSeq, lastReadSeq) };
}

/** Someone joined or left: the name and members change, our own view of it does not. */
function withMembership(known: Conversation, incoming: Conversation): Conversation {
  return {
    ...known,
    name: incoming.name,
    ...(incoming.topic !== undefined ? { topic: incoming.topic } : {}),
    ...(incoming.createdBy !== undefined ? { createdBy: incoming.createdBy } : {}),
    members: incoming.members,
    memberCount: incoming.memberCount,
  };
}

function expireTyping(state: ChatState, now: number): ChatState {
  let changed = false;
  const typing = new Map<ConversationId, ReadonlyMap<UserId, number>>();
  for (const [conv, users] of state.typing) {
    const alive = new Map([...users].filter(([, until]) => until > now));
    if (alive.size !== users.size) changed = true;
    if (alive.size > 0) typing.set(conv, alive);
    else changed = true;
  }
  return changed ? { ...state, typing } : state;
}

function withUsers(users: ReadonlyMap<UserId, User>, incoming: readonly User[]): ReadonlyMap<UserId, User> {
  let next: Map<UserId, User> | undefined;
  for (const user of incoming) {
    const known = users.get(user.id);
    if (known && known.username === user.username) continue;
    // The chat service names members it could not look up "unknown": not worth caching.
    if (user.username === 'unknown') continue;
    next ??= new Map(users);
    next.set(user.id, user);
  }
  return next ?? users;
}

function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}

/** Users typing in a conversation right now, by name, oldest first. */
export function typingNames(
  typers: ReadonlyMap<UserId, number> | undefined,
  users: ReadonlyMap<UserId, User>,
  now: number,
): string[] {
  if (!typers) return [];
  const names: string[] = [];
  for (const [id, until] of typers) {
    if (until > now) names.push(users.get(id)?.username ?? 'Someone');
  }
  return names;
}

/** "ada is typing…", "ada and bob are typing…", "Several people are typing…". */
export function typingSentence(names: readonly string[]): string {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
