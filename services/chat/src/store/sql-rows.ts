import type { ConversationId, ConversationKind, Message, MessageId, UserId } from '@relay-chat/protocol';
import type { ConversationRecord } from './message-store.js';

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
}

export interface ChatTables {
  conversations: ConversationsTable;
  members: MembersTable;
  messages: MessagesTable;
  chat_users: ChatUsersTable;
}

export type ConversationRow = Pick<
  ConversationsTable,
  'id' | 'kind' | 'name' | 'topic' | 'created_by' | 'created_at' | 'last_seq' | 'last_activity_at'
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
    lastActivityAt: Number(row.last_activity_at),
  };
}

/** A message as listed (a last-message preview), without the sender's client-made id. */
export function toMessage(row: MessagesTable): Message {
  return {
    conv: row.conv,
    seq: Number(row.seq),
    id: row.id,
    from: row.sender,
    body: row.body,
    ts: Number(row.ts),
  };
}

/** A message as `append` and `history` return it, with its client-made id. */
export function toStoredMessage(row: MessagesTable): Message & { clientMsgId: string } {
  return { ...toMessage(row), clientMsgId: row.client_msg_id };
}
