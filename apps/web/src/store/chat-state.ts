import {
  type Conversation,
  type ConversationId,
  LIMITS,
  type Message,
  type PresenceStatus,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { applyChanges, newerCopy } from '../lib/changes.js';
import { addNewer, addOlderPage, EMPTY_HISTORY, type HistoryWindow, mergeBySeq } from '../lib/history.js';
import { mentionsAfterRead } from '../lib/mentions.js';
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
  /** The message it answers, if a reply. */
  replyTo?: number;
}

/** The loaded replies of one thread (its root's seq), ascending. */
export interface ThreadWindow {
  root: Message | undefined;
  replies: Message[];
  /** A page came back full: there may be more after the last loaded reply. */
  hasMore: boolean;
}

/** The key of a thread in `ChatState.threads`. */
export function threadKey(conv: ConversationId, root: number): string {
  return `${conv} ${root}`;
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
  /** Threads opened this session (see threadKey). */
  threads: ReadonlyMap<string, ThreadWindow>;
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
  threads: new Map(),
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
  | { type: 'users'; users: readonly User[] }
  /**
   * Messages in a newer state (a live `change`, the answer of an edit/delete/react): each
   * replaces the loaded copy of its seq when its `changeSeq` is higher; unloaded ones are ignored.
   */
  | { type: 'changes'; conv: ConversationId; messages: readonly Message[] }
  /** Messages loaded out of the window (around a jump target, a gap fill): history only. */
  | { type: 'context'; conv: ConversationId; messages: readonly Message[] }
  /** A page of a thread's replies (`after` the last loaded one; `reset` for the first page). */
  | {
      type: 'threadPage';
      conv: ConversationId;
      root: Message;
      replies: readonly Message[];
      limit: number;
      reset?: boolean;
    }
  /** The SDK's live mention counts of a conversation. */
  | { type: 'mentions'; conv: ConversationId; unreadMentions: number; mentionSeqs: readonly number[] };

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
      let next = onRead(conv, action.seq);
      if (next !== conv && (conv.unreadMentions ?? 0) > 0) {
        next = withMentions(next, mentionsAfterRead(conv, action.seq, next.lastSeq));
      }
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
    case 'changes':
      return applyChangedMessages(state, action.conv, action.messages);
    case 'context': {
      const before = state.histories.get(action.conv) ?? EMPTY_HISTORY;
      let history = addNewer(before, action.messages);
      if (action.messages.some((m) => m.seq === 1) && history.hasOlder)
        history = { ...history, hasOlder: false };
      return history === before
        ? state
        : { ...state, histories: new Map(state.histories).set(action.conv, history) };
    }
    case 'threadPage': {
      const key = threadKey(action.conv, action.root.seq);
      const known = action.reset ? undefined : state.threads.get(key);
      const root = known?.root ? newerCopy(known.root, action.root) : action.root;
      const replies = mergeBySeq(known?.replies ?? [], action.replies);
      const threads = new Map(state.threads).set(key, {
        root,
        replies,
        hasMore: action.replies.length >= action.limit,
      });
      return { ...state, threads };
    }
    case 'mentions': {
      const conv = state.conversations.get(action.conv);
      if (!conv) return state;
      if (
        (conv.unreadMentions ?? 0) === action.unreadMentions &&
        sameList(conv.mentionSeqs ?? [], action.mentionSeqs)
      )
        return state;
      const next = withMentions(conv, {
        unreadMentions: action.unreadMentions,
        mentionSeqs: [...action.mentionSeqs],
      });
      return { ...state, conversations: new Map(state.conversations).set(conv.id, next) };
    }
  }
}

/** A conversation with these mention counts (the fields absent when there are none, as the server sends them). */
function withMentions(
  conv: Conversation,
  mentions: { unreadMentions: number; mentionSeqs: number[] },
): Conversation {
  const { unreadMentions: _u, mentionSeqs: _s, ...rest } = conv;
  return {
    ...rest,
    ...(mentions.unreadMentions > 0 ? { unreadMentions: mentions.unreadMentions } : {}),
    ...(mentions.mentionSeqs.length > 0 ? { mentionSeqs: mentions.mentionSeqs } : {}),
  };
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Whether a message counts as an unread mention of `me` given the read marker. */
function mentionsMe(message: Message, me: UserId | undefined, lastReadSeq: number): boolean {
  return (
    me !== undefined &&
    message.from !== me &&
    message.deleted !== true &&
    message.seq > lastReadSeq &&
    (message.mentions?.includes(me) ?? false)
  );
}

/** Mention counts after seeing this state of a message (new, edited or deleted). */
function mentionsAfterMessage(conv: Conversation, message: Message, me: UserId | undefined): Conversation {
  const seqs = conv.mentionSeqs ?? [];
  const listed = seqs.includes(message.seq);
  const counts = mentionsMe(message, me, conv.lastReadSeq);
  if (counts === listed) return conv;
  const total = conv.unreadMentions ?? seqs.length;
  if (counts) {
    const mentionSeqs = [...seqs, message.seq].sort((a, b) => a - b).slice(-LIMITS.maxMentionSeqs);
    return withMentions(conv, { unreadMentions: total + 1, mentionSeqs });
  }
  return withMentions(conv, {
    unreadMentions: Math.max(0, total - 1),
    mentionSeqs: seqs.filter((s) => s !== message.seq),
  });
}

/** Replaces loaded copies (history, threads, previews) with newer states; adds nothing new. */
function applyChangedMessages(
  state: ChatState,
  convId: ConversationId,
  messages: readonly Message[],
): ChatState {
  if (messages.length === 0) return state;
  let next = state;
  const before = state.histories.get(convId);
  if (before) {
    const updated = applyChanges(before.messages, messages);
    if (updated !== before.messages) {
      next = { ...next, histories: new Map(next.histories).set(convId, { ...before, messages: updated }) };
    }
  }
  next = withThreadCopies(next, convId, messages, false);
  const conv = next.conversations.get(convId);
  if (conv) {
    let updated = conv;
    for (const message of messages) {
      if (updated.lastMessage && updated.lastMessage.seq === message.seq) {
        const winner = newerCopy(updated.lastMessage, message);
        if (winner !== updated.lastMessage) updated = { ...updated, lastMessage: winner };
      }
      updated = mentionsAfterMessage(updated, message, next.me?.id);
    }
    if (updated !== conv) next = { ...next, conversations: new Map(next.conversations).set(convId, updated) };
  }
  return next;
}

/**
 * Updates the loaded threads with these copies: roots and replies get newer states; with
 * `addReplies`, new replies of a loaded thread are added (a live reply).
 */
function withThreadCopies(
  state: ChatState,
  convId: ConversationId,
  messages: readonly Message[],
  addReplies: boolean,
): ChatState {
  if (state.threads.size === 0) return state;
  let threads: Map<string, ThreadWindow> | undefined;
  for (const message of messages) {
    const asRoot = state.threads.get(threadKey(convId, message.seq));
    const current = threads?.get(threadKey(convId, message.seq)) ?? asRoot;
    if (current?.root) {
      const root = newerCopy(current.root, message);
      if (root !== current.root) {
        threads ??= new Map(state.threads);
        threads.set(threadKey(convId, message.seq), { ...current, root });
      }
    }
    if (message.threadRoot === undefined) continue;
    const key = threadKey(convId, message.threadRoot);
    const thread = threads?.get(key) ?? state.threads.get(key);
    if (!thread) continue;
    const has = thread.replies.some((r) => r.seq === message.seq);
    if (!has && (!addReplies || thread.hasMore)) continue;
    const replies = mergeBySeq(thread.replies, [message]);
    if (replies === thread.replies) continue;
    threads ??= new Map(state.threads);
    threads.set(key, { ...thread, replies });
  }
  return threads ? { ...state, threads } : state;
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
      const isNew = message.seq > updated.lastSeq;
      const readBefore = updated.lastReadSeq;
      updated = onMessage(updated, message.seq, message.from, next.me?.id);
      // An own message moves the read marker past it: mentions before it are read too.
      if (updated.lastReadSeq > readBefore && (updated.unreadMentions ?? 0) > 0) {
        updated = withMentions(updated, mentionsAfterRead(updated, updated.lastReadSeq, updated.lastSeq));
      }
      const shown = updated.lastMessage;
      if (shown && shown.seq === message.seq) {
        const winner = newerCopy(shown, message);
        if (winner !== shown) updated = { ...updated, lastMessage: winner };
      } else if (message.seq > (shown?.seq ?? 0)) {
        updated = {
          ...updated,
          lastMessage: message,
          lastActivityAt: Math.max(updated.lastActivityAt, message.ts),
        };
      }
      if (isNew) updated = mentionsAfterMessage(updated, message, next.me?.id);
    }
    if (updated !== conv) next = { ...next, conversations: new Map(next.conversations).set(convId, updated) };
  }

  next = withThreadCopies(next, convId, messages, true);

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
