import { randomUUID } from 'node:crypto';
import {
  asConversationId,
  ChatError,
  type ConversationId,
  LIMITS,
  MEMBERS_PREVIEW,
  type UserId,
} from '@relay-chat/protocol';
import {
  type DatabaseLimits,
  type Logger,
  type OpenedDatabase,
  openDatabase,
  PREPARE,
} from '@relay-chat/service-kit';
import { type Kysely, type Migration, sql } from 'kysely';
import { searchText } from '../search/search-text.js';
import { AppendPlan, distinctSendKeys, rootKeyOf, type StoredMessage, sendKeyOf } from './append-plan.js';
import {
  channelKeyOf,
  checkAppendInputs,
  checkConversationPage,
  checkPage,
  checkSeq,
  checkText,
  dmKeyOf,
  escapeLike,
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
import {
  cleanPendingLists,
  cursorPosition,
  hitsWanted,
  markSearchGap,
  migrateSearch,
  migrateSearchPairs,
  pairsColumn,
  planSearch,
  RECENT_WINDOW,
  recentHits,
  tierHits,
} from './postgres-search.js';
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

const migrations: Record<string, Migration> = {
  '0001_chat': {
    async up(db: Kysely<unknown>) {
      // name_key is compared byte-wise (COLLATE "C") so that `LIKE 'prefix%'` can use its index.
      await sql`CREATE TABLE conversations (
        id text PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('dm', 'group', 'channel')),
        name text,
        name_key text COLLATE "C",
        created_by text NOT NULL,
        created_at bigint NOT NULL,
        last_seq bigint NOT NULL DEFAULT 0,
        last_activity_at bigint NOT NULL,
        dm_key text UNIQUE
      )`.execute(db);
      await sql`CREATE UNIQUE INDEX conversations_channel_name ON conversations (name_key) WHERE kind = 'channel'`.execute(
        db,
      );
      await sql`CREATE TABLE members (
        conv text NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        user_id text NOT NULL,
        last_read_seq bigint NOT NULL DEFAULT 0,
        joined_at bigint NOT NULL,
        ord bigint GENERATED ALWAYS AS IDENTITY,
        PRIMARY KEY (conv, user_id)
      )`.execute(db);
      await sql`CREATE INDEX members_user ON members (user_id, conv)`.execute(db);
      await sql`CREATE INDEX members_conv_ord ON members (conv, ord)`.execute(db);
      // No foreign key to conversations: append inserts only under the conversation's row
      // lock, after checking it exists, and a per-row FK check would cost every insert.
      await sql`CREATE TABLE messages (
        conv text NOT NULL,
        seq bigint NOT NULL,
        id text NOT NULL,
        sender text NOT NULL,
        client_msg_id text NOT NULL,
        body text NOT NULL,
        ts bigint NOT NULL,
        PRIMARY KEY (conv, seq),
        CONSTRAINT messages_sender_client_msg_id_key UNIQUE (sender, client_msg_id)
      )`.execute(db);
    },
  },
  // Member counts kept in the conversation row by triggers, in the same transaction as the
  // membership change: reading a big channel's count is one row, not a scan of its members.
  '0002_member_count': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE conversations ADD COLUMN member_count integer NOT NULL DEFAULT 0`.execute(db);
      await sql`UPDATE conversations c SET member_count = (SELECT count(*) FROM members m WHERE m.conv = c.id)`.execute(
        db,
      );
      await sql`CREATE FUNCTION count_members() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            UPDATE conversations SET member_count = member_count + 1 WHERE id = NEW.conv;
          ELSE
            UPDATE conversations SET member_count = member_count - 1 WHERE id = OLD.conv;
          END IF;
          RETURN NULL;
        END $$`.execute(db);
      await sql`CREATE TRIGGER members_counted AFTER INSERT OR DELETE ON members
        FOR EACH ROW EXECUTE FUNCTION count_members()`.execute(db);
    },
  },
  // Who has spoken where (`last_sent_seq`, moved by append with the read marker), for the
  // rule on who may add whom to a group; and an index for counting what a user created.
  // Adding a NOT NULL column with a constant default rewrites nothing (PostgreSQL ≥ 11).
  '0003_sent_and_created': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE members ADD COLUMN last_sent_seq bigint NOT NULL DEFAULT 0`.execute(db);
      // Only messages since the member's current join, as append would have counted them.
      await sql`UPDATE members mb SET last_sent_seq = s.seq
        FROM (
          SELECT m.conv, m.sender, max(m.seq) AS seq
          FROM messages m JOIN members j ON j.conv = m.conv AND j.user_id = m.sender
          WHERE m.ts >= j.joined_at
          GROUP BY m.conv, m.sender
        ) AS s
        WHERE mb.conv = s.conv AND mb.user_id = s.sender`.execute(db);
      await sql`CREATE INDEX conversations_created ON conversations (created_by, created_at) WHERE kind <> 'dm'`.execute(
        db,
      );
    },
  },
  // Managing conversations (issue 12): a topic per conversation; each member's mute and the
  // seq up to which they hid a DM; and the users chat has seen, so that the default channels
  // are joined on a user's first visit only (leaving them is respected). Everyone who is a
  // member somewhere already is not new. New columns are nullable or have a constant
  // default: no table rewrite.
  '0004_manage': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE conversations ADD COLUMN topic text`.execute(db);
      await sql`ALTER TABLE members ADD COLUMN muted boolean NOT NULL DEFAULT false`.execute(db);
      await sql`ALTER TABLE members ADD COLUMN hidden_seq bigint`.execute(db);
      await sql`CREATE TABLE chat_users (user_id text PRIMARY KEY, first_seen_at bigint NOT NULL)`.execute(
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
  // column is nullable or has a constant default (no table rewrite), nothing is backfilled.
  '0005_changes': {
    async up(db: Kysely<unknown>) {
      await sql`ALTER TABLE messages
        ADD COLUMN reply_to bigint,
        ADD COLUMN thread_root bigint,
        ADD COLUMN edited_at bigint,
        ADD COLUMN deleted boolean NOT NULL DEFAULT false,
        ADD COLUMN reply_count integer NOT NULL DEFAULT 0,
        ADD COLUMN last_reply_at bigint,
        ADD COLUMN change_seq bigint`.execute(db);
      await sql`ALTER TABLE conversations ADD COLUMN last_change_seq bigint NOT NULL DEFAULT 0`.execute(db);
      // What a device that applied changes up to N is missing: one range of this index.
      await sql`CREATE INDEX messages_changes ON messages (conv, change_seq) WHERE change_seq IS NOT NULL`.execute(
        db,
      );
      // A thread's replies in seq order.
      await sql`CREATE INDEX messages_threads ON messages (conv, thread_root, seq) WHERE thread_root IS NOT NULL`.execute(
        db,
      );
      await sql`CREATE TABLE mentions (
        conv text NOT NULL,
        seq bigint NOT NULL,
        user_id text NOT NULL,
        pos integer NOT NULL,
        PRIMARY KEY (conv, seq, user_id)
      )`.execute(db);
      // A user's unread mentions in a conversation: one range (seq > their read marker).
      await sql`CREATE INDEX mentions_user ON mentions (user_id, conv, seq)`.execute(db);
      // change_seq: the change that set the reaction (users are listed in that order);
      // first_seq: the change that first put its emoji on the message (the emoji's order).
      await sql`CREATE TABLE reactions (
        conv text NOT NULL,
        seq bigint NOT NULL,
        emoji text NOT NULL,
        user_id text NOT NULL,
        change_seq bigint NOT NULL,
        first_seq bigint NOT NULL,
        PRIMARY KEY (conv, seq, emoji, user_id)
      )`.execute(db);
    },
  },
  // Message search (issue 14): every live message's normal form in message_search, with a
  // pg_trgm index; written from now on by append, edit and delete (see postgres-search.ts).
  '0006_search': {
    up: migrateSearch,
  },
  // CJK terms looked up by their pairs of characters (see migrateSearchPairs).
  '0007_search_pairs': {
    up: migrateSearchPairs,
  },
  // A row while appends go unindexed (SEARCH_INDEX=off): the next start with indexing on
  // indexes what they stored (see markSearchGap).
  '0008_search_gap': {
    async up(db) {
      await sql`CREATE TABLE search_gap (since bigint NOT NULL)`.execute(db);
    },
  },
};

/** The PostgreSQL store's migrations, in order (exported for the upgrade test). */
export const postgresMigrations: Readonly<Record<string, Migration>> = migrations;

interface Cleaner {
  timer: NodeJS.Timeout;
  db: OpenedDatabase<unknown>;
  /** The merge under way. */
  running?: Promise<void> | undefined;
}

/** Most rows a search below the recent window may walk one by one (see search). */
const WALK_MAX = 50_000;

/** How often the search indexes' pending lists are merged (see startCleaner). */
const PENDING_CLEAN_MS = 1000;

/** The cleaner's connection: a merge of a long pending list may take seconds. */
const CLEANER_LIMITS: Readonly<DatabaseLimits> = Object.freeze({
  acquireTimeoutMs: 5000,
  queryTimeoutMs: 120_000,
  statementTimeoutMs: 110_000,
  maxWaiting: 1,
});

/** Attempts of one append batch before its error is thrown (unique races, deadlocks). */
const MAX_APPEND_ATTEMPTS = 5;

/** Options of the PostgreSQL store. */
export interface PostgresMessageStoreOptions {
  logger?: Logger;
  /** Largest connection pool. Default 10. */
  poolSize?: number;
  /** Waits and timeouts of the pool (service-kit's defaults when absent). */
  limits?: Readonly<DatabaseLimits>;
  /**
   * How many of a searcher's newest rows a search reads before it asks the text indexes
   * (see RECENT_WINDOW, the default). Tests make it small to search through the indexes.
   */
  searchWindow?: number;
  /**
   * Most rows a search below the window may walk one by one before the text indexes must
   * answer (see search; default WALK_MAX). Tests set 0 to make them answer every time.
   */
  searchWalkMax?: number;
  /**
   * Index appends for search (default true). False (SEARCH_INDEX=off): appends write no
   * `message_search` row and `search` is `forbidden`; edits and deletes still keep the rows
   * there true. Migrating with it on first indexes what was stored meanwhile (see
   * markSearchGap).
   */
  searchIndex?: boolean;
}

type StateRow = ConversationRow & {
  last_read_seq: number;
  muted: boolean;
  hidden_seq: number | null;
  member_count: number;
  member_ids: UserId[];
  unread_mentions: number;
  mention_seqs: (number | string)[];
  last_message: MessageRow | null;
};

/**
 * The deployed message store on PostgreSQL. Seqs are gapless because each batch adds its
 * count to `conversations.last_seq` with `UPDATE … RETURNING` in the transaction that
 * inserts the messages: the row lock serialises writers of one conversation, and a rolled
 * back batch gives its numbers back. A batch of new messages is one statement — one round
 * trip and one durable commit — whatever its size; see `writeBatch`.
 */
export class PostgresMessageStore implements MessageStore {
  private readonly opened: OpenedDatabase<ChatTables>;
  private readonly db: Kysely<ChatTables>;
  private readonly logger: Logger | undefined;
  private readonly searchWindow: number;
  private readonly searchWalkMax: number;
  private readonly searchIndex: boolean;
  /** Merges the text indexes' pending lists every PENDING_CLEAN_MS, once migrated. */
  private cleaner:
    | { timer: NodeJS.Timeout; db: OpenedDatabase<unknown>; running?: Promise<void> }
    | undefined;

  /** `url`: `postgres://…` or `postgresql://…`. */
  constructor(url: string, options: PostgresMessageStoreOptions = {}) {
    this.opened = openDatabase<ChatTables>(url, {
      variable: 'MESSAGE_STORE_URL',
      poolSize: options.poolSize ?? 10,
      ...(options.limits ? { limits: options.limits } : {}),
    });
    this.db = this.opened.db;
    this.logger = options.logger;
    this.searchWindow = options.searchWindow ?? RECENT_WINDOW;
    this.searchWalkMax = options.searchWalkMax ?? WALK_MAX;
    this.searchIndex = options.searchIndex ?? true;
    this.url = url;
  }

  private readonly url: string;

  async migrate(): Promise<void> {
    // Migrations may rebuild indexes: they run without the request timeouts.
    await this.opened.withoutTimeouts(async (db) => {
      await runChatMigrations(db, migrations);
      await markSearchGap(db, this.searchIndex, this.logger);
    });
    this.startCleaner();
  }

  /**
   * Merges the pending lists of the search indexes in the background (cleanPendingLists),
   * on a connection of its own whose statements may run long: appends never do it.
   */
  private startCleaner(): void {
    if (this.cleaner) return;
    const db = openDatabase<unknown>(this.url, {
      variable: 'MESSAGE_STORE_URL',
      poolSize: 1,
      limits: CLEANER_LIMITS,
    });
    const cleaner: Cleaner = {
      db,
      timer: setInterval(() => {
        if (cleaner.running) return;
        cleaner.running = cleanPendingLists(db.db)
          .catch((err: unknown) =>
            this.logger?.warn({ err }, 'merging the search index pending lists failed'),
          )
          .finally(() => {
            cleaner.running = undefined;
          });
      }, PENDING_CLEAN_MS),
    };
    cleaner.timer.unref();
    this.cleaner = cleaner;
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  async close(): Promise<void> {
    const cleaner = this.cleaner;
    this.cleaner = undefined;
    if (cleaner) {
      clearInterval(cleaner.timer);
      await cleaner.running;
      await cleaner.db.close();
    }
    await this.opened.close();
  }

  async getOrCreateDm(
    a: UserId,
    b: UserId,
    now: number,
  ): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const key = dmKeyOf(a, b);
    const existing = await this.dmByKey(key);
    if (existing) return { conversation: existing, created: false };
    // ON CONFLICT waits for a concurrent creator to commit, then inserts nothing.
    const created = await this.insertConversation('dm', null, a, [a, b], now, key);
    if (created) return { conversation: created, created: true };
    const winner = await this.dmByKey(key);
    if (!winner) throw new Error('DM vanished after a conflicting insert');
    return { conversation: winner, created: false };
  }

  private async dmByKey(key: string): Promise<ConversationRecord | undefined> {
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns} FROM conversations c WHERE c.dm_key = ${key}`.execute(this.db);
    return rows[0] && toConversation(rows[0]);
  }

  async createGroup(
    input: { name: string; createdBy: UserId; members: UserId[] },
    now: number,
  ): Promise<ConversationRecord> {
    checkText('name', input.name);
    const members = initialMembers(input.createdBy, input.members);
    return (await this.insertConversation('group', input.name, input.createdBy, members, now))!;
  }

  async createChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord> {
    checkText('name', input.name);
    try {
      return (await this.insertConversation('channel', input.name, input.createdBy, [input.createdBy], now))!;
    } catch (err) {
      if (isUniqueViolation(err, 'conversations_channel_name')) {
        throw new ChatError('conflict', `a channel named "${input.name}" exists`);
      }
      throw err;
    }
  }

  /** Inserts a conversation and its members in one statement; undefined when the DM key exists. */
  private async insertConversation(
    kind: ConversationRecord['kind'],
    name: string | null,
    createdBy: UserId,
    members: UserId[],
    now: number,
    dmKey: string | null = null,
  ): Promise<ConversationRecord | undefined> {
    const id = asConversationId(randomUUID());
    const nameKey = kind === 'channel' && name !== null ? channelKeyOf(name) : null;
    const { rows } = await sql<{ id: string }>`
      WITH conv AS (
        INSERT INTO conversations (id, kind, name, name_key, created_by, created_at, last_seq, last_activity_at, dm_key)
        VALUES (${id}, ${kind}, ${name}, ${nameKey}, ${createdBy}, ${now}, 0, ${now}, ${dmKey})
        ON CONFLICT (dm_key) DO NOTHING
        RETURNING id
      ), joined AS (
        INSERT INTO members (conv, user_id, last_read_seq, joined_at)
        SELECT conv.id, u.user_id, 0, ${now}
        FROM conv CROSS JOIN unnest(${members}::text[]) WITH ORDINALITY AS u(user_id, i)
        ORDER BY u.i
      )
      SELECT id FROM conv`.execute(this.db);
    if (rows.length === 0) return undefined;
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
    const key = channelKeyOf(input.name);
    for (let attempt = 1; ; attempt++) {
      const { rows } = await sql<ConversationRow>`
        SELECT ${conversationColumns} FROM conversations c WHERE c.kind = 'channel' AND c.name_key = ${key}`.execute(
        this.db,
      );
      if (rows[0]) return toConversation(rows[0]);
      try {
        return (await this.insertConversation('channel', input.name, input.createdBy, [], now))!;
      } catch (err) {
        // Another caller created it first: read theirs.
        if (!isUniqueViolation(err, 'conversations_channel_name') || attempt >= 3) throw err;
      }
    }
  }

  async getConversation(id: ConversationId): Promise<ConversationRecord | undefined> {
    const { rows } = await sql<ConversationRow>`
      SELECT ${conversationColumns} FROM conversations c WHERE c.id = ${id}`.execute(this.db);
    return rows[0] && toConversation(rows[0]);
  }

  /**
   * Runs `change` in a transaction after locking the conversation's row (as append and a
   * leave take it first: a leave waits for this commit, or this for the leave) and checking
   * the owner rule for `actor`. Membership is read by a statement of its own after the
   * lock is held, so it sees a leave that committed while this one waited for the lock.
   */
  private async asManager<T>(
    conv: ConversationId,
    actor: UserId,
    what: 'rename' | 'members',
    change: (trx: Kysely<ChatTables>, record: ConversationRecord) => Promise<T>,
  ): Promise<T> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<ConversationRow>`
        SELECT ${conversationColumns} FROM conversations c WHERE c.id = ${conv} FOR UPDATE`.execute(trx);
      const record = rows[0] && toConversation(rows[0]);
      const { rows: member } = record
        ? await sql`SELECT 1 FROM members WHERE conv = ${conv} AND user_id = ${actor}`.execute(trx)
        : { rows: [] };
      checkManager(record, member.length === 1, actor, what);
      return change(trx, record!);
    });
  }

  async updateConversation(
    conv: ConversationId,
    actor: UserId,
    change: { name?: string; topic?: string | null },
  ): Promise<ConversationRecord> {
    if (change.name !== undefined) checkText('name', change.name);
    if (change.topic !== undefined && change.topic !== null) checkText('topic', change.topic);
    try {
      return await this.asManager(conv, actor, 'rename', async (trx, record) => {
        const name = change.name ?? record.name;
        const nameKey = record.kind === 'channel' && name !== null ? channelKeyOf(name) : null;
        const topic = change.topic === undefined ? record.topic : change.topic;
        await sql`UPDATE conversations SET name = ${name}, name_key = ${nameKey}, topic = ${topic}
          WHERE id = ${conv}`.execute(trx);
        return { ...record, name, topic };
      });
    } catch (err) {
      if (isUniqueViolation(err, 'conversations_channel_name')) {
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
    const wanted = [...new Set(userIds)];
    return this.asManager(conv, actor, 'members', async (trx, record) => {
      // The row lock keeps the member count still until commit (the trigger takes it too).
      const { rows: present } = await sql<{ user_id: UserId }>`
        SELECT user_id FROM members WHERE conv = ${conv} AND user_id = ANY(${wanted}::text[])`.execute(trx);
      const have = new Set(present.map((r) => r.user_id));
      const fresh = wanted.filter((u) => !have.has(u));
      const { rows: count } = await sql<{ n: number }>`
        SELECT member_count AS n FROM conversations WHERE id = ${conv}`.execute(trx);
      checkGroupSize((count[0]?.n ?? 0) + fresh.length, maxMembers);
      if (fresh.length > 0) {
        await sql`
          INSERT INTO members (conv, user_id, last_read_seq, joined_at)
          SELECT ${conv}, u.user_id, ${record.lastSeq}, ${now}
          FROM unnest(${fresh}::text[]) WITH ORDINALITY AS u(user_id, i)
          ORDER BY u.i`.execute(trx);
      }
      return fresh;
    });
  }

  async removeMemberAs(conv: ConversationId, actor: UserId, userId: UserId): Promise<boolean> {
    return this.asManager(conv, actor, 'members', async (trx) => {
      const { rows } = await sql`
        DELETE FROM members WHERE conv = ${conv} AND user_id = ${userId} RETURNING 1`.execute(trx);
      return rows.length === 1;
    });
  }

  async updateSettings(conv: ConversationId, userId: UserId, settings: MemberSettings): Promise<void> {
    const { rows } = await sql<{ kind: ConversationRecord['kind'] | null; member: boolean }>`
      SELECT c.kind, EXISTS (SELECT 1 FROM members m WHERE m.conv = c.id AND m.user_id = ${userId}) AS member
      FROM conversations c WHERE c.id = ${conv}`.execute(this.db);
    const row = rows[0];
    if (!row?.kind) throw new ChatError('not_found', 'no such conversation');
    if (!row.member) throw new ChatError('not_member');
    checkSettings(row.kind, settings);
    // One statement: the hidden seq is the conversation's last seq as this commits.
    const { rows: updated } = await sql`
      UPDATE members m SET
        muted = coalesce(${settings.muted ?? null}::boolean, m.muted),
        hidden_seq = CASE ${settings.hidden ?? null}::boolean
          WHEN true THEN c.last_seq WHEN false THEN NULL ELSE m.hidden_seq END
      FROM conversations c
      WHERE m.conv = ${conv} AND m.user_id = ${userId} AND c.id = m.conv
      RETURNING 1`.execute(this.db);
    if (updated.length === 0) throw new ChatError('not_member');
  }

  async welcome(userId: UserId, channels: ConversationId[], now: number): Promise<ConversationId[]> {
    checkText('userId', userId);
    const wanted = [...new Set(channels)];
    // One statement: the visit is recorded and the channels joined together, or neither.
    const { rows } = await sql<{ conv: ConversationId }>`${sql.raw(PREPARE)}
      WITH seen AS (
        INSERT INTO chat_users (user_id, first_seen_at) VALUES (${userId}, ${now})
        ON CONFLICT (user_id) DO NOTHING
        RETURNING user_id
      ), joined AS (
        INSERT INTO members (conv, user_id, last_read_seq, joined_at)
        SELECT c.id, seen.user_id, c.last_seq, ${now}
        FROM seen CROSS JOIN unnest(${wanted}::text[]) WITH ORDINALITY AS w(conv, i)
        JOIN conversations c ON c.id = w.conv
        ORDER BY w.i
        ON CONFLICT (conv, user_id) DO NOTHING
        RETURNING conv
      )
      SELECT conv FROM joined`.execute(this.db);
    const joined = new Set(rows.map((r) => r.conv));
    return wanted.filter((c) => joined.has(c));
  }

  async listChannels(input: {
    userId: UserId;
    q?: string;
    limit: number;
    after?: string;
  }): Promise<ChannelRecord[]> {
    const pattern = `${escapeLike(input.q ? channelKeyOf(input.q) : '')}%`;
    const after = input.after ? channelKeyOf(input.after) : '';
    const { rows } = await sql<{
      id: ConversationId;
      name: string;
      last_activity_at: number;
      member_count: number;
      joined: boolean;
    }>`
      SELECT c.id, c.name, c.last_activity_at, c.member_count,
        EXISTS (SELECT 1 FROM members j WHERE j.conv = c.id AND j.user_id = ${input.userId}) AS joined
      FROM conversations c
      WHERE c.kind = 'channel' AND c.name_key LIKE ${pattern} ESCAPE '\\' AND c.name_key > ${after}
      ORDER BY c.name_key
      LIMIT ${pageLimit(input.limit)}`.execute(this.db);
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      memberCount: r.member_count,
      joined: r.joined,
      lastActivityAt: r.last_activity_at,
    }));
  }

  async addMember(conv: ConversationId, userId: UserId, now: number): Promise<boolean> {
    // A late joiner starts with everything before the join read.
    const { rows } = await sql`
      INSERT INTO members (conv, user_id, last_read_seq, joined_at)
      SELECT id, ${userId}, last_seq, ${now} FROM conversations WHERE id = ${conv}
      ON CONFLICT (conv, user_id) DO NOTHING
      RETURNING 1`.execute(this.db);
    if (rows.length === 1) return true;
    if (!(await this.getConversation(conv))) throw new ChatError('not_found', 'no such conversation');
    return false;
  }

  async removeMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    // The conversation's row lock first, as append takes it (and the member_count trigger
    // would take it after the delete): a leave and an append then queue on one lock
    // instead of deadlocking on the member row and the conversation row.
    const { rows } = await sql`
      WITH c AS (SELECT id FROM conversations WHERE id = ${conv} FOR UPDATE)
      DELETE FROM members m USING c WHERE m.conv = c.id AND m.user_id = ${userId}
      RETURNING 1`.execute(this.db);
    return rows.length === 1;
  }

  async isMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    const { rows } = await sql`
      SELECT 1 FROM members WHERE conv = ${conv} AND user_id = ${userId}`.execute(this.db);
    return rows.length === 1;
  }

  async listMembers(conv: ConversationId, limit?: number): Promise<UserId[]> {
    const { rows } = await sql<{ user_id: UserId }>`
      SELECT user_id FROM members WHERE conv = ${conv} ORDER BY ord
      LIMIT ${limit === undefined ? null : pageLimit(limit)}`.execute(this.db);
    return rows.map((r) => r.user_id);
  }

  async memberCount(conv: ConversationId): Promise<number> {
    const { rows } = await sql<{ n: number }>`
      SELECT member_count AS n FROM conversations WHERE id = ${conv}`.execute(this.db);
    return rows[0]?.n ?? 0;
  }

  async conversationsOf(userId: UserId, page?: ConversationPage): Promise<ConversationState[]> {
    checkConversationPage(page);
    const before = page?.before;
    // The user's memberships through members_user, each conversation by its primary key,
    // a top-N sort; the member preview and last message only for the rows of the page. The
    // lateral subquery (OFFSET 0 keeps it from being flattened) pins that plan: left to
    // itself the planner hash-joins a seq scan of every conversation once a user has a few
    // thousand (5,000 memberships in 200,000 conversations: 160 ms instead of 5,000 index
    // probes). Activity order cannot come from an index without writing every member's
    // row on every message.
    // Prepared (PREPARE): every connect reads the whole list, and planning this statement
    // cost PostgreSQL about 1 ms, ten times running it for a user with a few conversations.
    const { rows } = await sql<StateRow>`${sql.raw(PREPARE)}
      WITH page AS (
        SELECT ${pageColumns} FROM members m
        CROSS JOIN LATERAL (SELECT * FROM conversations c WHERE c.id = m.conv OFFSET 0) c
        WHERE m.user_id = ${userId}
          ${before ? sql`AND (c.last_activity_at, c.id) < (${before.lastActivityAt}, ${before.id})` : sql``}
          ${page?.visibleOnly ? sql`AND (m.hidden_seq IS NULL OR c.last_seq > m.hidden_seq)` : sql``}
        ORDER BY c.last_activity_at DESC, c.id DESC
        LIMIT ${page === undefined ? null : pageLimit(page.limit)}
      )
      ${stateQuery}
      ORDER BY p.last_activity_at DESC, p.id DESC`.execute(this.db);
    return rows.map(toState);
  }

  async conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined> {
    const { rows } = await sql<StateRow>`${sql.raw(PREPARE)}
      WITH page AS (
        SELECT ${pageColumns} FROM members m JOIN conversations c ON c.id = m.conv
        WHERE m.conv = ${conv} AND m.user_id = ${userId}
      )
      ${stateQuery}`.execute(this.db);
    return rows[0] && toState(rows[0]);
  }

  async spokeWith(userId: UserId, others: UserId[]): Promise<Set<UserId>> {
    if (others.length === 0) return new Set();
    // From the others' memberships (members_user) to the user's row in the same conversation (key).
    const { rows } = await sql<{ user_id: UserId }>`
      SELECT DISTINCT o.user_id
      FROM members o
      JOIN members me ON me.conv = o.conv AND me.user_id = ${userId}
      JOIN conversations c ON c.id = o.conv
      WHERE o.user_id = ANY(${[...new Set(others)]}::text[]) AND o.user_id <> ${userId}
        AND o.last_sent_seq > 0 AND c.kind IN ('dm', 'group')`.execute(this.db);
    return new Set(rows.map((r) => r.user_id));
  }

  async conversationsCreatedSince(userId: UserId, since: number): Promise<number> {
    checkSeq('since', since);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM conversations
      WHERE created_by = ${userId} AND kind <> 'dm' AND created_at >= ${since}`.execute(this.db);
    return rows[0]?.n ?? 0;
  }

  async append(inputs: AppendInput[]): Promise<AppendOutcome[]> {
    if (inputs.length === 0) return [];
    checkAppendInputs(inputs);
    try {
      // Most batches hold only new messages: plan with no stored duplicates and write in
      // one statement. If one was stored after all, the unique key refuses the statement
      // (nothing is written) and the batch takes the careful path below.
      return await writeBatch(this.db, new AppendPlan(inputs, new Map()), this.searchIndex);
    } catch (err) {
      const reason = retryReason(err);
      if (reason === undefined) throw err;
      this.logger?.debug(
        { reason, batch: inputs.length },
        'append batch falls back to the duplicate look-up',
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        return await writeBatch(
          this.db,
          new AppendPlan(inputs, await storedMessages(this.db, inputs)),
          this.searchIndex,
        );
      } catch (err) {
        const reason = retryReason(err);
        if (reason === undefined || attempt >= MAX_APPEND_ATTEMPTS) throw err;
        // A concurrent batch stored one of these (sender, clientMsgId) since the look-up,
        // or the database broke a deadlock: nothing was written, look up and write again.
        this.logger?.debug({ reason, attempt, batch: inputs.length }, 'retrying append batch');
      }
    }
  }

  async history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<StoredHistoryMessage[]> {
    checkPage(page);
    const limit = pageLimit(page.limit);
    const before = page.before ?? Number.MAX_SAFE_INTEGER;
    if (page.after !== undefined) {
      const { rows } = await sql<MessageRow>`
        SELECT ${messageColumns} FROM messages m
        WHERE m.conv = ${conv} AND m.seq > ${page.after} AND m.seq < ${before}
        ORDER BY m.seq LIMIT ${limit}`.execute(this.db);
      return rows.map(fromMessageRow);
    }
    const { rows } = await sql<MessageRow>`
      SELECT ${messageColumns} FROM messages m
      WHERE m.conv = ${conv} AND m.seq < ${before}
      ORDER BY m.seq DESC LIMIT ${limit}`.execute(this.db);
    return rows.reverse().map(fromMessageRow);
  }

  async markRead(conv: ConversationId, userId: UserId, seq: number): Promise<number> {
    checkSeq('seq', seq);
    const { rows } = await sql<{ last_read_seq: number }>`
      UPDATE members m SET last_read_seq = greatest(m.last_read_seq, ${seq})
      FROM conversations c
      WHERE m.conv = ${conv} AND m.user_id = ${userId} AND c.id = m.conv AND ${seq} <= c.last_seq
      RETURNING m.last_read_seq`.execute(this.db);
    if (rows[0]) return rows[0].last_read_seq;
    if (!(await this.isMember(conv, userId))) throw new ChatError('not_member');
    throw new ChatError('seq_out_of_range', `seq ${seq} is past the conversation's last message`);
  }

  async markAllRead(userId: UserId): Promise<{ conv: ConversationId; seq: number }[]> {
    const { rows } = await sql<{ conv: ConversationId; last_read_seq: number }>`
      UPDATE members m SET last_read_seq = c.last_seq
      FROM conversations c
      WHERE m.user_id = ${userId} AND c.id = m.conv AND m.last_read_seq < c.last_seq
      RETURNING m.conv, m.last_read_seq`.execute(this.db);
    return rows.map((r) => ({ conv: r.conv, seq: r.last_read_seq }));
  }

  // --- messages that change -----------------------------------------------------------

  /**
   * Runs a change of message `seq` in a transaction that first locks the conversation's row
   * (as append and a leave take it first: changes of one conversation, its appends and its
   * leaves queue on it, so changeSeqs are handed out in commit order and membership holds
   * until commit), then checks, each by a statement of its own that sees what committed
   * while it waited: the conversation exists (`not_found`), `actor` is a member
   * (`not_member`), the message exists (`not_found`). With `emoji`, it also reads the
   * message's reactions state (`ReactionState`) in that statement: the conversation's lock
   * is held until commit, so each round trip after it counts.
   */
  private async change(
    conv: ConversationId,
    seq: number,
    actor: UserId,
    change: (
      trx: Kysely<ChatTables>,
      target: { conversation: ConversationRecord; message: StoredMessage; deleted: boolean } & ReactionState,
    ) => Promise<ChangeOutcome>,
    emoji: string | null = null,
  ): Promise<ChangeOutcome> {
    return this.db.transaction().execute(async (trx) => {
      const { rows } = await sql<ConversationRow>`
        SELECT ${conversationColumns} FROM conversations c WHERE c.id = ${conv} FOR UPDATE`.execute(trx);
      if (!rows[0]) throw noConversation();
      const { rows: found } = await sql<MessageRow & ReactionState & { is_member: boolean }>`
        SELECT EXISTS (SELECT 1 FROM members WHERE conv = ${conv} AND user_id = ${actor}) AS is_member,
          ${
            emoji === null
              ? sql`false AS mine, false AS used, 0 AS distinct_emoji,`
              : sql`EXISTS (SELECT 1 FROM reactions
                  WHERE conv = ${conv} AND seq = ${seq} AND emoji = ${emoji} AND user_id = ${actor}) AS mine,
                EXISTS (SELECT 1 FROM reactions WHERE conv = ${conv} AND seq = ${seq} AND emoji = ${emoji}) AS used,
                (SELECT count(DISTINCT emoji)::int FROM reactions WHERE conv = ${conv} AND seq = ${seq}) AS distinct_emoji,`
          }
          t.*
        FROM (SELECT 1) AS one
        LEFT JOIN LATERAL (SELECT ${messageColumns} FROM messages m WHERE m.conv = ${conv} AND m.seq = ${seq}) t ON true`.execute(
        trx,
      );
      const row = found[0]!;
      if (!row.is_member) throw notMember();
      if (row.seq === null) throw noMessage();
      return change(trx, {
        conversation: toConversation(rows[0]),
        message: fromMessageRow(row),
        deleted: row.deleted === true,
        mine: row.mine,
        used: row.used,
        distinct_emoji: row.distinct_emoji,
      });
    });
  }

  /** The message at (conv, seq) as this transaction sees it. */
  private async messageAt(db: Kysely<ChatTables>, conv: ConversationId, seq: number): Promise<StoredMessage> {
    const { rows } = await sql<MessageRow>`
      SELECT ${messageColumns} FROM messages m WHERE m.conv = ${conv} AND m.seq = ${seq}`.execute(db);
    return fromMessageRow(rows[0]!);
  }

  async editMessage(input: EditInput): Promise<ChangeOutcome> {
    const { conv, seq, actor, body, now } = input;
    checkMessageSeq(seq);
    checkText('body', body);
    const mentions = normalizeMentions(actor, input.mentions);
    return this.change(conv, seq, actor, async (trx, { message }) => {
      checkEdit(message, actor);
      if (message.body === body && sameMentions(message.mentions ?? [], mentions)) {
        return { message, changed: false };
      }
      if (mentions.length > 0) {
        const { rows } = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM members WHERE conv = ${conv} AND user_id = ANY(${mentions}::text[])`.execute(
          trx,
        );
        if (rows[0]!.n !== mentions.length) throw badMentions();
      }
      const text = searchText(body);
      await sql`
        WITH cs AS (
          UPDATE conversations SET last_change_seq = last_change_seq + 1 WHERE id = ${conv}
          RETURNING last_change_seq
        ), gone AS (
          DELETE FROM mentions WHERE conv = ${conv} AND seq = ${seq}
        ), searched AS (
          UPDATE message_search SET t = ${text}, pairs = string_to_array(${pairsColumn(text)}, ' ')
          WHERE conv = ${conv} AND seq = ${seq}
        )
        UPDATE messages SET body = ${body}, edited_at = ${now}, change_seq = (SELECT last_change_seq FROM cs)
        WHERE conv = ${conv} AND seq = ${seq}`.execute(trx);
      if (mentions.length > 0) {
        await sql`
          INSERT INTO mentions (conv, seq, user_id, pos)
          SELECT ${conv}, ${seq}, u.user_id, u.pos - 1
          FROM unnest(${mentions}::text[]) WITH ORDINALITY AS u(user_id, pos)`.execute(trx);
      }
      return { message: await this.messageAt(trx, conv, seq), changed: true };
    });
  }

  async deleteMessage(
    conv: ConversationId,
    seq: number,
    actor: UserId,
    _now: number,
  ): Promise<ChangeOutcome> {
    checkMessageSeq(seq);
    return this.change(conv, seq, actor, async (trx, { conversation, message, deleted }) => {
      checkDelete(message, conversation, actor);
      if (deleted) return { message, changed: false };
      await sql`
        WITH cs AS (
          UPDATE conversations SET last_change_seq = last_change_seq + 1 WHERE id = ${conv}
          RETURNING last_change_seq
        ), no_mentions AS (
          DELETE FROM mentions WHERE conv = ${conv} AND seq = ${seq}
        ), no_reactions AS (
          DELETE FROM reactions WHERE conv = ${conv} AND seq = ${seq}
        ), unsearched AS (
          DELETE FROM message_search WHERE conv = ${conv} AND seq = ${seq}
        )
        UPDATE messages SET body = '', deleted = true, edited_at = NULL,
          change_seq = (SELECT last_change_seq FROM cs)
        WHERE conv = ${conv} AND seq = ${seq}`.execute(trx);
      return { message: await this.messageAt(trx, conv, seq), changed: true };
    });
  }

  async react(input: ReactInput): Promise<ChangeOutcome> {
    const { conv, seq, actor, emoji, on, maxDistinct } = input;
    checkMessageSeq(seq);
    checkEmoji(emoji);
    const changed = async (
      trx: Kysely<ChatTables>,
      {
        message,
        deleted,
        mine,
        used,
        distinct_emoji,
      }: { message: StoredMessage; deleted: boolean } & ReactionState,
    ): Promise<ChangeOutcome> => {
      if (deleted) throw reactToDeleted();
      if (mine === on) return { message, changed: false };
      if (on && !used && distinct_emoji >= maxDistinct) throw tooManyReactions(maxDistinct);
      await sql`
        WITH cs AS (
          UPDATE conversations SET last_change_seq = last_change_seq + 1 WHERE id = ${conv}
          RETURNING last_change_seq
        ), changed AS (
          ${
            on
              ? sql`INSERT INTO reactions (conv, seq, emoji, user_id, change_seq, first_seq)
                  SELECT ${conv}, ${seq}, ${emoji}, ${actor}, cs.last_change_seq, coalesce(
                    (SELECT min(first_seq) FROM reactions WHERE conv = ${conv} AND seq = ${seq} AND emoji = ${emoji}),
                    cs.last_change_seq)
                  FROM cs`
              : sql`DELETE FROM reactions WHERE conv = ${conv} AND seq = ${seq} AND emoji = ${emoji} AND user_id = ${actor}`
          }
        )
        UPDATE messages SET change_seq = (SELECT last_change_seq FROM cs)
        WHERE conv = ${conv} AND seq = ${seq}`.execute(trx);
      return { message: await this.messageAt(trx, conv, seq), changed: true };
    };
    return this.change(conv, seq, actor, changed, emoji);
  }

  async changesSince(
    conv: ConversationId,
    after: number,
    limit: number,
  ): Promise<{ messages: StoredMessage[]; lastChangeSeq: number }> {
    checkSeq('after', after);
    const n = changesLimit(limit);
    // One statement, one snapshot: every change up to lastChangeSeq is in it.
    const { rows } = await sql<{ last_change_seq: number | null; messages: MessageRow[] | null }>`
      SELECT (SELECT last_change_seq FROM conversations WHERE id = ${conv}) AS last_change_seq,
        (SELECT json_agg(t ORDER BY t.change_seq) FROM (
          SELECT ${messageColumns} FROM messages m
          WHERE m.conv = ${conv} AND m.change_seq > ${after}
          ORDER BY m.change_seq LIMIT ${n}
        ) t) AS messages`.execute(this.db);
    return {
      messages: (rows[0]?.messages ?? []).map(fromMessageRow),
      lastChangeSeq: Number(rows[0]?.last_change_seq ?? 0),
    };
  }

  async thread(
    conv: ConversationId,
    root: number,
    page: { after?: number; limit: number },
  ): Promise<StoredMessage[]> {
    checkSeq('root', root);
    const after = checkSeq('after', page.after ?? 0);
    const { rows } = await sql<MessageRow>`
      SELECT ${messageColumns} FROM messages m
      WHERE m.conv = ${conv} AND m.thread_root = ${root} AND m.seq > ${after}
      ORDER BY m.seq LIMIT ${changesLimit(page.limit)}`.execute(this.db);
    return rows.map(fromMessageRow);
  }

  async around(conv: ConversationId, seq: number, limit: number): Promise<StoredMessage[]> {
    checkSeq('seq', seq);
    const n = changesLimit(limit);
    if (n === 0) return [];
    const { rows } = await sql<MessageRow & { side: 'before' | 'from' }>`
      (SELECT 'before' AS side, ${messageColumns} FROM messages m
        WHERE m.conv = ${conv} AND m.seq < ${seq} ORDER BY m.seq DESC LIMIT ${n})
      UNION ALL
      (SELECT 'from', ${messageColumns} FROM messages m
        WHERE m.conv = ${conv} AND m.seq >= ${seq} ORDER BY m.seq LIMIT ${n})`.execute(this.db);
    const before = rows.filter((r) => r.side === 'before').sort((x, y) => Number(y.seq) - Number(x.seq));
    const from = rows.filter((r) => r.side === 'from').sort((x, y) => Number(x.seq) - Number(y.seq));
    return aroundPage(before, from, n).map(fromMessageRow);
  }

  async search(input: SearchInput): Promise<SearchPage> {
    if (!this.searchIndex) throw new ChatError('forbidden', 'message search is turned off on this server');
    const below = cursorPosition(input.cursor, input);
    const limit = pageLimit(input.limit);
    if (limit === 0) return { hits: [], next: null };
    // One snapshot for the membership and both tiers: a page is the state at one moment.
    const found = await this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .execute(async (trx) => {
        const hits: { tier: 0 | 1; id: string; message: StoredMessage }[] = [];
        const plan = await planSearch(trx, input);
        if (!plan) return hits;
        // One past the page: whether there are more. Tier 0 below the cursor, then tier 1.
        const wanted = hitsWanted(limit);
        const first = input.cursor?.tier ?? 0;
        const found: { tier: 0 | 1; id: string; conv: string; seq: string }[] = [];
        // The searcher's newest rows first, read once for both tiers on a first page; the
        // trigram index only below them (see RECENT_WINDOW).
        let window: { from: string | null; rows: WindowRow[] } | undefined;
        for (let tier = first; tier <= 1 && found.length < wanted; tier++) {
          const from = tier === first ? below : null;
          if (!window || window.from !== from) {
            const tiers: (0 | 1)[] = from === null && tier === 0 ? [0, 1] : [tier];
            const { rows } =
              await sql<WindowRow>`${recentHits(input, plan, tiers, from, wanted, this.searchWindow)}`.execute(
                trx,
              );
            window = { from, rows };
          }
          let inWindow = 0;
          for (const r of window.rows) {
            if (r.tier === tier && r.pos !== null) {
              inWindow++;
              if (found.length < wanted) found.push({ tier, id: r.pos, conv: r.conv!, seq: String(r.seq) });
            }
          }
          const low = window.rows[0]?.low ?? null;
          if (found.length >= wanted || (window.rows[0]?.scanned ?? 0) < this.searchWindow || low === null)
            continue;
          const need = wanted - found.length;
          // The planner takes every LIKE pattern for a common one and may walk down the ids
          // testing each row: right for a common word, a walk through the whole table for a
          // rare one ("% deat %": 988,000 rows, 570 ms). The window tells which it is: at its
          // density, finding `need` more would read about need × window / (hits + 1) rows;
          // past searchWalkMax the text indexes must find them (bitmap scans only).
          const rare = (need * this.searchWindow) / (inWindow + 1) > this.searchWalkMax;
          if (rare) await sql`SET LOCAL enable_indexscan = off`.execute(trx);
          const { rows: older } = await sql<{ pos: string; conv: string; seq: string }>`${tierHits(
            input,
            plan,
            tier,
            low,
            need,
          )}`.execute(trx);
          if (rare) await sql`SET LOCAL enable_indexscan = on`.execute(trx);
          for (const r of older) found.push({ tier, id: r.pos, conv: r.conv, seq: String(r.seq) });
        }
        if (found.length === 0) return hits;
        const { rows } = await sql<MessageRow & { k: number }>`
          SELECT k.i AS k, ${messageColumns}
          FROM unnest(${found.map((f) => f.conv)}::text[], ${found.map((f) => f.seq)}::int8[])
            WITH ORDINALITY AS k(conv, seq, i)
          JOIN messages m ON m.conv = k.conv AND m.seq = k.seq`.execute(trx);
        const byIndex = new Map(rows.map((row) => [Number(row.k), fromMessageRow(row)]));
        found.forEach((f, i) => {
          const message = byIndex.get(i + 1);
          if (message) hits.push({ tier: f.tier, id: f.id, message });
        });
        return hits;
      });
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    return {
      hits: page.map((h) => h.message),
      next: found.length > limit && last ? { tier: last.tier, position: last.id } : null,
    };
  }
}

/** A row of `recentHits`. */
interface WindowRow {
  tier: number | null;
  pos: string | null;
  conv: string | null;
  seq: string | null;
  low: string | null;
  scanned: number;
}

/** The stored messages of a batch's (sender, clientMsgId) pairs, by send key. */
async function storedMessages(
  db: Kysely<ChatTables>,
  inputs: AppendInput[],
): Promise<Map<string, StoredMessage>> {
  const keys = distinctSendKeys(inputs);
  const { rows } = await sql<MessageRow>`
    SELECT ${messageColumns}
    FROM messages m
    JOIN unnest(${keys.map((k) => k.sender)}::text[], ${keys.map((k) => k.clientMsgId)}::text[]) AS k(sender, cmid)
      ON m.sender = k.sender AND m.client_msg_id = k.cmid`.execute(db);
  return new Map(rows.map((row) => [sendKeyOf(row.sender, row.client_msg_id), fromMessageRow(row)]));
}

/**
 * Writes a planned batch in ONE statement, which PostgreSQL runs as one transaction and
 * commits once (group commit):
 * 1. lock the batch's conversations in id order (`locked`): concurrent batches cannot
 *    deadlock, and a leave (which takes the same lock first, see removeMember) queues
 *    behind this batch or this batch behind it; so does every change of a message;
 * 2. read the members rows of the senders and of the mentioned users with a row lock
 *    (`present`, FOR KEY SHARE): a locking read sees a leave that committed while this
 *    statement waited for the conversation lock, which the statement's snapshot would not;
 *    the lock keeps a leave out until commit and does not block other appends;
 * 3. decide each candidate (`checked`): `not_member` (sender not present), `bad_reply` (its
 *    replyTo is no message stored before this statement — one of the same batch is not),
 *    `bad_mentions` (a mentioned user not present); a reply's thread root is its parent's
 *    root, or the parent;
 * 4. number the accepted ones per conversation in input order (`row_number()`), add each
 *    conversation's count to `last_seq` and its number of thread roots replied to, to
 *    `last_change_seq`; insert at `last_seq − count + k`, with their mentions; move each
 *    root's reply count, last reply time and changeSeq (one change per root and batch);
 *    move the senders' read markers and last sent seqs.
 * Refused candidates take no seq and do not disturb the others. The statement returns the
 * inserted (id, seq, thread root), the refusals, the ids of the conversations that exist
 * (to tell `not_found` from the rest), the roots it changed, and the stored original of any
 * refused candidate whose (sender, clientMsgId) is stored (a retry after a leave is still a
 * duplicate). An accepted candidate whose pair is stored fails the insert on the unique
 * key: nothing is written and `append` takes its careful path. A batch with replies runs in
 * a transaction of its own, so that the changed roots are read back, with their mentions
 * and reactions, before the commit releases the conversation locks.
 */
async function writeBatch(
  db: Kysely<ChatTables>,
  plan: AppendPlan,
  indexed: boolean,
): Promise<AppendOutcome[]> {
  const { candidates } = plan;
  if (candidates.length === 0) return plan.settle(new Map(), () => 'not_found');
  // A batch with replies reads the roots it changed before it commits, while it still holds
  // their conversations' locks: AppendResult.root is exactly the state its changeSeq names.
  if (candidates.some((c) => c.input.replyTo !== undefined)) {
    return db.transaction().execute((trx) => writeBatchWith(trx, plan, true, indexed));
  }
  return writeBatchWith(db, plan, false, indexed);
}

async function writeBatchWith(
  db: Kysely<ChatTables>,
  plan: AppendPlan,
  hasReplies: boolean,
  indexed: boolean,
): Promise<AppendOutcome[]> {
  const { candidates } = plan;
  const mentionIdx: number[] = [];
  const mentionUser: string[] = [];
  const mentionPos: number[] = [];
  candidates.forEach((c, i) => {
    c.mentions.forEach((user, pos) => {
      mentionIdx.push(i + 1);
      mentionUser.push(user);
      mentionPos.push(pos);
    });
  });
  // Most batches carry no replies and no mentions: their parts of the statement are left out.
  const hasMentions = mentionIdx.length > 0;
  const searchTexts = indexed ? candidates.map((c) => searchText(c.input.body)) : candidates.map(() => null);
  // Prepared (PREPARE): the text depends only on hasMentions, hasReplies and indexed, the values are
  // all bound; parsing and planning it cost PostgreSQL about as much as running it.
  const { rows } = await sql<BatchRow>`${sql.raw(PREPARE)}
    WITH inp AS (
      SELECT * FROM unnest(${candidates.map((c) => c.input.conv)}::text[], ${candidates.map((c) => c.id)}::text[],
        ${candidates.map((c) => c.input.sender)}::text[], ${candidates.map((c) => c.input.clientMsgId)}::text[],
        ${candidates.map((c) => c.input.body)}::text[], ${candidates.map((c) => c.input.ts)}::int8[],
        ${candidates.map((c) => c.input.replyTo ?? null)}::int8[], ${searchTexts}::text[],
        ${searchTexts.map((t) => (t === null ? null : pairsColumn(t)))}::text[])
        WITH ORDINALITY AS i(conv, id, sender, cmid, body, ts, reply_to, search_text, search_pairs, idx)
    ), ${
      hasMentions
        ? sql`ment AS (
      SELECT * FROM unnest(${mentionIdx}::int8[], ${mentionUser}::text[], ${mentionPos}::int4[]) AS x(idx, user_id, pos)
    ), `
        : sql``
    }locked AS MATERIALIZED (
      SELECT c.id FROM conversations c WHERE c.id = ANY (ARRAY(SELECT conv FROM inp)) ORDER BY c.id FOR UPDATE
    ), present AS MATERIALIZED (
      -- A primary-key probe per (conversation, member) to check: the prepared statement's
      -- generic plan cannot know how few there are, and would rather scan a small table.
      SELECT m.conv, m.user_id
      FROM (
        SELECT conv, sender AS user_id FROM inp WHERE conv IN (SELECT id FROM locked)
        ${
          hasMentions
            ? sql`UNION
        SELECT i.conv, x.user_id FROM ment x JOIN inp i ON i.idx = x.idx WHERE i.conv IN (SELECT id FROM locked)`
            : sql``
        }
      ) k
      CROSS JOIN LATERAL (
        SELECT mb.conv, mb.user_id FROM members mb WHERE mb.conv = k.conv AND mb.user_id = k.user_id OFFSET 0
      ) m
      FOR KEY SHARE OF m
    ), checked AS MATERIALIZED (
      SELECT i.*,
        CASE
          WHEN NOT EXISTS (SELECT 1 FROM present s WHERE s.conv = i.conv AND s.user_id = i.sender) THEN 'not_member'
          WHEN i.reply_to IS NOT NULL AND i.root IS NULL THEN 'bad_reply'
          ${
            hasMentions
              ? sql`WHEN EXISTS (
            SELECT 1 FROM ment x WHERE x.idx = i.idx
              AND NOT EXISTS (SELECT 1 FROM present s WHERE s.conv = i.conv AND s.user_id = x.user_id)
          ) THEN 'bad_mentions'`
              : sql``
          }
        END AS refusal
      FROM (
        -- The parent's root: a primary-key probe per reply (a scalar subquery, so that the
        -- planner cannot turn it into a join over the whole messages table).
        SELECT i.*, ${
          hasReplies
            ? sql`CASE WHEN i.reply_to IS NOT NULL THEN (
          SELECT coalesce(pm.thread_root, pm.seq) FROM messages pm WHERE pm.conv = i.conv AND pm.seq = i.reply_to
        ) END`
            : sql`NULL::int8`
        } AS root
        FROM inp i
        WHERE i.conv IN (SELECT id FROM locked)
        OFFSET 0
      ) i
    ), ok AS MATERIALIZED (
      SELECT c.*, row_number() OVER (PARTITION BY c.conv ORDER BY c.idx) AS k
      FROM checked c WHERE c.refusal IS NULL
    ), ${
      hasReplies
        ? sql`roots AS MATERIALIZED (
      SELECT conv, root AS seq, count(*) AS n, max(ts) AS ts,
        row_number() OVER (PARTITION BY conv ORDER BY root) AS k
      FROM ok WHERE root IS NOT NULL GROUP BY conv, root
    ), `
        : sql``
    }bumped AS (
      UPDATE conversations c
      SET last_seq = c.last_seq + b.n, last_activity_at = greatest(c.last_activity_at, b.ts),
        last_change_seq = c.last_change_seq + b.nroots
      FROM (
        SELECT ok.conv, count(*) AS n, max(ok.ts) AS ts,
          ${hasReplies ? sql`(SELECT count(*) FROM roots r WHERE r.conv = ok.conv)` : sql`0`} AS nroots
        FROM ok GROUP BY ok.conv
      ) b
      WHERE c.id = b.conv
      RETURNING c.id, c.last_seq - b.n AS base, c.last_change_seq - b.nroots AS change_base
    ), ins AS (
      INSERT INTO messages (conv, seq, id, sender, client_msg_id, body, ts, reply_to, thread_root)
      SELECT ok.conv, bumped.base + ok.k, ok.id, ok.sender, ok.cmid, ok.body, ok.ts, ok.reply_to, ok.root
      FROM ok JOIN bumped ON bumped.id = ok.conv
      RETURNING id, seq, thread_root
    ), ${
      indexed
        ? sql`searched AS (
      -- In input order: the index ids of one conversation's messages ascend with their seqs.
      INSERT INTO message_search (conv, seq, sender, ts, t, pairs)
      SELECT ok.conv, bumped.base + ok.k, ok.sender, ok.ts, ok.search_text, string_to_array(ok.search_pairs, ' ')
      FROM ok JOIN bumped ON bumped.id = ok.conv
      ORDER BY ok.idx
    ), `
        : sql``
    }${
      hasMentions
        ? sql`mentioned AS (
      INSERT INTO mentions (conv, seq, user_id, pos)
      SELECT ok.conv, bumped.base + ok.k, x.user_id, x.pos
      FROM ment x JOIN ok ON ok.idx = x.idx JOIN bumped ON bumped.id = ok.conv
    ), `
        : sql``
    }${
      hasReplies
        ? sql`replied AS (
      UPDATE messages m
      SET reply_count = m.reply_count + r.n, last_reply_at = greatest(coalesce(m.last_reply_at, r.ts), r.ts),
        change_seq = bumped.change_base + r.k
      FROM roots r JOIN bumped ON bumped.id = r.conv
      WHERE m.conv = r.conv AND m.seq = r.seq
      RETURNING m.conv, m.seq
    ), `
        : sql``
    }marks AS (
      UPDATE members mb
      SET last_read_seq = greatest(mb.last_read_seq, r.seq), last_sent_seq = greatest(mb.last_sent_seq, r.seq)
      FROM (
        SELECT ok.conv, ok.sender, bumped.base + max(ok.k) AS seq
        FROM ok JOIN bumped ON bumped.id = ok.conv
        GROUP BY ok.conv, ok.sender, bumped.base
      ) r
      WHERE mb.conv = r.conv AND mb.user_id = r.sender
    )
    SELECT 'inserted' AS kind, id, seq, thread_root AS root, NULL AS conv, NULL AS sender, NULL AS client_msg_id,
      NULL AS body, NULL::int8 AS ts
    FROM ins
    UNION ALL
    SELECT 'conversation', NULL, NULL, NULL, id, NULL, NULL, NULL, NULL FROM locked
    UNION ALL
    SELECT 'refused', id, NULL, NULL, NULL, NULL, NULL, refusal, NULL FROM checked WHERE refusal IS NOT NULL
    ${hasReplies ? sql`UNION ALL SELECT 'root', NULL, seq, NULL, conv, NULL, NULL, NULL, NULL FROM replied` : sql``}
    UNION ALL
    -- A refused input whose (sender, clientMsgId) is stored gets the original (as a duplicate):
    -- the optimistic plan did not look, and only an insert would have hit the unique key.
    SELECT 'stored', m.id, m.seq, NULL, m.conv, m.sender, m.client_msg_id, m.body, m.ts
    FROM inp i JOIN messages m ON m.sender = i.sender AND m.client_msg_id = i.cmid
    WHERE i.id NOT IN (SELECT id FROM ok)`.execute(db);
  const seqById = new Map<string, number>();
  const rootById = new Map<string, number>();
  const existing = new Set<string>();
  const refusals = new Map<string, AppendRefusal>();
  const storedKeys: { sender: string; clientMsgId: string }[] = [];
  const changedRoots: { conv: string; seq: number }[] = [];
  for (const row of rows) {
    if (row.kind === 'inserted') {
      seqById.set(row.id!, Number(row.seq));
      if (row.root !== null) rootById.set(row.id!, Number(row.root));
    } else if (row.kind === 'conversation') existing.add(row.conv!);
    else if (row.kind === 'refused') refusals.set(row.id!, row.body as AppendRefusal);
    else if (row.kind === 'root') changedRoots.push({ conv: row.conv!, seq: Number(row.seq) });
    else storedKeys.push({ sender: row.sender!, clientMsgId: row.client_msg_id! });
  }
  for (const c of candidates) {
    const root = rootById.get(c.id);
    if (root !== undefined) c.threadRoot = root;
  }
  // The originals and roots in their current state, with their mentions and reactions.
  const stored = new Map<string, StoredMessage>();
  if (storedKeys.length > 0) {
    const { rows: originals } = await sql<MessageRow>`
      SELECT ${messageColumns} FROM messages m
      JOIN unnest(${storedKeys.map((k) => k.sender)}::text[], ${storedKeys.map((k) => k.clientMsgId)}::text[])
        AS k(sender, cmid) ON m.sender = k.sender AND m.client_msg_id = k.cmid`.execute(db);
    for (const row of originals) stored.set(sendKeyOf(row.sender, row.client_msg_id), fromMessageRow(row));
  }
  const roots = new Map<string, StoredMessage>();
  if (changedRoots.length > 0) {
    const { rows: current } = await sql<MessageRow>`
      SELECT ${messageColumns} FROM messages m
      JOIN unnest(${changedRoots.map((r) => r.conv)}::text[], ${changedRoots.map((r) => r.seq)}::int8[])
        AS r(conv, seq) ON m.conv = r.conv AND m.seq = r.seq`.execute(db);
    for (const row of current) roots.set(rootKeyOf(row.conv, Number(row.seq)), fromMessageRow(row));
  }
  return plan.settle(
    seqById,
    (c) =>
      stored.get(sendKeyOf(c.input.sender, c.input.clientMsgId)) ??
      refusals.get(c.id) ??
      (existing.has(c.input.conv) ? 'not_member' : 'not_found'),
    (c) => (c.threadRoot === undefined ? undefined : roots.get(rootKeyOf(c.input.conv, c.threadRoot))),
  );
}

/** One row of writeBatch's answer: an inserted message, an existing conversation, a refusal, a changed root, or a stored original. */
type BatchRow = { kind: 'inserted' | 'conversation' | 'refused' | 'root' | 'stored'; root: number | null } & {
  [K in 'conv' | 'seq' | 'id' | 'sender' | 'client_msg_id' | 'body' | 'ts']: MessagesTable[K] | null;
};

/**
 * A message row's columns (of `messages` as `m`) with its mentions (in order) and its
 * reactions (the first LIMITS.reactionUsersShown users of each emoji, each with the emoji's
 * exact count and first use) as JSON: one round trip for a page of messages in their
 * current state.
 */
const messageColumns = sql.raw(`${MESSAGE_ROW_COLUMNS.map((c) => `m.${c}`).join(', ')},
  (SELECT json_agg(x.user_id ORDER BY x.pos) FROM mentions x WHERE x.conv = m.conv AND x.seq = m.seq) AS mentions_json,
  (SELECT json_agg(json_build_object('emoji', r.emoji, 'user', r.user_id, 'order', r.change_seq,
      'first', r.first_seq, 'count', r.n) ORDER BY r.change_seq)
    FROM (
      SELECT emoji, user_id, change_seq, first_seq,
        row_number() OVER (PARTITION BY emoji ORDER BY change_seq) AS k,
        count(*) OVER (PARTITION BY emoji) AS n
      FROM reactions WHERE conv = m.conv AND seq = m.seq
    ) r
    WHERE r.k <= ${LIMITS.reactionUsersShown}) AS reactions_json`);

/** A message's reactions as `react` needs them: `actor` reacted with `emoji`; anyone did; how many emoji it has. */
interface ReactionState {
  mine: boolean;
  used: boolean;
  distinct_emoji: number;
}

type MessageRow = MessagesTable & { mentions_json: UserId[] | null; reactions_json: ReactionRow[] | null };

function fromMessageRow(row: MessageRow): StoredMessage {
  return toStoredMessage(row, row.mentions_json ?? [], row.reactions_json ?? []);
}

/** The columns of a ConversationRow, of `conversations` as `c` (also its own alias in plain selects). */
const conversationColumns = sql.raw(CONVERSATION_ROW_COLUMNS.map((c) => `c.${c}`).join(', '));

/** The state columns of the conversations in `page` (a CTE of `pageColumns`), alias `p`. */
const pageColumns = sql`${conversationColumns}, m.user_id, m.last_read_seq, m.muted, m.hidden_seq, c.member_count`;

/**
 * Each conversation of `page` with its member preview, the user's unread mentions (count and
 * newest seqs, through mentions_user) and its last message in its current state: correlated
 * subqueries on the rows of the page only, one statement.
 */
const stateQuery = sql`
  SELECT p.*,
    ARRAY(SELECT u.user_id FROM members u WHERE u.conv = p.id ORDER BY u.ord LIMIT ${MEMBERS_PREVIEW}) AS member_ids,
    (SELECT count(*)::int FROM mentions x
      WHERE x.user_id = p.user_id AND x.conv = p.id AND x.seq > p.last_read_seq) AS unread_mentions,
    ARRAY(SELECT s.seq FROM (
      SELECT x.seq FROM mentions x
      WHERE x.user_id = p.user_id AND x.conv = p.id AND x.seq > p.last_read_seq
      ORDER BY x.seq DESC LIMIT ${LIMITS.maxMentionSeqs}
    ) s ORDER BY s.seq) AS mention_seqs,
    (SELECT row_to_json(lm) FROM (
      SELECT ${messageColumns} FROM messages m WHERE m.conv = p.id AND m.seq = p.last_seq
    ) lm) AS last_message
  FROM page p`;

function toState(row: StateRow): ConversationState {
  const record = toConversation(row);
  const last = row.last_message && fromMessageRow(row.last_message);
  return {
    ...record,
    lastReadSeq: row.last_read_seq,
    unread: Math.max(0, record.lastSeq - row.last_read_seq),
    unreadMentions: row.unread_mentions,
    mentionSeqs: row.mention_seqs.map(Number),
    muted: row.muted,
    hidden: isHidden(row.hidden_seq, record.lastSeq),
    memberCount: row.member_count,
    memberIds: row.member_ids,
    lastMessage: last ? withoutClientMsgId(last) : null,
  };
}

interface PgError {
  code?: string;
  constraint?: string;
  column?: string;
}

function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as PgError;
  return e?.code === '23505' && e.constraint === constraint;
}

/** Why a failed append batch may be run again, or undefined when it may not. */
function retryReason(err: unknown): string | undefined {
  if (isUniqueViolation(err, 'messages_sender_client_msg_id_key')) return 'duplicate_race';
  const code = (err as PgError)?.code;
  if (code === '40P01') return 'deadlock';
  if (code === '40001') return 'serialization_failure';
  return undefined;
}
