import { randomUUID } from 'node:crypto';
import {
  asConversationId,
  ChatError,
  type ConversationId,
  LIMITS,
  MEMBERS_PREVIEW,
  type UserId,
} from '@relay-chat/protocol';
import { type Logger, type OpenedDatabase, openDatabase } from '@relay-chat/service-kit';
import type Database from 'better-sqlite3';
import { type Kysely, type Migration, sql } from 'kysely';
import {
  AppendPlan,
  type Candidate,
  distinctSendKeys,
  rootKeyOf,
  SeqAllocation,
  type StoredMessage,
  sendKeyOf,
  threadRoots,
} from './append-plan.js';
import {
  channelKeyOf,
  checkAppendInputs,
  checkConversationPage,
  checkPage,
  checkSeq,
  checkText,
  dmKeyOf,
  initialMembers,
  pageLimit,
} from './conversation-keys.js';
import { checkGroupSize, checkManager, checkSettings, isHidden } from './management-rules.js';
import {
  aroundPage,
  badMentions,
  changesLimit,
  checkDelete,
  checkEdit,
  checkEmoji,
  checkMessageSeq,
  noConversation,
  noMessage,
  normalizeMentions,
  notMember,
  type ReactionRow,
  reactToDeleted,
  sameMentions,
  tooManyReactions,
  withoutClientMsgId,
} from './message-changes.js';
import type {
  AppendInput,
  AppendOutcome,
  AppendRefusal,
  ChangeOutcome,
  ChannelRecord,
  ConversationPage,
  ConversationRecord,
  ConversationState,
  EditInput,
  MemberSettings,
  MessageStore,
  ReactInput,
  SearchInput,
  SearchPage,
  StoredMessage as StoredHistoryMessage,
} from './message-store.js';
import { runChatMigrations } from './sql-migrator.js';
import {
  type ChatTables,
  CONVERSATION_ROW_COLUMNS,
  type ConversationRow,
  MESSAGE_ROW_COLUMNS,
  type MessagesTable,
  toConversation,
  toStoredMessage,
} from './sql-rows.js';
import {
  startWalCheckpointer,
  type WalCheckpointer,
  WRITER_AUTOCHECKPOINT_PAGES,
} from './sqlite-checkpointer.js';
import {
  MEMBER_DRIVEN_MAX,
  prepareSearch,
  SEARCH_DEFERRED_MIGRATION,
  SEARCH_MERGE_SETTINGS_MIGRATION,
  SEARCH_MIGRATION,
  SEARCH_ONE_CONV_INDEX_MIGRATION,
  SEARCH_QUEUE_DROP_MIGRATION,
} from './sqlite-search.js';

const migrations: Record<string, Migration> = {
  '0001_chat': {
    async up(db: Kysely<unknown>) {
      await sql`CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
        name TEXT,
        name_key TEXT,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seq INTEGER NOT NULL DEFAULT 0,
        last_activity_at INTEGER NOT NULL,
        dm_key TEXT UNIQUE
      )`.execute(db);
      await sql`CREATE UNIQUE INDEX conversations_channel_name ON conversations (name_key) WHERE kind = 'channel'`.execute(
        db,
      );
      // `ord` (the rowid) records join order.
      await sql`CREATE TABLE members (
        ord INTEGER PRIMARY KEY,
        conv TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL,
        last_read_seq INTEGER NOT NULL DEFAULT 0,
        joined_at INTEGER NOT NULL,
        UNIQUE (conv, user_id)
      )`.execute(db);
      await sql`CREATE INDEX members_user ON members (user_id, conv)`.execute(db);
      await sql`CREATE INDEX members_conv_ord ON members (conv, ord)`.execute(db);
      // Clustered by (conv, seq): a history page is one range read.
      await sql`CREATE TABLE messages (
        conv TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        sender TEXT NOT NULL,
        client_msg_id TEXT NOT NULL,
        body TEXT NOT NULL,
        ts INTEGER NOT NULL,
        PRIMARY KEY (conv, seq)
      ) WITHOUT ROWID`.execute(db);
      await sql`CREATE UNIQUE INDEX messages_sender_client_msg_id ON messages (sender, client_msg_id)`.execute(
        db,
      );
    },
  },
  // Member counts kept in the conversation row by triggers, in the same transaction as the
  // membership change: reading a big channel's count is one row, not a scan of its members.
  '0002_member_count': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE conversations ADD COLUMN member_count INTEGER NOT NULL DEFAULT 0`.execute(db);
      await sql`UPDATE conversations SET member_count = (SELECT count(*) FROM members m WHERE m.conv = conversations.id)`.execute(
        db,
      );
      await sql`CREATE TRIGGER members_counted AFTER INSERT ON members BEGIN
        UPDATE conversations SET member_count = member_count + 1 WHERE id = NEW.conv;
      END`.execute(db);
      await sql`CREATE TRIGGER members_uncounted AFTER DELETE ON members BEGIN
        UPDATE conversations SET member_count = member_count - 1 WHERE id = OLD.conv;
      END`.execute(db);
    },
  },
  // Who has spoken where (`last_sent_seq`, moved by append with the read marker), for the
  // rule on who may add whom to a group; and an index for counting what a user created.
  '0003_sent_and_created': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE members ADD COLUMN last_sent_seq INTEGER NOT NULL DEFAULT 0`.execute(db);
      // Only messages since the member's current join, as append would have counted them.
      await sql`UPDATE members SET last_sent_seq = s.seq
        FROM (
          SELECT mb.ord, max(m.seq) AS seq
          FROM messages m JOIN members mb ON mb.conv = m.conv AND mb.user_id = m.sender
          WHERE m.ts >= mb.joined_at
          GROUP BY mb.ord
        ) AS s
        WHERE members.ord = s.ord`.execute(db);
      await sql`CREATE INDEX conversations_created ON conversations (created_by, created_at) WHERE kind <> 'dm'`.execute(
        db,
      );
    },
  },
  // Managing conversations (issue 12): a topic per conversation; each member's mute and the
  // seq up to which they hid a DM; and the users chat has seen, so that the default channels
  // are joined on a user's first visit only (leaving them is respected). Everyone who is a
  // member somewhere already is not new.
  '0004_manage': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE conversations ADD COLUMN topic TEXT`.execute(db);
      await sql`ALTER TABLE members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0`.execute(db);
      await sql`ALTER TABLE members ADD COLUMN hidden_seq INTEGER`.execute(db);
      await sql`CREATE TABLE chat_users (user_id TEXT PRIMARY KEY, first_seen_at INTEGER NOT NULL)`.execute(
        db,
      );
      await sql`INSERT INTO chat_users (user_id, first_seen_at)
        SELECT user_id, min(joined_at) FROM members GROUP BY user_id`.execute(db);
    },
  },
  // Messages that change (protocol v1.2): a message row holds its current state (reply
  // links, edit time, tombstone, thread counters, the change that last touched it); each
  // conversation counts its changes gaplessly (last_change_seq). Mentions and reactions are
  // rows beside the message, removed with it. Existing messages are plain ones: every new
  // column is nullable or has a constant default, nothing is backfilled.
  '0005_changes': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE messages ADD COLUMN reply_to INTEGER`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN thread_root INTEGER`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN edited_at INTEGER`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN last_reply_at INTEGER`.execute(db);
      await sql`ALTER TABLE messages ADD COLUMN change_seq INTEGER`.execute(db);
      await sql`ALTER TABLE conversations ADD COLUMN last_change_seq INTEGER NOT NULL DEFAULT 0`.execute(db);
      // What a device that applied changes up to N is missing: one range of this index.
      await sql`CREATE INDEX messages_changes ON messages (conv, change_seq) WHERE change_seq IS NOT NULL`.execute(
        db,
      );
      // A thread's replies in seq order.
      await sql`CREATE INDEX messages_threads ON messages (conv, thread_root, seq) WHERE thread_root IS NOT NULL`.execute(
        db,
      );
      await sql`CREATE TABLE mentions (
        conv TEXT NOT NULL,
        seq INTEGER NOT NULL,
        user_id TEXT NOT NULL,
        pos INTEGER NOT NULL,
        PRIMARY KEY (conv, seq, user_id)
      ) WITHOUT ROWID`.execute(db);
      // A user's unread mentions in a conversation: one range (seq > their read marker).
      await sql`CREATE INDEX mentions_user ON mentions (user_id, conv, seq)`.execute(db);
      // change_seq: the change that set the reaction (users are listed in that order);
      // first_seq: the change that first put its emoji on the message (the emoji's order).
      await sql`CREATE TABLE reactions (
        conv TEXT NOT NULL,
        seq INTEGER NOT NULL,
        emoji TEXT NOT NULL,
        user_id TEXT NOT NULL,
        change_seq INTEGER NOT NULL,
        first_seq INTEGER NOT NULL,
        PRIMARY KEY (conv, seq, emoji, user_id)
      ) WITHOUT ROWID`.execute(db);
    },
  },
  // Message search (issue 14): an FTS5 trigram index of every live message's normal form,
  // filled here for the messages stored before it (sqlite-search.ts).
  '0006_search': SEARCH_MIGRATION,
  // The text index written behind the appends, caught up before every search.
  '0007_search_deferred': SEARCH_DEFERRED_MIGRATION,
  // One conversation-keyed index on search_docs, not two.
  '0008_search_docs_one_conv_index': SEARCH_ONE_CONV_INDEX_MIGRATION,
  // FTS5 merge settings under which no catch-up commit holds the writer for long (measured).
  '0009_search_merge_settings': SEARCH_MERGE_SETTINGS_MIGRATION,
  // Pending messages listed in memory, not written to a queue table by every append.
  '0010_search_pending_in_memory': SEARCH_QUEUE_DROP_MIGRATION,
};

/**
 * Pending messages that make the text index catch up on the next turn (see indexLater), and
 * the most it takes per transaction behind the appends: a larger backlog goes on at the next
 * turn, after the appends that arrived meanwhile. (64 per transaction cost more CPU per
 * message than it saved in waiting: every transaction adds an FTS5 segment to merge.)
 */
const INDEX_BATCH = 256;
/** Longest the text index stays behind the appends when few arrive, ms. */
const INDEX_DELAY_MS = 250;

/** The SQLite store's migrations, in order (exported for the upgrade test). */
export const sqliteMigrations: Readonly<Record<string, Migration>> = migrations;

const CONVERSATION_COLUMNS = CONVERSATION_ROW_COLUMNS.join(', ');
const STATE_COLUMNS = `${CONVERSATION_ROW_COLUMNS.map((c) => `c.${c}`).join(', ')},
  m.last_read_seq, m.muted, m.hidden_seq, c.member_count,
  (SELECT count(*) FROM mentions x WHERE x.user_id = m.user_id AND x.conv = m.conv AND x.seq > m.last_read_seq)
    AS unread_mentions`;
/** Leaves out a member's hidden DMs when @visible is 1. */
const VISIBLE = '(@visible = 0 OR m.hidden_seq IS NULL OR c.last_seq > m.hidden_seq)';

type StateRow = ConversationRow & {
  last_read_seq: number;
  muted: number;
  hidden_seq: number | null;
  member_count: number;
  unread_mentions: number;
};
const MESSAGE_COLUMNS = MESSAGE_ROW_COLUMNS.join(', ');
/** A JSON array of seqs of one conversation (json_each), for reading mentions and reactions of a page. */
const SEQS = 'seq IN (SELECT value FROM json_each(@seqs))';

function prepare(db: Database.Database) {
  return {
    conversation: db.prepare<[string], ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE id = ?`,
    ),
    dmByKey: db.prepare<[string], ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE dm_key = ?`,
    ),
    insertConversation: db.prepare(
      `INSERT INTO conversations (id, kind, name, name_key, created_by, created_at, last_seq, last_activity_at, dm_key)
       VALUES (@id, @kind, @name, @name_key, @created_by, @created_at, 0, @created_at, @dm_key)`,
    ),
    insertMember: db.prepare<{ conv: string; user: string; now: number }>(
      `INSERT INTO members (conv, user_id, last_read_seq, joined_at)
       SELECT id, @user, last_seq, @now FROM conversations WHERE id = @conv
       ON CONFLICT (conv, user_id) DO NOTHING`,
    ),
    deleteMember: db.prepare<[string, string]>('DELETE FROM members WHERE conv = ? AND user_id = ?'),
    member: db.prepare<[string, string], { last_read_seq: number; muted: number; hidden_seq: number | null }>(
      'SELECT last_read_seq, muted, hidden_seq FROM members WHERE conv = ? AND user_id = ?',
    ),
    channelByKey: db.prepare<[string], ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations WHERE kind = 'channel' AND name_key = ?`,
    ),
    rename: db.prepare<{ id: string; name: string; name_key: string | null }>(
      'UPDATE conversations SET name = @name, name_key = @name_key WHERE id = @id',
    ),
    setTopic: db.prepare<{ id: string; topic: string | null }>(
      'UPDATE conversations SET topic = @topic WHERE id = @id',
    ),
    setMuted: db.prepare<{ conv: string; user: string; muted: number }>(
      'UPDATE members SET muted = @muted WHERE conv = @conv AND user_id = @user',
    ),
    setHidden: db.prepare<{ conv: string; user: string; hidden: number }>(
      `UPDATE members SET hidden_seq = CASE WHEN @hidden = 1
         THEN (SELECT last_seq FROM conversations WHERE id = @conv) ELSE NULL END
       WHERE conv = @conv AND user_id = @user`,
    ),
    markAllRead: db.prepare<[string], { conv: ConversationId; last_read_seq: number }>(
      `UPDATE members SET last_read_seq = (SELECT c.last_seq FROM conversations c WHERE c.id = members.conv)
       WHERE user_id = ? AND last_read_seq < (SELECT c.last_seq FROM conversations c WHERE c.id = members.conv)
       RETURNING conv, last_read_seq`,
    ),
    insertSeenUser: db.prepare<[string, number]>(
      'INSERT INTO chat_users (user_id, first_seen_at) VALUES (?, ?) ON CONFLICT (user_id) DO NOTHING',
    ),
    membersOf: db.prepare<[string, number], { user_id: UserId }>(
      'SELECT user_id FROM members WHERE conv = ? ORDER BY ord LIMIT ?',
    ),
    memberCount: db.prepare<[string], { n: number }>(
      'SELECT member_count AS n FROM conversations WHERE id = ?',
    ),
    // The user's memberships through members_user, each conversation by its key, a top-N sort.
    statesOf: db.prepare<{ user: string; limit: number; visible: number }, StateRow>(
      `SELECT ${STATE_COLUMNS} FROM members m JOIN conversations c ON c.id = m.conv
       WHERE m.user_id = @user AND ${VISIBLE}
       ORDER BY c.last_activity_at DESC, c.id DESC LIMIT @limit`,
    ),
    statesBefore: db.prepare<
      { user: string; at: number; id: string; limit: number; visible: number },
      StateRow
    >(
      `SELECT ${STATE_COLUMNS} FROM members m JOIN conversations c ON c.id = m.conv
       WHERE m.user_id = @user AND (c.last_activity_at, c.id) < (@at, @id) AND ${VISIBLE}
       ORDER BY c.last_activity_at DESC, c.id DESC LIMIT @limit`,
    ),
    stateOf: db.prepare<{ conv: string; user: string }, StateRow>(
      `SELECT ${STATE_COLUMNS} FROM members m JOIN conversations c ON c.id = m.conv
       WHERE m.conv = @conv AND m.user_id = @user`,
    ),
    spokeWith: db.prepare<{ user: string; others: string }, { user_id: UserId }>(
      `SELECT DISTINCT o.user_id
       FROM members o
       JOIN members me ON me.conv = o.conv AND me.user_id = @user
       JOIN conversations c ON c.id = o.conv
       WHERE o.user_id IN (SELECT value FROM json_each(@others)) AND o.user_id <> @user
         AND o.last_sent_seq > 0 AND c.kind IN ('dm', 'group')`,
    ),
    createdSince: db.prepare<[string, number], { n: number }>(
      `SELECT count(*) AS n FROM conversations WHERE created_by = ? AND kind <> 'dm' AND created_at >= ?`,
    ),
    messageBySeq: db.prepare<[string, number], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conv = ? AND seq = ?`,
    ),
    messageByKey: db.prepare<[string, string], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE sender = ? AND client_msg_id = ?`,
    ),
    bumpConversation: db.prepare<[number, number, string], { last_seq: number }>(
      `UPDATE conversations SET last_seq = last_seq + ?, last_activity_at = max(last_activity_at, ?)
       WHERE id = ? RETURNING last_seq`,
    ),
    insertMessage: db.prepare<
      [
        Pick<
          MessagesTable,
          'conv' | 'seq' | 'id' | 'sender' | 'client_msg_id' | 'body' | 'ts' | 'reply_to' | 'thread_root'
        >,
      ]
    >(
      `INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts, reply_to, thread_root)
       VALUES (@conv, @seq, @id, @sender, @client_msg_id, @body, @ts, @reply_to, @thread_root)`,
    ),
    insertMention: db.prepare<{ conv: string; seq: number; user: string; pos: number }>(
      'INSERT INTO mentions (conv, seq, user_id, pos) VALUES (@conv, @seq, @user, @pos)',
    ),
    deleteMentions: db.prepare<[string, number]>('DELETE FROM mentions WHERE conv = ? AND seq = ?'),
    deleteReactions: db.prepare<[string, number]>('DELETE FROM reactions WHERE conv = ? AND seq = ?'),
    mentionsOf: db.prepare<{ conv: string; seqs: string }, { seq: number; user_id: UserId }>(
      `SELECT seq, user_id FROM mentions WHERE conv = @conv AND ${SEQS} ORDER BY seq, pos`,
    ),
    // The first reactionUsersShown users of each emoji, with the exact count and first use.
    reactionsOf: db.prepare<
      { conv: string; seqs: string; shown: number },
      { seq: number; emoji: string; user_id: UserId; change_seq: number; first_seq: number; n: number }
    >(
      `SELECT seq, emoji, user_id, change_seq, first_seq, n FROM (
         SELECT seq, emoji, user_id, change_seq, first_seq,
           row_number() OVER (PARTITION BY seq, emoji ORDER BY change_seq) AS k,
           count(*) OVER (PARTITION BY seq, emoji) AS n
         FROM reactions WHERE conv = @conv AND ${SEQS}
       ) WHERE k <= @shown ORDER BY seq, change_seq`,
    ),
    reaction: db.prepare<[string, number, string, string], { change_seq: number }>(
      'SELECT change_seq FROM reactions WHERE conv = ? AND seq = ? AND emoji = ? AND user_id = ?',
    ),
    hasEmoji: db.prepare<[string, number, string], { one: number }>(
      'SELECT 1 AS one FROM reactions WHERE conv = ? AND seq = ? AND emoji = ? LIMIT 1',
    ),
    distinctEmoji: db.prepare<[string, number], { n: number }>(
      'SELECT count(DISTINCT emoji) AS n FROM reactions WHERE conv = ? AND seq = ?',
    ),
    insertReaction: db.prepare<{ conv: string; seq: number; emoji: string; user: string; cs: number }>(
      `INSERT INTO reactions (conv, seq, emoji, user_id, change_seq, first_seq)
       VALUES (@conv, @seq, @emoji, @user, @cs, coalesce(
         (SELECT min(first_seq) FROM reactions WHERE conv = @conv AND seq = @seq AND emoji = @emoji), @cs))`,
    ),
    deleteReaction: db.prepare<[string, number, string, string]>(
      'DELETE FROM reactions WHERE conv = ? AND seq = ? AND emoji = ? AND user_id = ?',
    ),
    bumpChange: db.prepare<[string], { last_change_seq: number }>(
      'UPDATE conversations SET last_change_seq = last_change_seq + 1 WHERE id = ? RETURNING last_change_seq',
    ),
    lastChangeSeq: db.prepare<[string], { last_change_seq: number }>(
      'SELECT last_change_seq FROM conversations WHERE id = ?',
    ),
    stampChange: db.prepare<[number, string, number]>(
      'UPDATE messages SET change_seq = ? WHERE conv = ? AND seq = ?',
    ),
    editMessage: db.prepare<{ conv: string; seq: number; body: string; now: number; cs: number }>(
      'UPDATE messages SET body = @body, edited_at = @now, change_seq = @cs WHERE conv = @conv AND seq = @seq',
    ),
    tombstone: db.prepare<{ conv: string; seq: number; cs: number }>(
      `UPDATE messages SET body = '', deleted = 1, edited_at = NULL, change_seq = @cs
       WHERE conv = @conv AND seq = @seq`,
    ),
    bumpRoot: db.prepare<{ conv: string; seq: number; n: number; ts: number; cs: number }>(
      `UPDATE messages SET reply_count = reply_count + @n,
         last_reply_at = max(coalesce(last_reply_at, @ts), @ts), change_seq = @cs
       WHERE conv = @conv AND seq = @seq`,
    ),
    mentionSeqs: db.prepare<{ user: string; conv: string; after: number; limit: number }, { seq: number }>(
      `SELECT seq FROM mentions WHERE user_id = @user AND conv = @conv AND seq > @after
       ORDER BY seq DESC LIMIT @limit`,
    ),
    changesAfter: db.prepare<[string, number, number], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conv = ? AND change_seq > ? ORDER BY change_seq LIMIT ?`,
    ),
    threadAfter: db.prepare<[string, number, number, number], MessagesTable>(
      // Without statistics SQLite would walk the conversation by its primary key instead.
      `SELECT ${MESSAGE_COLUMNS} FROM messages INDEXED BY messages_threads
       WHERE conv = ? AND thread_root = ? AND seq > ? ORDER BY seq LIMIT ?`,
    ),
    fromSeq: db.prepare<[string, number, number], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conv = ? AND seq >= ? ORDER BY seq LIMIT ?`,
    ),
    bumpSender: db.prepare<{ seq: number; conv: string; user: string }>(
      `UPDATE members SET last_read_seq = max(last_read_seq, @seq), last_sent_seq = max(last_sent_seq, @seq)
       WHERE conv = @conv AND user_id = @user`,
    ),
    markRead: db.prepare<{ seq: number; conv: string; user: string }, { last_read_seq: number }>(
      `UPDATE members SET last_read_seq = max(last_read_seq, @seq)
       WHERE conv = @conv AND user_id = @user AND @seq <= (SELECT last_seq FROM conversations WHERE id = @conv)
       RETURNING last_read_seq`,
    ),
    historyAfter: db.prepare<[string, number, number, number], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conv = ? AND seq > ? AND seq < ? ORDER BY seq LIMIT ?`,
    ),
    historyBefore: db.prepare<[string, number, number], MessagesTable>(
      `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
    ),
    search: prepareSearch(db, MESSAGE_ROW_COLUMNS),
    channels: db.prepare<
      { user: string; prefix: string; after: string; limit: number },
      { id: ConversationId; name: string; last_activity_at: number; member_count: number; joined: number }
    >(
      `SELECT c.id, c.name, c.last_activity_at, c.member_count,
         EXISTS (SELECT 1 FROM members j WHERE j.conv = c.id AND j.user_id = @user) AS joined
       FROM conversations c
       WHERE c.kind = 'channel' AND c.name_key >= @prefix AND c.name_key > @after
         AND substr(c.name_key, 1, length(@prefix)) = @prefix
       ORDER BY c.name_key LIMIT @limit`,
    ),
  };
}

/** Options of the SQLite store. */
export interface SqliteMessageStoreOptions {
  /** Only `warn` is used (on a worker thread, a stand-in forwards it to the main thread's logger). */
  logger?: Pick<Logger, 'warn'>;
  /**
   * Longest the text index stays behind the appends when fewer than INDEX_BATCH messages
   * are pending, ms (default INDEX_DELAY_MS). A search catches up first whatever it is.
   */
  searchIndexDelayMs?: number;
  /**
   * Search: up to this many messages in the conversations searched, the user's messages
   * drive the query, above it the index does (a test forces the index with -1).
   */
  searchMemberDrivenMax?: number;
  /**
   * Checkpoint the WAL on a thread of its own (sqlite-checkpointer.ts) from `migrate()` on,
   * rather than inside the commits; a file database only. Default false; the service's
   * store (factory.ts) turns it on.
   */
  backgroundCheckpoints?: boolean;
  /**
   * Index appends for search (default true). False (SEARCH_INDEX=off) lists nothing as
   * pending, so nothing is indexed and `search` is `forbidden`; edits and deletes still keep
   * the rows already indexed true. The first catch-up of a process with it on indexes what
   * was stored meanwhile (it follows each conversation's last indexed seq).
   */
  searchIndex?: boolean;
}

interface PendingWelcome {
  userId: UserId;
  channels: ConversationId[];
  now: number;
  resolve(joined: ConversationId[]): void;
  reject(err: unknown): void;
}

/**
 * The embedded message store: one SQLite file (WAL, fsync on every commit). Writes run as
 * synchronous better-sqlite3 transactions (`BEGIN IMMEDIATE`), so a batch's seqs are
 * assigned and inserted with nothing interleaving, in this process or another one using
 * the same file. Kysely runs the migrations.
 */
export class SqliteMessageStore implements MessageStore {
  private readonly opened: OpenedDatabase<ChatTables>;
  private readonly sqlite: Database.Database;
  private statements: ReturnType<typeof prepare> | undefined;
  private readonly searchMemberDrivenMax: number;
  private readonly logger: Pick<Logger, 'warn'> | undefined;
  /** The timers of the text index's next catch-up. */
  private indexTimer: NodeJS.Timeout | undefined;
  private indexSoon: NodeJS.Immediate | undefined;
  private closing = false;
  private readonly indexDelayMs: number;
  /** First visits waiting for the end of the turn (see `welcome`). */
  private welcomes: PendingWelcome[] | undefined;
  private readonly backgroundCheckpoints: boolean;
  private readonly searchIndex: boolean;
  private checkpointer: WalCheckpointer | undefined;

  /** `url`: `sqlite:<path>` or `sqlite::memory:`. */
  constructor(url: string, options: SqliteMessageStoreOptions = {}) {
    this.searchMemberDrivenMax = options.searchMemberDrivenMax ?? MEMBER_DRIVEN_MAX;
    this.logger = options.logger;
    this.indexDelayMs = options.searchIndexDelayMs ?? INDEX_DELAY_MS;
    this.searchIndex = options.searchIndex ?? true;
    this.opened = openDatabase<ChatTables>(url, { variable: 'MESSAGE_STORE_URL' });
    if (!this.opened.sqlite) throw new Error('not a SQLite URL');
    this.sqlite = this.opened.sqlite;
    this.backgroundCheckpoints = (options.backgroundCheckpoints ?? false) && !this.sqlite.memory;
  }

  private get st(): ReturnType<typeof prepare> {
    this.statements ??= prepare(this.sqlite);
    return this.statements;
  }

  async migrate(): Promise<void> {
    await runChatMigrations(this.opened.db, migrations);
    if (this.backgroundCheckpoints && !this.checkpointer && !this.closing) {
      this.checkpointer = startWalCheckpointer(this.sqlite.name, {
        onError: (message) => this.logger?.warn({ message }, 'checkpointing the WAL failed'),
      });
      this.sqlite.pragma(`wal_autocheckpoint = ${WRITER_AUTOCHECKPOINT_PAGES}`);
    }
  }

  async ping(): Promise<void> {
    this.sqlite.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if ((this.statements?.search.pending ?? 0) > 0) this.indexNow(Number.POSITIVE_INFINITY);
    this.closing = true;
    clearTimeout(this.indexTimer);
    clearImmediate(this.indexSoon);
    // Its last checkpoint finishes first; closing the store's connection then checkpoints
    // the rest and removes the WAL.
    await this.checkpointer?.stop();
    await this.opened.close();
  }

  async getOrCreateDm(
    a: UserId,
    b: UserId,
    now: number,
  ): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const key = dmKeyOf(a, b);
    return this.sqlite
      .transaction(() => {
        const existing = this.st.dmByKey.get(key);
        if (existing) return { conversation: toConversation(existing), created: false };
        return { conversation: this.insertConversation('dm', null, a, [a, b], now, key), created: true };
      })
      .immediate();
  }

  async createGroup(
    input: { name: string; createdBy: UserId; members: UserId[] },
    now: number,
  ): Promise<ConversationRecord> {
    checkText('name', input.name);
    const members = initialMembers(input.createdBy, input.members);
    return this.sqlite
      .transaction(() => this.insertConversation('group', input.name, input.createdBy, members, now))
      .immediate();
  }

  async createChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord> {
    checkText('name', input.name);
    try {
      return this.sqlite
        .transaction(() =>
          this.insertConversation('channel', input.name, input.createdBy, [input.createdBy], now),
        )
        .immediate();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ChatError('conflict', `a channel named "${input.name}" exists`);
      }
      throw err;
    }
  }

  private insertConversation(
    kind: ConversationRecord['kind'],
    name: string | null,
    createdBy: UserId,
    members: UserId[],
    now: number,
    dmKey: string | null = null,
  ): ConversationRecord {
    const id = asConversationId(randomUUID());
    this.st.insertConversation.run({
      id,
      kind,
      name,
      name_key: kind === 'channel' && name !== null ? channelKeyOf(name) : null,
      created_by: createdBy,
      created_at: now,
      dm_key: dmKey,
    });
    for (const userId of members) this.st.insertMember.run({ conv: id, user: userId, now });
    return {
      id,
      kind,
      name,
      topic: null,
      createdBy,
      createdAt: now,
      lastSeq: 0,
      lastChangeSeq: 0,
      lastActivityAt: now,
    };
  }

  async ensureChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord> {
    checkText('name', input.name);
    return this.sqlite
      .transaction(() => {
        const existing = this.st.channelByKey.get(channelKeyOf(input.name));
        if (existing) return toConversation(existing);
        return this.insertConversation('channel', input.name, input.createdBy, [], now);
      })
      .immediate();
  }

  async updateConversation(
    conv: ConversationId,
    actor: UserId,
    change: { name?: string; topic?: string | null },
  ): Promise<ConversationRecord> {
    if (change.name !== undefined) checkText('name', change.name);
    if (change.topic !== undefined && change.topic !== null) checkText('topic', change.topic);
    try {
      return this.sqlite
        .transaction(() => {
          const row = this.st.conversation.get(conv);
          checkManager(
            row && toConversation(row),
            this.st.member.get(conv, actor) !== undefined,
            actor,
            'rename',
          );
          if (change.name !== undefined) {
            const key = row!.kind === 'channel' ? channelKeyOf(change.name) : null;
            this.st.rename.run({ id: conv, name: change.name, name_key: key });
          }
          if (change.topic !== undefined) this.st.setTopic.run({ id: conv, topic: change.topic });
          return toConversation(this.st.conversation.get(conv)!);
        })
        .immediate();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ChatError('conflict', `a channel named "${change.name}" exists`);
      }
      throw err;
    }
  }

  async addMembers(
    conv: ConversationId,
    actor: UserId,
    userIds: UserId[],
    now: number,
    maxMembers: number,
  ): Promise<UserId[]> {
    for (const userId of userIds) checkText('members', userId);
    return this.sqlite
      .transaction(() => {
        const row = this.st.conversation.get(conv);
        checkManager(
          row && toConversation(row),
          this.st.member.get(conv, actor) !== undefined,
          actor,
          'members',
        );
        const fresh = [...new Set(userIds)].filter((u) => this.st.member.get(conv, u) === undefined);
        checkGroupSize((this.st.memberCount.get(conv)?.n ?? 0) + fresh.length, maxMembers);
        for (const userId of fresh) this.st.insertMember.run({ conv, user: userId, now });
        return fresh;
      })
      .immediate();
  }

  async removeMemberAs(conv: ConversationId, actor: UserId, userId: UserId): Promise<boolean> {
    return this.sqlite
      .transaction(() => {
        const row = this.st.conversation.get(conv);
        checkManager(
          row && toConversation(row),
          this.st.member.get(conv, actor) !== undefined,
          actor,
          'members',
        );
        return this.st.deleteMember.run(conv, userId).changes === 1;
      })
      .immediate();
  }

  async updateSettings(conv: ConversationId, userId: UserId, settings: MemberSettings): Promise<void> {
    this.sqlite
      .transaction(() => {
        const row = this.st.conversation.get(conv);
        if (!row) throw new ChatError('not_found', 'no such conversation');
        if (!this.st.member.get(conv, userId)) throw new ChatError('not_member');
        checkSettings(row.kind, settings);
        if (settings.muted !== undefined) {
          this.st.setMuted.run({ conv, user: userId, muted: settings.muted ? 1 : 0 });
        }
        if (settings.hidden !== undefined) {
          this.st.setHidden.run({ conv, user: userId, hidden: settings.hidden ? 1 : 0 });
        }
      })
      .immediate();
  }

  /**
   * First visits of one event-loop turn commit together: a connect storm of new users costs
   * one fsync'd commit per turn rather than one per connect. Each visit runs in its own
   * savepoint, so one that fails fails alone; every promise resolves after the commit.
   */
  welcome(userId: UserId, channels: ConversationId[], now: number): Promise<ConversationId[]> {
    checkText('userId', userId);
    return new Promise((resolve, reject) => {
      if (this.welcomes === undefined) {
        this.welcomes = [];
        setImmediate(() => this.commitWelcomes());
      }
      this.welcomes.push({ userId, channels, now, resolve, reject });
    });
  }

  private commitWelcomes(): void {
    const batch = this.welcomes ?? [];
    this.welcomes = undefined;
    let outcomes: ({ joined: ConversationId[] } | { err: unknown })[];
    try {
      const visit = this.sqlite.transaction((w: PendingWelcome): ConversationId[] => {
        if (this.st.insertSeenUser.run(w.userId, w.now).changes === 0) return [];
        return [...new Set(w.channels)].filter(
          (conv) => this.st.insertMember.run({ conv, user: w.userId, now: w.now }).changes === 1,
        );
      });
      outcomes = this.sqlite
        .transaction(() =>
          batch.map((w) => {
            try {
              // Nested: a savepoint, rolled back alone when this visit throws.
              return { joined: visit(w) };
            } catch (err) {
              return { err };
            }
          }),
        )
        .immediate();
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    outcomes.forEach((outcome, i) => {
      if ('err' in outcome) batch[i]!.reject(outcome.err);
      else batch[i]!.resolve(outcome.joined);
    });
  }

  async getConversation(id: ConversationId): Promise<ConversationRecord | undefined> {
    const row = this.st.conversation.get(id);
    return row && toConversation(row);
  }

  async listChannels(input: {
    userId: UserId;
    q?: string;
    limit: number;
    after?: string;
  }): Promise<ChannelRecord[]> {
    const rows = this.st.channels.all({
      user: input.userId,
      prefix: input.q ? channelKeyOf(input.q) : '',
      after: input.after ? channelKeyOf(input.after) : '',
      limit: pageLimit(input.limit),
    });
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      memberCount: r.member_count,
      joined: r.joined === 1,
      lastActivityAt: r.last_activity_at,
    }));
  }

  async addMember(conv: ConversationId, userId: UserId, now: number): Promise<boolean> {
    return this.sqlite
      .transaction(() => {
        if (!this.st.conversation.get(conv)) throw new ChatError('not_found', 'no such conversation');
        return this.st.insertMember.run({ conv, user: userId, now }).changes === 1;
      })
      .immediate();
  }

  async removeMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    return this.st.deleteMember.run(conv, userId).changes === 1;
  }

  async isMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    return this.st.member.get(conv, userId) !== undefined;
  }

  async listMembers(conv: ConversationId, limit?: number): Promise<UserId[]> {
    // LIMIT -1 is "no limit" to SQLite.
    return this.st.membersOf.all(conv, limit === undefined ? -1 : pageLimit(limit)).map((r) => r.user_id);
  }

  async memberCount(conv: ConversationId): Promise<number> {
    return this.st.memberCount.get(conv)?.n ?? 0;
  }

  async conversationsOf(userId: UserId, page?: ConversationPage): Promise<ConversationState[]> {
    checkConversationPage(page);
    // LIMIT -1 is "no limit" to SQLite.
    const limit = page === undefined ? -1 : pageLimit(page.limit);
    if (limit === 0) return [];
    // One read transaction: every state sees the same snapshot.
    return this.sqlite.transaction(() => {
      const rows = page?.before
        ? this.st.statesBefore.all({
            user: userId,
            at: page.before.lastActivityAt,
            id: page.before.id,
            limit,
            visible: page.visibleOnly ? 1 : 0,
          })
        : this.st.statesOf.all({ user: userId, limit, visible: page?.visibleOnly ? 1 : 0 });
      return rows.map((row) => this.stateOf(row, userId));
    })();
  }

  async conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined> {
    return this.sqlite.transaction(() => {
      const row = this.st.stateOf.get({ conv, user: userId });
      return row && this.stateOf(row, userId);
    })();
  }

  /** A conversation state from its row (inside a read transaction). */
  private stateOf(row: StateRow, userId: UserId): ConversationState {
    const record = toConversation(row);
    const last = record.lastSeq > 0 ? this.st.messageBySeq.get(record.id, record.lastSeq) : undefined;
    const unreadMentions = row.unread_mentions;
    return {
      ...record,
      lastReadSeq: row.last_read_seq,
      unread: Math.max(0, record.lastSeq - row.last_read_seq),
      unreadMentions,
      mentionSeqs:
        unreadMentions === 0
          ? []
          : this.st.mentionSeqs
              .all({ user: userId, conv: record.id, after: row.last_read_seq, limit: LIMITS.maxMentionSeqs })
              .map((m) => m.seq)
              .reverse(),
      muted: row.muted === 1,
      hidden: isHidden(row.hidden_seq, record.lastSeq),
      memberCount: row.member_count,
      memberIds: this.st.membersOf.all(record.id, MEMBERS_PREVIEW).map((m) => m.user_id),
      lastMessage: last ? withoutClientMsgId(this.complete([last])[0]!) : null,
    };
  }

  /**
   * The messages of `rows` with their mentions and reactions (two range reads per
   * conversation of the page), in the order of `rows`.
   */
  private complete(rows: readonly MessagesTable[]): StoredHistoryMessage[] {
    if (rows.length === 0) return [];
    const mentions = new Map<string, UserId[]>();
    const reactions = new Map<string, ReactionRow[]>();
    for (const conv of new Set(rows.map((r) => r.conv))) {
      const seqs = JSON.stringify(rows.filter((r) => r.conv === conv).map((r) => r.seq));
      for (const m of this.st.mentionsOf.all({ conv, seqs })) {
        const key = `${conv}\u0000${m.seq}`;
        const list = mentions.get(key);
        if (list) list.push(m.user_id);
        else mentions.set(key, [m.user_id]);
      }
      for (const r of this.st.reactionsOf.all({ conv, seqs, shown: LIMITS.reactionUsersShown })) {
        const key = `${conv}\u0000${r.seq}`;
        const row = { emoji: r.emoji, user: r.user_id, order: r.change_seq, first: r.first_seq, count: r.n };
        const list = reactions.get(key);
        if (list) list.push(row);
        else reactions.set(key, [row]);
      }
    }
    return rows.map((r) =>
      toStoredMessage(r, mentions.get(`${r.conv}\u0000${r.seq}`), reactions.get(`${r.conv}\u0000${r.seq}`)),
    );
  }

  /** One message in its current state, or undefined. */
  private messageAt(conv: ConversationId, seq: number): StoredHistoryMessage | undefined {
    const row = this.st.messageBySeq.get(conv, seq);
    return row && this.complete([row])[0];
  }

  async spokeWith(userId: UserId, others: UserId[]): Promise<Set<UserId>> {
    if (others.length === 0) return new Set();
    const rows = this.st.spokeWith.all({ user: userId, others: JSON.stringify([...new Set(others)]) });
    return new Set(rows.map((r) => r.user_id));
  }

  async conversationsCreatedSince(userId: UserId, since: number): Promise<number> {
    checkSeq('since', since);
    return this.st.createdSince.get(userId, since)?.n ?? 0;
  }

  async append(inputs: AppendInput[]): Promise<AppendOutcome[]> {
    if (inputs.length === 0) return [];
    checkAppendInputs(inputs);
    const fresh: StoredMessage[] = [];
    const outcomes = this.sqlite.transaction(() => this.appendInTransaction(inputs, fresh)).immediate();
    // Committed: the text index may list them now (a rolled-back append lists nothing).
    if (this.searchIndex) {
      this.st.search.queue(fresh);
      this.indexLater();
    }
    return outcomes;
  }

  /**
   * Schedules the catch-up of the text index (sqlite-search.ts) after appends: on the next
   * turn once INDEX_BATCH messages are pending, else after INDEX_DELAY_MS; a search catches
   * up first anyway. Appends that never yield to the event loop (a bulk import) catch up
   * all at once past four times INDEX_BATCH.
   */
  private indexLater(): void {
    const pending = this.st.search.pending;
    if (pending === 0) return;
    if (pending >= 4 * INDEX_BATCH) this.indexNow(Number.POSITIVE_INFINITY);
    else if (pending >= INDEX_BATCH && !this.indexSoon) {
      clearTimeout(this.indexTimer);
      this.indexTimer = undefined;
      this.indexSoon = setImmediate(() => this.indexNow());
    } else if (!this.indexSoon && !this.indexTimer) {
      this.indexTimer = setTimeout(() => this.indexNow(), this.indexDelayMs);
      this.indexTimer.unref();
    }
  }

  /**
   * Indexes up to `max` pending messages in one transaction, and schedules the rest for the
   * next turn, so appends that arrived meanwhile go first. The transaction commits without
   * its own fsync (`synchronous = NORMAL`): the index is derived from the messages, and the
   * WAL keeps commits in order, so a power cut loses such a commit only with every later
   * one, and the next process's first catch-up finds its messages again (they follow their
   * conversations' last indexed seq) — and the next append's fsync covers it anyway.
   */
  private indexNow(max = INDEX_BATCH): void {
    this.clearIndexTimers();
    if (this.closing) return;
    try {
      this.catchUp(max);
    } catch (err) {
      // The messages stay pending: the next append, search or start catches up.
      this.logger?.warn({ err }, 'indexing messages for search failed');
    }
    if (this.st.search.pending > 0) this.indexSoon = setImmediate(() => this.indexNow());
  }

  private clearIndexTimers(): void {
    clearTimeout(this.indexTimer);
    clearImmediate(this.indexSoon);
    this.indexTimer = undefined;
    this.indexSoon = undefined;
  }

  /** One catch-up transaction of up to `max` pending messages (see indexNow); throws. */
  private catchUp(max: number): void {
    const synchronous = this.sqlite.pragma('synchronous', { simple: true }) as number;
    this.sqlite.pragma('synchronous = NORMAL');
    try {
      const indexed = this.sqlite.transaction(() => this.st.search.catchUp(max)).immediate();
      this.st.search.caughtUp(indexed);
    } finally {
      this.sqlite.pragma(`synchronous = ${synchronous}`);
    }
  }

  /**
   * Runs under BEGIN IMMEDIATE, which holds SQLite's write lock: no membership change can
   * commit between the check below and this batch's commit.
   */
  private appendInTransaction(inputs: AppendInput[], fresh: StoredMessage[]): AppendOutcome[] {
    const stored = new Map<string, StoredMessage>();
    for (const key of distinctSendKeys(inputs)) {
      const row = this.st.messageByKey.get(key.sender, key.clientMsgId);
      if (row) stored.set(sendKeyOf(key.sender, key.clientMsgId), this.complete([row])[0]!);
    }
    const plan = new AppendPlan(inputs, stored);
    const refused = new Map<Candidate, AppendRefusal>();
    const accepted: Candidate[] = [];
    for (const candidate of plan.candidates) {
      const { conv, sender, replyTo } = candidate.input;
      if (!this.st.member.get(conv, sender)) {
        refused.set(candidate, this.st.conversation.get(conv) ? 'not_member' : 'not_found');
        continue;
      }
      // Only messages stored before this batch: a reply to one of the same batch is refused.
      if (replyTo !== undefined) {
        const parent = this.st.messageBySeq.get(conv, replyTo);
        if (!parent) {
          refused.set(candidate, 'bad_reply');
          continue;
        }
        candidate.threadRoot = parent.thread_root ?? parent.seq;
      }
      if (candidate.mentions.some((u) => !this.st.member.get(conv, u))) {
        refused.set(candidate, 'bad_mentions');
        continue;
      }
      accepted.push(candidate);
    }
    const allocation = new SeqAllocation(accepted);
    const lastSeqs = new Map<ConversationId, number>();
    for (const bump of allocation.bumps) {
      // The conversation exists: its sender's membership row references it.
      const row = this.st.bumpConversation.get(bump.count, bump.maxTs, bump.conv)!;
      lastSeqs.set(bump.conv, row.last_seq);
    }
    const { messages, senders } = allocation.assign(lastSeqs);
    for (const m of messages) {
      this.st.insertMessage.run({
        conv: m.conv,
        seq: m.seq,
        id: m.id,
        sender: m.from,
        client_msg_id: m.clientMsgId,
        body: m.body,
        ts: m.ts,
        reply_to: m.replyTo ?? null,
        thread_root: m.threadRoot ?? null,
      });
      for (const [pos, user] of (m.mentions ?? []).entries()) {
        this.st.insertMention.run({ conv: m.conv, seq: m.seq, user, pos });
      }
    }
    fresh.push(...messages);
    for (const s of senders) this.st.bumpSender.run({ seq: s.seq, conv: s.conv, user: s.userId });
    // Each thread root the batch replied to takes one change: its reply count and time.
    const roots = new Map<string, StoredMessage>();
    for (const root of threadRoots(accepted)) {
      const cs = this.st.bumpChange.get(root.conv)!.last_change_seq;
      this.st.bumpRoot.run({ conv: root.conv, seq: root.seq, n: root.count, ts: root.maxTs, cs });
      roots.set(rootKeyOf(root.conv, root.seq), this.messageAt(root.conv, root.seq)!);
    }
    return plan.settle(
      new Map(messages.map((m) => [m.id, m.seq])),
      (c) => refused.get(c)!,
      (c) => (c.threadRoot === undefined ? undefined : roots.get(rootKeyOf(c.input.conv, c.threadRoot))),
    );
  }

  async history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<StoredHistoryMessage[]> {
    checkPage(page);
    const limit = pageLimit(page.limit);
    if (page.after !== undefined) {
      return this.sqlite.transaction(() =>
        this.complete(
          this.st.historyAfter.all(conv, page.after!, page.before ?? Number.MAX_SAFE_INTEGER, limit),
        ),
      )();
    }
    return this.sqlite.transaction(() =>
      this.complete(this.st.historyBefore.all(conv, page.before ?? Number.MAX_SAFE_INTEGER, limit).reverse()),
    )();
  }

  async markRead(conv: ConversationId, userId: UserId, seq: number): Promise<number> {
    checkSeq('seq', seq);
    return this.sqlite
      .transaction(() => {
        const row = this.st.markRead.get({ seq, conv, user: userId });
        if (row) return row.last_read_seq;
        if (!this.st.member.get(conv, userId)) throw new ChatError('not_member');
        throw new ChatError('seq_out_of_range', `seq ${seq} is past the conversation's last message`);
      })
      .immediate();
  }

  async markAllRead(userId: UserId): Promise<{ conv: ConversationId; seq: number }[]> {
    return this.st.markAllRead.all(userId).map((r) => ({ conv: r.conv, seq: r.last_read_seq }));
  }

  // --- messages that change -----------------------------------------------------------

  /**
   * Checks, under the write lock, what every change checks first: the conversation exists
   * (`not_found`), `actor` is a member (`not_member`), the message exists (`not_found`).
   */
  private changeTarget(conv: ConversationId, seq: number, actor: UserId) {
    const row = this.st.conversation.get(conv);
    if (!row) throw noConversation();
    if (!this.st.member.get(conv, actor)) throw notMember();
    const message = this.st.messageBySeq.get(conv, seq);
    if (!message) throw noMessage();
    return { conversation: toConversation(row), message };
  }

  async editMessage(input: EditInput): Promise<ChangeOutcome> {
    const { conv, seq, actor, body, now } = input;
    checkMessageSeq(seq);
    checkText('body', body);
    const mentions = normalizeMentions(actor, input.mentions);
    return this.sqlite
      .transaction((): ChangeOutcome => {
        const { message } = this.changeTarget(conv, seq, actor);
        checkEdit({ from: message.sender, deleted: message.deleted }, actor);
        const current = this.complete([message])[0]!;
        if (message.body === body && sameMentions(current.mentions ?? [], mentions)) {
          return { message: current, changed: false };
        }
        if (mentions.some((u) => !this.st.member.get(conv, u))) throw badMentions();
        const cs = this.st.bumpChange.get(conv)!.last_change_seq;
        this.st.editMessage.run({ conv, seq, body, now, cs });
        this.st.search.reindex(conv, seq, body);
        this.st.deleteMentions.run(conv, seq);
        for (const [pos, user] of mentions.entries()) this.st.insertMention.run({ conv, seq, user, pos });
        return { message: this.messageAt(conv, seq)!, changed: true };
      })
      .immediate();
  }

  async deleteMessage(
    conv: ConversationId,
    seq: number,
    actor: UserId,
    _now: number,
  ): Promise<ChangeOutcome> {
    checkMessageSeq(seq);
    return this.sqlite
      .transaction((): ChangeOutcome => {
        const { conversation, message } = this.changeTarget(conv, seq, actor);
        checkDelete({ from: message.sender }, conversation, actor);
        if (message.deleted) return { message: this.complete([message])[0]!, changed: false };
        const cs = this.st.bumpChange.get(conv)!.last_change_seq;
        this.st.tombstone.run({ conv, seq, cs });
        this.st.search.unindex(conv, seq);
        this.st.deleteMentions.run(conv, seq);
        this.st.deleteReactions.run(conv, seq);
        return { message: this.messageAt(conv, seq)!, changed: true };
      })
      .immediate();
  }

  async react(input: ReactInput): Promise<ChangeOutcome> {
    const { conv, seq, actor, emoji, on, maxDistinct } = input;
    checkMessageSeq(seq);
    checkEmoji(emoji);
    return this.sqlite
      .transaction((): ChangeOutcome => {
        const { message } = this.changeTarget(conv, seq, actor);
        if (message.deleted) throw reactToDeleted();
        const had = this.st.reaction.get(conv, seq, emoji, actor) !== undefined;
        if (had === on) return { message: this.complete([message])[0]!, changed: false };
        if (on) {
          if (
            !this.st.hasEmoji.get(conv, seq, emoji) &&
            this.st.distinctEmoji.get(conv, seq)!.n >= maxDistinct
          ) {
            throw tooManyReactions(maxDistinct);
          }
          const cs = this.st.bumpChange.get(conv)!.last_change_seq;
          this.st.insertReaction.run({ conv, seq, emoji, user: actor, cs });
          this.st.stampChange.run(cs, conv, seq);
        } else {
          const cs = this.st.bumpChange.get(conv)!.last_change_seq;
          this.st.deleteReaction.run(conv, seq, emoji, actor);
          this.st.stampChange.run(cs, conv, seq);
        }
        return { message: this.messageAt(conv, seq)!, changed: true };
      })
      .immediate();
  }

  async changesSince(
    conv: ConversationId,
    after: number,
    limit: number,
  ): Promise<{ messages: StoredHistoryMessage[]; lastChangeSeq: number }> {
    checkSeq('after', after);
    const n = changesLimit(limit);
    return this.sqlite.transaction(() => ({
      messages: n === 0 ? [] : this.complete(this.st.changesAfter.all(conv, after, n)),
      lastChangeSeq: this.st.lastChangeSeq.get(conv)?.last_change_seq ?? 0,
    }))();
  }

  async thread(
    conv: ConversationId,
    root: number,
    page: { after?: number; limit: number },
  ): Promise<StoredHistoryMessage[]> {
    checkSeq('root', root);
    const after = checkSeq('after', page.after ?? 0);
    const n = changesLimit(page.limit);
    if (n === 0) return [];
    return this.sqlite.transaction(() => this.complete(this.st.threadAfter.all(conv, root, after, n)))();
  }

  async around(conv: ConversationId, seq: number, limit: number): Promise<StoredHistoryMessage[]> {
    checkSeq('seq', seq);
    const n = changesLimit(limit);
    if (n === 0) return [];
    return this.sqlite.transaction(() =>
      this.complete(
        aroundPage(this.st.historyBefore.all(conv, seq, n), this.st.fromSeq.all(conv, seq, n), n),
      ),
    )();
  }

  // --- search -------------------------------------------------------------------------

  async search(input: SearchInput): Promise<SearchPage> {
    const limit = pageLimit(input.limit);
    if (input.before !== undefined) checkSeq('before', input.before);
    if (input.after !== undefined) checkSeq('after', input.after);
    if (!this.searchIndex) throw new ChatError('forbidden', 'message search is turned off on this server');
    if (limit === 0) return { hits: [], next: null };
    // The index first catches up with every message this process stored so far (nothing
    // runs in between: both transactions are synchronous), then both tiers and the
    // messages' mentions and reactions are read in one transaction, from the same state.
    this.clearIndexTimers();
    if (this.st.search.behind) this.catchUp(Number.POSITIVE_INFINITY);
    return this.sqlite.transaction(() => {
      const { rows, next } = this.st.search.search(input, limit, this.searchMemberDrivenMax);
      return { hits: this.complete(rows), next };
    })();
  }
}
