import { randomUUID } from 'node:crypto';
import {
  asConversationId,
  ChatError,
  type ConversationId,
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
  SeqAllocation,
  type StoredMessage,
  sendKeyOf,
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
import type {
  AppendInput,
  AppendOutcome,
  AppendRefusal,
  ChannelRecord,
  ConversationPage,
  ConversationRecord,
  ConversationState,
  MemberSettings,
  MessageStore,
  StoredMessage as StoredHistoryMessage,
} from './message-store.js';
import { runChatMigrations } from './sql-migrator.js';
import {
  type ChatTables,
  CONVERSATION_ROW_COLUMNS,
  type ConversationRow,
  type MessagesTable,
  toConversation,
  toMessage,
  toStoredMessage,
} from './sql-rows.js';

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
};

/** The SQLite store's migrations, in order (exported for the upgrade test). */
export const sqliteMigrations: Readonly<Record<string, Migration>> = migrations;

const CONVERSATION_COLUMNS = CONVERSATION_ROW_COLUMNS.join(', ');
const STATE_COLUMNS = `${CONVERSATION_ROW_COLUMNS.map((c) => `c.${c}`).join(', ')},
  m.last_read_seq, m.muted, m.hidden_seq, c.member_count`;
/** Leaves out a member's hidden DMs when @visible is 1. */
const VISIBLE = '(@visible = 0 OR m.hidden_seq IS NULL OR c.last_seq > m.hidden_seq)';

type StateRow = ConversationRow & {
  last_read_seq: number;
  muted: number;
  hidden_seq: number | null;
  member_count: number;
};
const MESSAGE_COLUMNS = 'conv, seq, id, sender, client_msg_id, body, ts';

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
    insertMessage: db.prepare<[MessagesTable]>(
      `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (@conv, @seq, @id, @sender, @client_msg_id, @body, @ts)`,
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
  logger?: Logger;
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

  /** `url`: `sqlite:<path>` or `sqlite::memory:`. */
  constructor(url: string, _options: SqliteMessageStoreOptions = {}) {
    this.opened = openDatabase<ChatTables>(url, { variable: 'MESSAGE_STORE_URL' });
    if (!this.opened.sqlite) throw new Error('not a SQLite URL');
    this.sqlite = this.opened.sqlite;
  }

  private get st(): ReturnType<typeof prepare> {
    this.statements ??= prepare(this.sqlite);
    return this.statements;
  }

  async migrate(): Promise<void> {
    await runChatMigrations(this.opened.db, migrations);
  }

  async ping(): Promise<void> {
    this.sqlite.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
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
    return { id, kind, name, topic: null, createdBy, createdAt: now, lastSeq: 0, lastActivityAt: now };
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

  async welcome(userId: UserId, channels: ConversationId[], now: number): Promise<ConversationId[]> {
    checkText('userId', userId);
    return this.sqlite
      .transaction(() => {
        if (this.st.insertSeenUser.run(userId, now).changes === 0) return [];
        return [...new Set(channels)].filter(
          (conv) => this.st.insertMember.run({ conv, user: userId, now }).changes === 1,
        );
      })
      .immediate();
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
      return rows.map((row): ConversationState => {
        const record = toConversation(row);
        const last = record.lastSeq > 0 ? this.st.messageBySeq.get(record.id, record.lastSeq) : undefined;
        return {
          ...record,
          lastReadSeq: row.last_read_seq,
          unread: Math.max(0, record.lastSeq - row.last_read_seq),
          muted: row.muted === 1,
          hidden: isHidden(row.hidden_seq, record.lastSeq),
          memberCount: row.member_count,
          memberIds: this.st.membersOf.all(record.id, MEMBERS_PREVIEW).map((m) => m.user_id),
          lastMessage: last ? toMessage(last) : null,
        };
      });
    })();
  }

  async conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined> {
    return this.sqlite.transaction(() => {
      const row = this.st.conversation.get(conv);
      const member = this.st.member.get(conv, userId);
      if (!row || !member) return undefined;
      const record = toConversation(row);
      const last = record.lastSeq > 0 ? this.st.messageBySeq.get(conv, record.lastSeq) : undefined;
      return {
        ...record,
        lastReadSeq: member.last_read_seq,
        unread: Math.max(0, record.lastSeq - member.last_read_seq),
        muted: member.muted === 1,
        hidden: isHidden(member.hidden_seq, record.lastSeq),
        memberCount: this.st.memberCount.get(conv)?.n ?? 0,
        memberIds: this.st.membersOf.all(conv, MEMBERS_PREVIEW).map((m) => m.user_id),
        lastMessage: last ? toMessage(last) : null,
      };
    })();
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
    return this.sqlite.transaction(() => this.appendInTransaction(inputs)).immediate();
  }

  /**
   * Runs under BEGIN IMMEDIATE, which holds SQLite's write lock: no membership change can
   * commit between the check below and this batch's commit.
   */
  private appendInTransaction(inputs: AppendInput[]): AppendOutcome[] {
    const stored = new Map<string, StoredMessage>();
    for (const key of distinctSendKeys(inputs)) {
      const row = this.st.messageByKey.get(key.sender, key.clientMsgId);
      if (row) stored.set(sendKeyOf(key.sender, key.clientMsgId), toStoredMessage(row));
    }
    const plan = new AppendPlan(inputs, stored);
    const refused = new Map<Candidate, AppendRefusal>();
    const accepted: Candidate[] = [];
    for (const candidate of plan.candidates) {
      const { conv, sender } = candidate.input;
      if (this.st.member.get(conv, sender)) accepted.push(candidate);
      else refused.set(candidate, this.st.conversation.get(conv) ? 'not_member' : 'not_found');
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
      });
    }
    for (const s of senders) this.st.bumpSender.run({ seq: s.seq, conv: s.conv, user: s.userId });
    return plan.settle(new Map(messages.map((m) => [m.id, m.seq])), (c) => refused.get(c)!);
  }

  async history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<StoredHistoryMessage[]> {
    checkPage(page);
    const limit = pageLimit(page.limit);
    if (page.after !== undefined) {
      return this.st.historyAfter
        .all(conv, page.after, page.before ?? Number.MAX_SAFE_INTEGER, limit)
        .map(toStoredMessage);
    }
    return this.st.historyBefore
      .all(conv, page.before ?? Number.MAX_SAFE_INTEGER, limit)
      .reverse()
      .map(toStoredMessage);
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
}
