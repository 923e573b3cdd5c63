import type { ConversationId, ConversationKind, Message, MessageId, UserId } from '@relay-chat/protocol';
import { buildMessage, type MessageCore, type ReactionRow, withoutClientMsgId } from './message-changes.js';
import type { ConversationRecord, StoredMessage } from './message-store.js';

/**
 * Row shapes shared by the SQL backends (SQLite and PostgreSQL use the same tables and
 * column names; only types and indexes differ) and their mapping to the store's records.
 * Times are ms since the epoch, seqs are integers: both read as JS numbers. Id columns are
 * typed as the ids they hold (the database stores text; the brands are for the code).
 */
export interface ConversationsTable {
  id: ConversationId;
  kind: ConversationKind;
  name: string | null;
  /** Group or channel topic (0004); null when none. */
  topic: string | null;
  /** Lower-cased channel name, unique among channels; null for DMs and groups. */
  name_key: string | null;
  created_by: UserId;
  created_at: number;
  last_seq: number;
  /** The conversation's change counter (0005): changes made to its messages so far. */
  last_change_seq: number;
  last_activity_at: number;
  /** Both user ids in order, for DMs only (unique). */
  dm_key: string | null;
}

export interface MembersTable {
  conv: ConversationId;
  user_id: UserId;
  last_read_seq: number;
  /** Seq of the member's last message in the conversation since they joined; 0 when none. */
  last_sent_seq: number;
  joined_at: number;
  /** The member muted the conversation (0004; SQLite stores 0/1). */
  muted: boolean | number;
  /** The member hid this DM while its last seq was this; shown again once a message passes it (0004). */
  hidden_seq: number | null;
}

/** The users chat has seen (0004): a user's first visit joins the default channels, once. */
export interface ChatUsersTable {
  user_id: UserId;
  first_seen_at: number;
}

export interface MessagesTable {
  conv: ConversationId;
  seq: number;
  id: MessageId;
  sender: UserId;
  client_msg_id: string;
  body: string;
  ts: number;
  /** 0005: the seq this message answers, and its thread's root; null when no reply. */
  reply_to: number | null;
  thread_root: number | null;
  /** 0005: when the body last changed; null when never edited. */
  edited_at: number | null;
  /** 0005: a tombstone (body '', no mentions or reactions). SQLite stores 0/1. */
  deleted: boolean | number;
  /** 0005: replies in this message's thread (as its root), and when the last came. */
  reply_count: number;
  last_reply_at: number | null;
  /** 0005: the conversation's change counter at this message's last change; null when never changed. */
  change_seq: number | null;
}

/** 0005: who a message mentions, in the order given (`pos`). Deleting the message removes them. */
export interface MentionsTable {
  conv: ConversationId;
  seq: number;
  user_id: UserId;
  pos: number;
}

/** 0005: one user's reaction with one emoji on a message; `change_seq` (the change that set it) orders them. */
export interface ReactionsTable {
  conv: ConversationId;
  seq: number;
  emoji: string;
  user_id: UserId;
  change_seq: number;
  /** The change that first put this emoji on the message (kept while anyone reacts with it): the emoji's order. */
  first_seq: number;
}

export interface ChatTables {
  conversations: ConversationsTable;
  members: MembersTable;
  messages: MessagesTable;
  chat_users: ChatUsersTable;
  mentions: MentionsTable;
  reactions: ReactionsTable;
}

/** The columns of a message row, for SELECT lists (prefix them with an alias as needed). */
export const MESSAGE_ROW_COLUMNS = [
  'conv',
  'seq',
  'id',
  'sender',
  'client_msg_id',
  'body',
  'ts',
  'reply_to',
  'thread_root',
  'edited_at',
  'deleted',
  'reply_count',
  'last_reply_at',
  'change_seq',
] as const;

export type ConversationRow = Pick<
  ConversationsTable,
  | 'id'
  | 'kind'
  | 'name'
  | 'topic'
  | 'created_by'
  | 'created_at'
  | 'last_seq'
  | 'last_change_seq'
  | 'last_activity_at'
>;

/** The columns of a ConversationRow, for SELECT lists (prefix them with an alias as needed). */
export const CONVERSATION_ROW_COLUMNS = [
  'id',
  'kind',
  'name',
  'topic',
  'created_by',
  'created_at',
  'last_seq',
  'last_change_seq',
  'last_activity_at',
] as const;

export function toConversation(row: ConversationRow): ConversationRecord {
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    topic: row.topic ?? null,
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    lastSeq: Number(row.last_seq),
    lastChangeSeq: Number(row.last_change_seq ?? 0),
    lastActivityAt: Number(row.last_activity_at),
  };
}

function nullableNumber(value: number | string | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** A message row's own columns as the shared builder takes them (see message-changes.ts). */
export function toMessageCore(row: MessagesTable): MessageCore {
  return {
    conv: row.conv,
    seq: Number(row.seq),
    id: row.id,
    from: row.sender,
    clientMsgId: row.client_msg_id,
    body: row.body,
    ts: Number(row.ts),
    replyTo: nullableNumber(row.reply_to),
    threadRoot: nullableNumber(row.thread_root),
    editedAt: nullableNumber(row.edited_at),
    deleted: Boolean(row.deleted),
    replyCount: Number(row.reply_count ?? 0),
    lastReplyAt: nullableNumber(row.last_reply_at),
    changeSeq: nullableNumber(row.change_seq),
  };
}

/** A message with its mentions and reactions, as every backend returns it. */
export function toStoredMessage(
  row: MessagesTable,
  mentions: readonly UserId[] = [],
  reactions: readonly ReactionRow[] = [],
): StoredMessage {
  return buildMessage(toMessageCore(row), mentions, reactions);
}

/** A message as listed (a last-message preview), without the sender's client-made id. */
export function toMessage(
  row: MessagesTable,
  mentions: readonly UserId[] = [],
  reactions: readonly ReactionRow[] = [],
): Message {
  return withoutClientMsgId(toStoredMessage(row, mentions, reactions));
}
