import { randomUUID } from 'node:crypto';
import {
  asConversationId,
  ChatError,
  type ConversationId,
  LIMITS,
  MEMBERS_PREVIEW,
  type UserId,
} from '@relay-chat/protocol';
import type { Logger } from '@relay-chat/service-kit';
import {
  type ClientSession,
  type Collection,
  type Db,
  type Filter,
  MongoClient,
  type TransactionOptions,
  type UpdateFilter,
  WriteConcern,
} from 'mongodb';
import { searchText } from '../search/search-text.js';
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
  escapeRegExp,
  initialMembers,
  pageLimit,
} from './conversation-keys.js';
import { checkGroupSize, checkManager, checkSettings, isHidden } from './management-rules.js';
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
} from './message-store.js';
import {
  type AppendVerdict,
  judgeAppend,
  memberKey,
  mentionLookups,
  newMessageDoc,
  parentLookups,
  refKey,
  rootChanges,
} from './mongo-append.js';
import {
  applyReaction,
  aroundRange,
  badMentions,
  checkEmoji,
  checkReplyTo,
  type MessageDoc,
  mentionSummary,
  normalizeMentions,
  sameMentions,
  toMessage,
  toStoredMessage,
} from './mongo-messages.js';
import {
  backfillWrites,
  parseSearchCursor,
  SEARCH_BACKFILL_COUNTER,
  SEARCH_ID_COUNTER,
  SEARCH_INDEX,
  scopeConversations,
  searchPage,
  withSearchFields,
} from './mongo-search.js';

/** A conversation; `lastSeq` is the per-conversation counter bumped by `$inc` in each append transaction. */
interface ConversationDoc {
  _id: ConversationId;
  kind: ConversationRecord['kind'];
  name: string | null;
  /** Group or channel topic (schema 4); absent or null when none. */
  topic?: string | null;
  /** Lower-cased name, channels only (unique among channels). */
  nameKey?: string;
  createdBy: UserId;
  createdAt: number;
  lastSeq: number;
  /**
   * The change counter (schema 5): bumped by `$inc` in the transaction of every change of
   * one of its messages (edit, delete, reaction, a reply to it), gapless. Absent reads as 0.
   */
  lastChangeSeq?: number;
  lastActivityAt: number;
  /** Both user ids in order, DMs only (unique). */
  dmKey?: string;
}

/** One membership; join order is (joinedAt, _id). */
interface MemberDoc {
  conv: ConversationId;
  userId: UserId;
  lastReadSeq: number;
  /** Seq of the member's last message here since they joined; absent or 0 when none (schema 3). */
  lastSentSeq?: number;
  joinedAt: number;
  /** The member muted the conversation (schema 4; absent: no). */
  muted?: boolean;
  /** The member hid this DM while its last seq was this (schema 4; absent or null: not hidden). */
  hiddenSeq?: number | null;
  /**
   * Changes this member made as the conversation's owner: written by every management
   * transaction so that a concurrent leave is a write conflict (one of them is retried).
   */
  managed?: number;
  /**
   * Messages this member was mentioned in, and changes (edit, delete, reaction) they made
   * (schema 5): written by the transaction that stores the mention or the change, so that a
   * concurrent leave is a write conflict and a non-member is never mentioned or changes
   * anything. Counters nobody reads.
   */
  mentioned?: number;
  changed?: number;
}

/** A user chat has seen (schema 4): their first visit joined the default channels. */
interface ChatUserDoc {
  _id: UserId;
  firstSeenAt: number;
}

/** A counter of `chat_counters` (schema 6): SEARCH_ID_COUNTER, SEARCH_BACKFILL_COUNTER. */
interface CounterDoc {
  _id: string;
  value: number;
}

/** The one document of `chat_schema`: which data migrations have run. */
interface SchemaDoc {
  _id: 'schema';
  version: number;
}

/**
 * The schema version `migrate()` brings a database to (3: lastSentSeq backfilled; 4: the
 * users who are members anywhere recorded as seen, so only new users join the default
 * channels; 5: messages that change — `conversations.lastChangeSeq` set to 0 where absent,
 * indexes on changes, threads and mentions; existing messages need nothing: their new
 * fields are absent, which is what a message that never changed holds; 6: message search —
 * every message numbered (`searchId`) and every live one given its `searchText`, see
 * mongo-search.ts).
 */
const SCHEMA_VERSION = 6;

/** Messages the search backfill reads and writes at a time. */
const BACKFILL_BATCH = 1000;
/** Passes of the search backfill over the messages still without a searchId (each a collection scan). */
const BACKFILL_PASSES = 5;

/** Options of the MongoDB store. */
export interface MongoMessageStoreOptions {
  logger?: Logger;
  /** Database name; default the one in the URL's path, else `relay_chat`. */
  dbName?: string;
}

/** Attempts of one append batch that lost a race on (sender, clientMsgId). */
const MAX_APPEND_ATTEMPTS = 5;

// Snapshot reads and majority commits: a transaction sees one consistent state and its
// effects survive a primary failover once acknowledged.
const TRANSACTION_OPTIONS: TransactionOptions = {
  readConcern: { level: 'snapshot' },
  writeConcern: new WriteConcern('majority'),
  readPreference: 'primary',
};

/**
 * The message store on MongoDB (a replica set: transactions need one; a single-node set
 * will do). Every multi-document change runs in `session.withTransaction`, so a batch's
 * `$inc` of `conversations.lastSeq` and its message inserts commit together or not at all:
 * a process dying between steps leaves no gap. Concurrent writers of one conversation
 * conflict on its document; the loser's transaction is retried by the driver.
 */
export class MongoMessageStore implements MessageStore {
  private readonly client: MongoClient;
  private readonly db: Db;
  private readonly conversations: Collection<ConversationDoc>;
  private readonly members: Collection<MemberDoc>;
  private readonly messages: Collection<MessageDoc>;
  private readonly users: Collection<ChatUserDoc>;
  private readonly schema: Collection<SchemaDoc>;
  private readonly counters: Collection<CounterDoc>;
  private readonly logger: Logger | undefined;
  /** Appends of this process, one at a time (see append). */
  private appendTail: Promise<unknown> = Promise.resolve();

  /** `url`: `mongodb://…` or `mongodb+srv://…`. Connects lazily. */
  constructor(url: string, options: MongoMessageStoreOptions = {}) {
    this.client = new MongoClient(url);
    this.db = this.client.db(options.dbName ?? databaseNameOf(url) ?? 'relay_chat');
    this.conversations = this.db.collection<ConversationDoc>('conversations');
    this.members = this.db.collection<MemberDoc>('members');
    this.messages = this.db.collection<MessageDoc>('messages');
    this.users = this.db.collection<ChatUserDoc>('chat_users');
    this.schema = this.db.collection<SchemaDoc>('chat_schema');
    this.counters = this.db.collection<CounterDoc>('chat_counters');
    this.logger = options.logger;
  }

  async migrate(): Promise<void> {
    await this.client.connect();
    const hello = await this.client.db('admin').command({ hello: 1 });
    if (hello.setName === undefined && hello.msg !== 'isdbgrid') {
      // Without a replica set (or mongos) every transaction would fail: say so at start.
      throw new Error(
        'the MongoDB message store needs a replica set or a sharded cluster (transactions); ' +
          'a single node will do: start mongod with --replSet rs0 and run rs.initiate()',
      );
    }
    await this.conversations.createIndexes([
      {
        key: { dmKey: 1 },
        name: 'dm_key',
        unique: true,
        partialFilterExpression: { dmKey: { $type: 'string' } },
      },
      {
        key: { nameKey: 1 },
        name: 'channel_name',
        unique: true,
        partialFilterExpression: { kind: 'channel' },
      },
      // conversationsCreatedSince: one creator, two kinds, a range of times.
      { key: { createdBy: 1, kind: 1, createdAt: 1 }, name: 'created' },
    ]);
    await this.members.createIndexes([
      { key: { conv: 1, userId: 1 }, name: 'conv_user', unique: true },
      { key: { userId: 1 }, name: 'user' },
      { key: { conv: 1, joinedAt: 1, _id: 1 }, name: 'conv_join_order' },
    ]);
    await this.messages.createIndexes([
      { key: { conv: 1, seq: 1 }, name: 'conv_seq', unique: true },
      { key: { sender: 1, clientMsgId: 1 }, name: 'sender_client_msg_id', unique: true },
      // changesSince: a message holds its latest changeSeq only, so each value is on at most one message.
      {
        key: { conv: 1, changeSeq: 1 },
        name: 'conv_change_seq',
        unique: true,
        partialFilterExpression: { changeSeq: { $exists: true } },
      },
      // thread: a root's replies in seq order.
      {
        key: { conv: 1, threadRoot: 1, seq: 1 },
        name: 'conv_thread',
        partialFilterExpression: { threadRoot: { $exists: true } },
      },
      // unread mentions: one user's mentions in a conversation after their read marker (multikey).
      {
        key: { mentions: 1, conv: 1, seq: 1 },
        name: 'mentions_user',
        partialFilterExpression: { mentions: { $exists: true } },
      },
      // search: a conversation's live messages newest first, each term tested on the key.
      SEARCH_INDEX,
    ]);
    // The counter exists before any append takes from it (a transaction's upsert may not
    // create the collection on every server version).
    await this.ensureCounter(SEARCH_ID_COUNTER);
    const schema = await this.schema.findOne({ _id: 'schema' });
    const version = schema?.version ?? 0;
    let reached = SCHEMA_VERSION;
    if (version < 3) await this.backfillLastSentSeq();
    if (version < 4) await this.backfillSeenUsers();
    if (version < 5) await this.backfillChangeCounters();
    if (version < 6 && !(await this.backfillSearch())) {
      // Messages kept changing under the backfill: the next start runs it again.
      this.logger?.warn('search backfill left messages without a searchId; it runs again at the next start');
      reached = 5;
    }
    if (version < reached) {
      await this.schema.updateOne({ _id: 'schema' }, { $max: { version: reached } }, { upsert: true });
    }
  }

  private async ensureCounter(id: string): Promise<void> {
    try {
      await this.counters.updateOne({ _id: id }, { $setOnInsert: { value: 0 } }, { upsert: true });
    } catch (err) {
      // A concurrent start created it first.
      if (!isDuplicateKey(err)) throw err;
    }
  }

  /**
   * Schema 6: every message stored before search gets a `searchId` below 0 (newest first:
   * -1, -2, …, by ts, then conversation and seq) and, when live, its `searchText`; see
   * backfillWrites. Batches of BACKFILL_BATCH, outside transactions (each write is one
   * document, conditional on it being unchanged since read). Runs again, from where it
   * stopped, after an interruption (the ids come from a persistent counter); beside
   * replicas running the new code, whose appends number their messages themselves and
   * whose edits and deletes keep them unchanged-or-skipped. Returns whether every message
   * has a searchId. NOT RUN AGAINST A SERVER (see mongo-search.ts).
   */
  private async backfillSearch(): Promise<boolean> {
    await this.ensureCounter(SEARCH_BACKFILL_COUNTER);
    for (let pass = 1; pass <= BACKFILL_PASSES; pass++) {
      // A blocking sort (spilled to disk if need be) returns a snapshot of the order, so
      // the writes below never make the cursor see a message twice.
      const cursor = this.messages.find(
        { searchId: { $exists: false } },
        {
          projection: { _id: 1, body: 1, deleted: 1 },
          sort: { ts: -1, conv: -1, seq: -1 },
          allowDiskUse: true,
          batchSize: BACKFILL_BATCH,
        },
      );
      let batch: Pick<MessageDoc, '_id' | 'body' | 'deleted'>[] = [];
      let seen = 0;
      for await (const doc of cursor) {
        batch.push(doc);
        seen += 1;
        if (batch.length === BACKFILL_BATCH) {
          await this.writeBackfill(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await this.writeBackfill(batch);
      if (seen === 0) return true;
      this.logger?.info({ pass, messages: seen }, 'search backfill pass done');
    }
    return (await this.messages.countDocuments({ searchId: { $exists: false } }, { limit: 1 })) === 0;
  }

  private async writeBackfill(batch: Pick<MessageDoc, '_id' | 'body' | 'deleted'>[]): Promise<void> {
    const block = await this.counters.findOneAndUpdate(
      { _id: SEARCH_BACKFILL_COUNTER },
      { $inc: { value: -batch.length } },
      { upsert: true, returnDocument: 'after' },
    );
    if (!block) throw new Error('the search backfill counter vanished');
    await this.messages.bulkWrite(backfillWrites(batch, block.value), { ordered: false });
  }

  /**
   * Schema 5: every conversation gets its change counter, 0 (none of its messages has
   * changed). Only documents without one are touched, so a counter already moved by a
   * replica running the new code meanwhile is kept; `$inc` would also create a missing one.
   */
  private async backfillChangeCounters(): Promise<void> {
    await this.conversations.updateMany(
      { lastChangeSeq: { $exists: false } },
      { $set: { lastChangeSeq: 0 } },
    );
  }

  /**
   * Schema 4: everyone who is a member somewhere is not new (the default channels are for
   * a user's first visit). Idempotent: a user recorded already keeps their record.
   */
  private async backfillSeenUsers(): Promise<void> {
    await this.members
      .aggregate([
        { $group: { _id: '$userId', firstSeenAt: { $min: '$joinedAt' } } },
        { $merge: { into: 'chat_users', on: '_id', whenMatched: 'keepExisting', whenNotMatched: 'insert' } },
      ])
      .toArray();
  }

  /**
   * Schema 3: each member's `lastSentSeq` from the messages they sent since their current
   * join (as append would have counted them). `$max` makes it idempotent and safe beside
   * appends that already set it; an interrupted run is simply run again at the next start.
   */
  private async backfillLastSentSeq(): Promise<void> {
    await this.messages
      .aggregate([
        { $group: { _id: { conv: '$conv', userId: '$sender' }, last: { $max: { seq: '$seq', ts: '$ts' } } } },
        { $project: { _id: 0, conv: '$_id.conv', userId: '$_id.userId', seq: '$last.seq', ts: '$last.ts' } },
        {
          $merge: {
            into: 'members',
            on: ['conv', 'userId'],
            whenMatched: [
              {
                $set: {
                  lastSentSeq: {
                    $cond: [
                      { $gte: ['$$new.ts', '$joinedAt'] },
                      { $max: [{ $ifNull: ['$lastSentSeq', 0] }, '$$new.seq'] },
                      { $ifNull: ['$lastSentSeq', 0] },
                    ],
                  },
                },
              },
            ],
            whenNotMatched: 'discard',
          },
        },
      ])
      .toArray();
  }

  async ping(): Promise<void> {
    await this.db.command({ ping: 1 });
  }

  async close(): Promise<void> {
    await this.client.close();
  }

  /** Runs `fn` in one transaction; the driver retries it on transient errors (write conflicts). */
  private async transaction<T>(fn: (session: ClientSession) => Promise<T>): Promise<T> {
    const session = this.client.startSession();
    try {
      return await session.withTransaction(fn, TRANSACTION_OPTIONS);
    } finally {
      await session.endSession();
    }
  }

  async getOrCreateDm(
    a: UserId,
    b: UserId,
    now: number,
  ): Promise<{ conversation: ConversationRecord; created: boolean }> {
    const key = dmKeyOf(a, b);
    const existing = await this.conversations.findOne({ dmKey: key });
    if (existing) return { conversation: toRecord(existing), created: false };
    try {
      const created = await this.insertConversation('dm', null, a, [a, b], now, key);
      return { conversation: created, created: true };
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      const winner = await this.conversations.findOne({ dmKey: key });
      if (!winner) throw err;
      return { conversation: toRecord(winner), created: false };
    }
  }

  async createGroup(
    input: { name: string; createdBy: UserId; members: UserId[] },
    now: number,
  ): Promise<ConversationRecord> {
    checkText('name', input.name);
    const members = initialMembers(input.createdBy, input.members);
    return this.insertConversation('group', input.name, input.createdBy, members, now);
  }

  async createChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord> {
    checkText('name', input.name);
    try {
      return await this.insertConversation('channel', input.name, input.createdBy, [input.createdBy], now);
    } catch (err) {
      if (isDuplicateKey(err)) throw new ChatError('conflict', `a channel named "${input.name}" exists`);
      throw err;
    }
  }

  private async insertConversation(
    kind: ConversationRecord['kind'],
    name: string | null,
    createdBy: UserId,
    members: UserId[],
    now: number,
    dmKey?: string,
  ): Promise<ConversationRecord> {
    const doc: ConversationDoc = {
      _id: asConversationId(randomUUID()),
      kind,
      name,
      createdBy,
      createdAt: now,
      lastSeq: 0,
      lastChangeSeq: 0,
      lastActivityAt: now,
    };
    if (kind === 'channel' && name !== null) doc.nameKey = channelKeyOf(name);
    if (dmKey !== undefined) doc.dmKey = dmKey;
    await this.transaction(async (session) => {
      await this.conversations.insertOne(doc, { session });
      // insertMany refuses an empty batch (a channel made with no members).
      if (members.length === 0) return;
      await this.members.insertMany(
        members.map((userId) => ({ conv: doc._id, userId, lastReadSeq: 0, joinedAt: now })),
        { session, ordered: true },
      );
    });
    return toRecord(doc);
  }

  async ensureChannel(input: { name: string; createdBy: UserId }, now: number): Promise<ConversationRecord> {
    checkText('name', input.name);
    const nameKey = channelKeyOf(input.name);
    for (let attempt = 1; ; attempt++) {
      const existing = await this.conversations.findOne({ kind: 'channel', nameKey });
      if (existing) return toRecord(existing);
      try {
        return await this.insertConversation('channel', input.name, input.createdBy, [], now);
      } catch (err) {
        // Another caller created it first: read theirs.
        if (!isDuplicateKey(err) || attempt >= 3) throw err;
      }
    }
  }

  /**
   * Runs `change` in a transaction after checking the owner rule for `actor` in its
   * snapshot, and writes the actor's membership, so that a leave committing meanwhile is a
   * write conflict: the transaction is retried and sees the actor gone.
   */
  private async asManager<T>(
    conv: ConversationId,
    actor: UserId,
    what: 'rename' | 'members',
    change: (session: ClientSession, doc: ConversationDoc) => Promise<T>,
  ): Promise<T> {
    return this.transaction(async (session) => {
      const doc = await this.conversations.findOne({ _id: conv }, { session });
      const mine = await this.members.updateOne(
        { conv, userId: actor },
        { $inc: { managed: 1 } },
        { session },
      );
      checkManager(doc ? toRecord(doc) : undefined, mine.matchedCount === 1, actor, what);
      return change(session, doc!);
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
      return await this.asManager(conv, actor, 'rename', async (session, doc) => {
        const set: Partial<ConversationDoc> = {};
        if (change.name !== undefined) {
          set.name = change.name;
          if (doc.kind === 'channel') set.nameKey = channelKeyOf(change.name);
        }
        if (change.topic !== undefined) set.topic = change.topic;
        await this.conversations.updateOne({ _id: conv }, { $set: set }, { session });
        return toRecord({ ...doc, ...set });
      });
    } catch (err) {
      if (isDuplicateKey(err)) throw new ChatError('conflict', `a channel named "${change.name}" exists`);
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
    // Only the owner adds, and each of their changes writes their membership: two adds
    // conflict, so the count below cannot be passed by two transactions at once.
    return this.asManager(conv, actor, 'members', async (session, doc) => {
      const present = await this.members
        .find({ conv, userId: { $in: wanted } }, { session, projection: { userId: 1 } })
        .toArray();
      const have = new Set(present.map((m) => m.userId));
      const fresh = wanted.filter((u) => !have.has(u));
      const count = await this.members.countDocuments({ conv }, { session });
      checkGroupSize(count + fresh.length, maxMembers);
      if (fresh.length > 0) {
        await this.members.insertMany(
          fresh.map((userId) => ({ conv, userId, lastReadSeq: doc.lastSeq, joinedAt: now })),
          { session, ordered: true },
        );
      }
      return fresh;
    });
  }

  async removeMemberAs(conv: ConversationId, actor: UserId, userId: UserId): Promise<boolean> {
    return this.asManager(conv, actor, 'members', async (session) => {
      return (await this.members.deleteOne({ conv, userId }, { session })).deletedCount === 1;
    });
  }

  async updateSettings(conv: ConversationId, userId: UserId, settings: MemberSettings): Promise<void> {
    await this.transaction(async (session) => {
      const doc = await this.conversations.findOne(
        { _id: conv },
        { session, projection: { kind: 1, lastSeq: 1 } },
      );
      if (!doc) throw new ChatError('not_found', 'no such conversation');
      const set: Partial<MemberDoc> = {};
      if (settings.muted !== undefined) set.muted = settings.muted;
      // The last seq in this snapshot: a message committed meanwhile has a higher one and shows the DM.
      if (settings.hidden !== undefined) set.hiddenSeq = settings.hidden ? doc.lastSeq : null;
      const member = await this.members.findOne({ conv, userId }, { session, projection: { _id: 1 } });
      if (!member) throw new ChatError('not_member');
      checkSettings(doc.kind, settings);
      if (Object.keys(set).length > 0) {
        await this.members.updateOne({ conv, userId }, { $set: set }, { session });
      }
    });
  }

  async welcome(userId: UserId, channels: ConversationId[], now: number): Promise<ConversationId[]> {
    checkText('userId', userId);
    const wanted = [...new Set(channels)];
    try {
      return await this.transaction(async (session) => {
        if (await this.users.findOne({ _id: userId }, { session })) return [];
        await this.users.insertOne({ _id: userId, firstSeenAt: now }, { session });
        const found = await this.conversations
          .find({ _id: { $in: wanted } }, { session, projection: { lastSeq: 1 } })
          .toArray();
        const lastSeq = new Map(found.map((c) => [c._id, c.lastSeq]));
        const present = await this.members
          .find({ userId, conv: { $in: wanted } }, { session, projection: { conv: 1 } })
          .toArray();
        const have = new Set(present.map((m) => m.conv));
        const joined = wanted.filter((c) => lastSeq.has(c) && !have.has(c));
        if (joined.length > 0) {
          await this.members.insertMany(
            joined.map((conv) => ({ conv, userId, lastReadSeq: lastSeq.get(conv)!, joinedAt: now })),
            { session, ordered: true },
          );
        }
        return joined;
      });
    } catch (err) {
      // A concurrent first visit of the same user recorded it first.
      if (isDuplicateKey(err)) return [];
      throw err;
    }
  }

  async getConversation(id: ConversationId): Promise<ConversationRecord | undefined> {
    const doc = await this.conversations.findOne({ _id: id });
    return doc ? toRecord(doc) : undefined;
  }

  async listChannels(input: {
    userId: UserId;
    q?: string;
    limit: number;
    after?: string;
  }): Promise<ChannelRecord[]> {
    const limit = pageLimit(input.limit);
    // limit(0) would mean "no limit" to MongoDB.
    if (limit === 0) return [];
    const nameKey: { $gt: string; $regex?: string } = { $gt: input.after ? channelKeyOf(input.after) : '' };
    if (input.q) nameKey.$regex = `^${escapeRegExp(channelKeyOf(input.q))}`;
    const channels = await this.conversations
      .find({ kind: 'channel', nameKey })
      .sort({ nameKey: 1 })
      .limit(limit)
      .toArray();
    if (channels.length === 0) return [];
    const ids = channels.map((c) => c._id);
    const [joined, counts] = await Promise.all([
      this.members.find({ userId: input.userId, conv: { $in: ids } }, { projection: { conv: 1 } }).toArray(),
      this.memberCounts(ids),
    ]);
    const joinedIds = new Set(joined.map((m) => m.conv));
    return channels.map((c) => ({
      id: c._id,
      name: c.name ?? '',
      memberCount: counts.get(c._id)?.count ?? 0,
      joined: joinedIds.has(c._id),
      lastActivityAt: c.lastActivityAt,
    }));
  }

  /** Member count and the first MEMBERS_PREVIEW member ids in join order, per conversation. */
  private async memberCounts(ids: string[]): Promise<Map<string, { count: number; preview: UserId[] }>> {
    const groups = await this.members
      .aggregate<{ _id: string; count: number; preview: UserId[] }>([
        { $match: { conv: { $in: ids } } },
        { $sort: { conv: 1, joinedAt: 1, _id: 1 } },
        {
          $group: {
            _id: '$conv',
            count: { $sum: 1 },
            preview: { $firstN: { input: '$userId', n: MEMBERS_PREVIEW } },
          },
        },
      ])
      .toArray();
    return new Map(groups.map((g) => [g._id, { count: g.count, preview: g.preview }]));
  }

  async addMember(conv: ConversationId, userId: UserId, now: number): Promise<boolean> {
    const doc = await this.conversations.findOne({ _id: conv }, { projection: { lastSeq: 1 } });
    if (!doc) throw new ChatError('not_found', 'no such conversation');
    try {
      // A late joiner starts with everything before the join read.
      const result = await this.members.updateOne(
        { conv, userId },
        { $setOnInsert: { lastReadSeq: doc.lastSeq, joinedAt: now } },
        { upsert: true },
      );
      return result.upsertedCount === 1;
    } catch (err) {
      // Two concurrent upserts of one membership: the other one added it.
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  async removeMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    return (await this.members.deleteOne({ conv, userId })).deletedCount === 1;
  }

  async isMember(conv: ConversationId, userId: UserId): Promise<boolean> {
    return (await this.members.findOne({ conv, userId }, { projection: { _id: 1 } })) !== null;
  }

  async listMembers(conv: ConversationId, limit?: number): Promise<UserId[]> {
    const cursor = this.members.find({ conv }, { projection: { userId: 1 } }).sort({ joinedAt: 1, _id: 1 });
    if (limit !== undefined) {
      const n = pageLimit(limit);
      if (n === 0) return [];
      cursor.limit(n);
    }
    return (await cursor.toArray()).map((m) => m.userId);
  }

  async memberCount(conv: ConversationId): Promise<number> {
    return this.members.countDocuments({ conv });
  }

  async conversationsOf(userId: UserId, page?: ConversationPage): Promise<ConversationState[]> {
    checkConversationPage(page);
    const limit = page === undefined ? undefined : pageLimit(page.limit);
    // limit(0) would mean "no limit" to MongoDB.
    if (limit === 0) return [];
    const memberships = await this.members
      .find({ userId }, { projection: { conv: 1, lastReadSeq: 1, muted: 1, hiddenSeq: 1 } })
      .toArray();
    if (memberships.length === 0) return [];
    const conditions: Filter<ConversationDoc>[] = [];
    if (page?.visibleOnly) {
      // A hidden DM is listed again once a message passed the seq it was hidden at.
      const shown = memberships.filter((m) => m.hiddenSeq === undefined || m.hiddenSeq === null);
      const hidden = memberships.filter((m) => m.hiddenSeq !== undefined && m.hiddenSeq !== null);
      conditions.push({
        $or: [
          { _id: { $in: shown.map((m) => m.conv) } },
          ...hidden.map((m) => ({ _id: m.conv, lastSeq: { $gt: m.hiddenSeq! } })),
        ],
      });
    } else {
      conditions.push({ _id: { $in: memberships.map((m) => m.conv) } });
    }
    const before = page?.before;
    if (before) {
      conditions.push({
        $or: [
          { lastActivityAt: { $lt: before.lastActivityAt } },
          { lastActivityAt: before.lastActivityAt, _id: { $lt: before.id } },
        ],
      });
    }
    const filter: Filter<ConversationDoc> = conditions.length === 1 ? conditions[0]! : { $and: conditions };
    const cursor = this.conversations.find(filter).sort({ lastActivityAt: -1, _id: -1 });
    if (limit !== undefined) cursor.limit(limit);
    const conversations = await cursor.toArray();
    return this.statesOf(userId, conversations, new Map(memberships.map((m) => [m.conv, m])));
  }

  async conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined> {
    const membership = await this.members.findOne(
      { conv, userId },
      { projection: { conv: 1, lastReadSeq: 1, muted: 1, hiddenSeq: 1 } },
    );
    if (!membership) return undefined;
    const conversation = await this.conversations.findOne({ _id: conv });
    if (!conversation) return undefined;
    return (await this.statesOf(userId, [conversation], new Map([[conv, membership]])))[0];
  }

  /** The states of `conversations` (in their order), with `userId`'s membership (read marker, settings) of each. */
  private async statesOf(
    userId: UserId,
    conversations: ConversationDoc[],
    membershipOf: ReadonlyMap<string, Pick<MemberDoc, 'lastReadSeq' | 'muted' | 'hiddenSeq'>>,
  ): Promise<ConversationState[]> {
    if (conversations.length === 0) return [];
    // Read after the conversations: a lastSeq seen there was committed with its message.
    const withMessages = conversations.filter((c) => c.lastSeq > 0);
    const [counts, lastMessages, mentions] = await Promise.all([
      this.memberCounts(conversations.map((c) => c._id)),
      withMessages.length === 0
        ? Promise.resolve([])
        : this.messages.find({ $or: withMessages.map((c) => ({ conv: c._id, seq: c.lastSeq })) }).toArray(),
      this.unreadMentionsOf(userId, conversations, membershipOf),
    ]);
    const lastByConv = new Map(lastMessages.map((m) => [m.conv, m]));
    return conversations.map((c): ConversationState => {
      const membership = membershipOf.get(c._id);
      const lastReadSeq = membership?.lastReadSeq ?? 0;
      const last = lastByConv.get(c._id);
      return {
        ...toRecord(c),
        lastReadSeq,
        unread: Math.max(0, c.lastSeq - lastReadSeq),
        ...(mentions.get(c._id) ?? { unreadMentions: 0, mentionSeqs: [] }),
        muted: membership?.muted === true,
        hidden: isHidden(membership?.hiddenSeq, c.lastSeq),
        memberCount: counts.get(c._id)?.count ?? 0,
        memberIds: counts.get(c._id)?.preview ?? [],
        lastMessage: last ? toMessage(last) : null,
      };
    });
  }

  /**
   * `userId`'s unread mentions per conversation: messages after their read marker that
   * mention them, not deleted, from someone else (the sender is never among a message's
   * mentions, and a tombstone has none: the last two conditions only restate that). One
   * aggregation over the `mentions_user` index, one `$or` clause per conversation that has
   * unread messages at all.
   */
  private async unreadMentionsOf(
    userId: UserId,
    conversations: ConversationDoc[],
    membershipOf: ReadonlyMap<string, Pick<MemberDoc, 'lastReadSeq'>>,
  ): Promise<Map<string, { unreadMentions: number; mentionSeqs: number[] }>> {
    const clauses: Filter<MessageDoc>[] = [];
    for (const c of conversations) {
      const lastReadSeq = membershipOf.get(c._id)?.lastReadSeq ?? 0;
      if (c.lastSeq > lastReadSeq) {
        clauses.push({ mentions: { $eq: userId, $exists: true }, conv: c._id, seq: { $gt: lastReadSeq } });
      }
    }
    if (clauses.length === 0) return new Map();
    // Each clause names the partial index's condition ($exists) so the planner may use it.
    const groups = await this.messages
      .aggregate<{ _id: string; count: number; newest: number[] }>([
        { $match: { $or: clauses, deleted: { $ne: true }, sender: { $ne: userId } } },
        { $sort: { conv: 1, seq: -1 } },
        {
          $group: {
            _id: '$conv',
            count: { $sum: 1 },
            newest: { $firstN: { input: '$seq', n: LIMITS.maxMentionSeqs } },
          },
        },
      ])
      .toArray();
    return new Map(groups.map((g) => [g._id, mentionSummary(g.count, g.newest)]));
  }

  async spokeWith(userId: UserId, others: UserId[]): Promise<Set<UserId>> {
    const candidates = [...new Set(others)].filter((o) => o !== userId);
    if (candidates.length === 0) return new Set();
    const spoken = await this.members
      .find({ userId: { $in: candidates }, lastSentSeq: { $gt: 0 } }, { projection: { conv: 1, userId: 1 } })
      .toArray();
    if (spoken.length === 0) return new Set();
    const convs = [...new Set(spoken.map((m) => m.conv))];
    const mine = await this.members
      .find({ userId, conv: { $in: convs } }, { projection: { conv: 1 } })
      .toArray();
    if (mine.length === 0) return new Set();
    const privateConvs = await this.conversations
      .find(
        { _id: { $in: mine.map((m) => m.conv) }, kind: { $in: ['dm', 'group'] } },
        { projection: { _id: 1 } },
      )
      .toArray();
    const shared = new Set(privateConvs.map((c) => c._id));
    return new Set(spoken.filter((m) => shared.has(m.conv)).map((m) => m.userId));
  }

  async conversationsCreatedSince(userId: UserId, since: number): Promise<number> {
    checkSeq('since', since);
    return this.conversations.countDocuments({
      createdBy: userId,
      kind: { $in: ['group', 'channel'] },
      createdAt: { $gte: since },
    });
  }

  /**
   * Batches of this process run one after another: concurrent transactions bumping one
   * conversation's counter would only conflict and be retried. Other processes' batches
   * still run concurrently and are serialised by the database (write conflicts).
   */
  append(inputs: AppendInput[]): Promise<AppendOutcome[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    try {
      checkAppendInputs(inputs);
      for (const input of inputs) {
        checkReplyTo(input.replyTo);
        normalizeMentions(input.sender, input.mentions);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.appendTail.then(() => this.appendWithRetry(inputs));
    this.appendTail = run.catch(() => undefined);
    return run;
  }

  private async appendWithRetry(inputs: AppendInput[]): Promise<AppendOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transaction((session) => this.appendInTransaction(session, inputs));
      } catch (err) {
        // Another process committed one of these (sender, clientMsgId) first: run the
        // batch again, which now finds it and returns it as a duplicate.
        if (!isDuplicateKey(err) || attempt >= MAX_APPEND_ATTEMPTS) throw err;
        this.logger?.debug({ attempt, batch: inputs.length }, 'retrying append batch after a duplicate race');
      }
    }
  }

  /**
   * Membership is read in the transaction's snapshot, and every accepted sender's member
   * document is written (read marker and lastSentSeq, both strictly raised): a leave that
   * deletes it concurrently is a write conflict, so either the leave waits for this commit
   * or the transaction is retried and sees the sender gone.
   */
  private async appendInTransaction(session: ClientSession, inputs: AppendInput[]): Promise<AppendOutcome[]> {
    const keys = distinctSendKeys(inputs);
    const existing = await this.messages
      .find({ $or: keys.map((k) => ({ sender: k.sender, clientMsgId: k.clientMsgId })) }, { session })
      .toArray();
    const stored = new Map<string, StoredMessage>();
    for (const doc of existing) stored.set(sendKeyOf(doc.sender, doc.clientMsgId), toStoredMessage(doc));
    const plan = new AppendPlan(inputs, stored);
    const { candidates } = plan;
    if (candidates.length === 0) return plan.settle(new Map(), () => 'not_found');

    const convIds = [...new Set(candidates.map((c) => c.input.conv))];
    const pairs = new Map(candidates.map((c) => [sendKeyOf(c.input.conv, c.input.sender), c.input]));
    // One operation at a time: a transaction's operations must not run in parallel.
    const convs = await this.conversations
      .find({ _id: { $in: convIds } }, { session, projection: { _id: 1, lastSeq: 1 } })
      .toArray();
    const memberships = await this.members
      .find(
        { $or: [...pairs.values()].map((p) => ({ conv: p.conv, userId: p.sender })) },
        { session, projection: { conv: 1, userId: 1 } },
      )
      .toArray();
    const lastSeqBefore = new Map(convs.map((c) => [c._id, c.lastSeq]));
    const members = new Set(memberships.map((m) => sendKeyOf(m.conv, m.userId)));
    const refused = new Map<Candidate, AppendRefusal>();
    const senders: Candidate[] = [];
    for (const candidate of candidates) {
      const { conv, sender } = candidate.input;
      if (members.has(sendKeyOf(conv, sender))) senders.push(candidate);
      else refused.set(candidate, lastSeqBefore.has(conv) ? 'not_member' : 'not_found');
    }
    const refusalOf = (c: Candidate) => refused.get(c)!;
    if (senders.length === 0) return plan.settle(new Map(), refusalOf);

    const { accepted, verdicts } = await this.checkRepliesAndMentions(
      session,
      senders,
      lastSeqBefore,
      refused,
    );
    if (accepted.length === 0) return plan.settle(new Map(), refusalOf);

    const allocation = new SeqAllocation(accepted);
    const repliesPerConv = new Map<ConversationId, number>();
    for (const c of accepted) {
      if (verdicts.get(c)!.threadRoot !== undefined) {
        repliesPerConv.set(c.input.conv, (repliesPerConv.get(c.input.conv) ?? 0) + 1);
      }
    }
    const lastSeqs = new Map<ConversationId, number>();
    const lastChangeSeqs = new Map<ConversationId, number>();
    for (const bump of allocation.bumps) {
      // Each reply changes its root, so the change counter rises with the message counter.
      const doc = await this.conversations.findOneAndUpdate(
        { _id: bump.conv },
        {
          $inc: { lastSeq: bump.count, lastChangeSeq: repliesPerConv.get(bump.conv) ?? 0 },
          $max: { lastActivityAt: bump.maxTs },
        },
        { session, returnDocument: 'after', projection: { lastSeq: 1, lastChangeSeq: 1 } },
      );
      // Read in this snapshot a moment ago; throwing aborts the transaction.
      if (!doc) throw new Error(`conversation ${bump.conv} vanished during an append`);
      lastSeqs.set(bump.conv, doc.lastSeq);
      lastChangeSeqs.set(bump.conv, doc.lastChangeSeq ?? 0);
    }
    const { messages, senders: senderBumps } = allocation.assign(lastSeqs);
    const candidateById = new Map(accepted.map((c) => [c.id as string, c]));
    // Search numbers the batch's messages in storage order (seq order within a
    // conversation) from one global counter: one write per batch, not per message.
    const numbered = await this.counters.findOneAndUpdate(
      { _id: SEARCH_ID_COUNTER },
      { $inc: { value: messages.length } },
      { session, upsert: true, returnDocument: 'after', projection: { value: 1 } },
    );
    if (!numbered) throw new Error('the search counter vanished during an append');
    const firstSearchId = numbered.value - messages.length + 1;
    const docs = messages.map((m, i) => {
      const candidate = candidateById.get(m.id)!;
      return withSearchFields(newMessageDoc(m, candidate.input, verdicts.get(candidate)!), firstSearchId + i);
    });
    await this.messages.insertMany(docs, { session, ordered: true });
    const marked = await this.members.bulkWrite(
      senderBumps.map((r) => ({
        updateOne: {
          filter: { conv: r.conv, userId: r.userId },
          update: { $max: { lastReadSeq: r.seq, lastSentSeq: r.seq } },
        },
      })),
      { session, ordered: false },
    );
    if (marked.matchedCount !== senderBumps.length) {
      throw new Error('a sender left during an append transaction');
    }
    // Each reply is a change of its thread's root: in seq order, the root's reply count
    // rises by one and it takes the conversation's next changeSeq; the state after each
    // reply is that reply's `root`.
    const rootAfter = new Map<string, StoredMessage>();
    for (const change of rootChanges(docs, lastChangeSeqs)) {
      const root = await this.messages.findOneAndUpdate(
        change.root,
        { $inc: { replyCount: 1 }, $set: { lastReplyAt: change.lastReplyAt, changeSeq: change.changeSeq } },
        { session, returnDocument: 'after' },
      );
      // Found as (or through) the parent in this snapshot; messages are never removed.
      if (!root)
        throw new Error(`thread root ${change.root.conv}/${change.root.seq} vanished during an append`);
      rootAfter.set(change.reply, toStoredMessage(root));
    }
    const written = new Map(docs.map((d) => [d._id as string, toStoredMessage(d)]));
    const outcomes = plan.settle(new Map(messages.map((m) => [m.id, m.seq])), refusalOf);
    // The plan builds plain messages; give back each new one as stored (reply, mentions).
    return outcomes.map((outcome): AppendOutcome => {
      if ('refused' in outcome) return outcome;
      const message = written.get(outcome.message.id);
      if (!message) return outcome;
      if (outcome.duplicate) return { message, duplicate: true };
      const root = rootAfter.get(message.id);
      return root ? { message, duplicate: false, root } : { message, duplicate: false };
    });
  }

  /**
   * Of `senders` (candidates whose sender is a member), those whose reply and mentions are
   * good, with what each stores; the others are refused into `refused` (see judgeAppend:
   * `bad_reply`, then `bad_mentions`). Every mentioned member's document is written
   * (`mentioned`), so that a leave committing meanwhile is a write conflict: the
   * transaction is retried and refuses the mention.
   */
  private async checkRepliesAndMentions(
    session: ClientSession,
    senders: Candidate[],
    lastSeqBefore: ReadonlyMap<ConversationId, number>,
    refused: Map<Candidate, AppendRefusal>,
  ): Promise<{ accepted: Candidate[]; verdicts: Map<Candidate, AppendVerdict> }> {
    const inputs = senders.map((c) => c.input);
    const parentRefs = parentLookups(inputs, lastSeqBefore);
    const parents =
      parentRefs.length === 0
        ? []
        : await this.messages
            .find({ $or: parentRefs }, { session, projection: { conv: 1, seq: 1, threadRoot: 1 } })
            .toArray();
    const parentByRef = new Map(parents.map((p) => [refKey(p.conv, p.seq), p]));
    const wanted = mentionLookups(inputs);
    const mentionable = new Set<string>();
    if (wanted.size > 0) {
      const found = await this.members
        .find(
          { $or: [...wanted].map(([conv, users]) => ({ conv, userId: { $in: users } })) },
          { session, projection: { conv: 1, userId: 1 } },
        )
        .toArray();
      for (const m of found) mentionable.add(memberKey(m.conv, m.userId));
    }
    const accepted: Candidate[] = [];
    const verdicts = new Map<Candidate, AppendVerdict>();
    const mentioned = new Map<string, { conv: ConversationId; userId: UserId }>();
    for (const candidate of senders) {
      const { conv } = candidate.input;
      const verdict = judgeAppend(candidate.input, lastSeqBefore.get(conv) ?? 0, parentByRef, mentionable);
      if (typeof verdict === 'string') {
        refused.set(candidate, verdict);
        continue;
      }
      for (const userId of verdict.mentions) mentioned.set(memberKey(conv, userId), { conv, userId });
      verdicts.set(candidate, verdict);
      accepted.push(candidate);
    }
    if (mentioned.size > 0) {
      const written = await this.members.updateMany(
        { $or: [...mentioned.values()] },
        { $inc: { mentioned: 1 } },
        { session },
      );
      if (written.matchedCount !== mentioned.size)
        throw new Error('a mentioned member left during an append');
    }
    return { accepted, verdicts };
  }

  async history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<StoredMessage[]> {
    checkPage(page);
    const limit = pageLimit(page.limit);
    if (limit === 0) return [];
    const seq: { $gt?: number; $lt?: number } = {};
    if (page.after !== undefined) seq.$gt = page.after;
    if (page.before !== undefined) seq.$lt = page.before;
    const ascending = page.after !== undefined;
    const filter: Filter<MessageDoc> = { conv };
    if (seq.$gt !== undefined || seq.$lt !== undefined) filter.seq = seq;
    const docs = await this.messages
      .find(filter)
      .sort({ seq: ascending ? 1 : -1 })
      .limit(limit)
      .toArray();
    if (!ascending) docs.reverse();
    return contiguous(docs, page.after).map(toStoredMessage);
  }

  async markRead(conv: ConversationId, userId: UserId, seq: number): Promise<number> {
    checkSeq('seq', seq);
    if (!(await this.isMember(conv, userId))) throw new ChatError('not_member');
    const doc = await this.conversations.findOne({ _id: conv }, { projection: { lastSeq: 1 } });
    if (!doc || seq > doc.lastSeq) {
      throw new ChatError('seq_out_of_range', `seq ${seq} is past the conversation's last message`);
    }
    const member = await this.members.findOneAndUpdate(
      { conv, userId },
      { $max: { lastReadSeq: seq } },
      { returnDocument: 'after', projection: { lastReadSeq: 1 } },
    );
    if (!member) throw new ChatError('not_member');
    return member.lastReadSeq;
  }

  async markAllRead(userId: UserId): Promise<{ conv: ConversationId; seq: number }[]> {
    const memberships = await this.members
      .find({ userId }, { projection: { conv: 1, lastReadSeq: 1 } })
      .toArray();
    if (memberships.length === 0) return [];
    const convs = await this.conversations
      .find({ _id: { $in: memberships.map((m) => m.conv) } }, { projection: { lastSeq: 1 } })
      .toArray();
    const lastSeq = new Map(convs.map((c) => [c._id, c.lastSeq]));
    const behind = memberships.filter((m) => (lastSeq.get(m.conv) ?? 0) > m.lastReadSeq);
    if (behind.length === 0) return [];
    // $max: a marker moved further meanwhile (a read on another device) stays where it is.
    await this.members.bulkWrite(
      behind.map((m) => ({
        updateOne: {
          filter: { conv: m.conv, userId },
          update: { $max: { lastReadSeq: lastSeq.get(m.conv)! } },
        },
      })),
      { ordered: false },
    );
    return behind.map((m) => ({ conv: m.conv, seq: lastSeq.get(m.conv)! }));
  }

  // --- messages that change (protocol v1.2) --------------------------------------------
  //
  // NOT RUN AGAINST A SERVER: no MongoDB can run on the machines this was written on. The
  // code follows the driver's documented API and type-checks; the pure rules it relies on
  // (mongo-messages.ts) are unit-tested. Run mongo.test.ts with MONGO_URL before relying on it.

  async editMessage(input: EditInput): Promise<ChangeOutcome> {
    checkText('body', input.body);
    const mentions = normalizeMentions(input.actor, input.mentions);
    return this.change(input.conv, input.seq, input.actor, async (session, message) => {
      if (message.sender !== input.actor)
        throw new ChatError('forbidden', 'only its sender may edit a message');
      if (message.deleted) throw new ChatError('conflict', 'a deleted message cannot be edited');
      if (message.body === input.body && sameMentions(message.mentions ?? [], mentions)) return undefined;
      if (mentions.length > 0) await this.writeMentioned(session, input.conv, mentions, badMentions);
      // The search text changes with the body, in the same write; searchId stays (its place).
      const set = { body: input.body, editedAt: input.now, searchText: searchText(input.body) };
      if (mentions.length > 0) return { $set: { ...set, mentions } };
      return { $set: set, $unset: { mentions: '' } };
    });
  }

  async deleteMessage(
    conv: ConversationId,
    seq: number,
    actor: UserId,
    _now: number,
  ): Promise<ChangeOutcome> {
    return this.change(conv, seq, actor, async (_session, message, conversation) => {
      const owner = conversation.kind !== 'dm' && conversation.createdBy === actor;
      if (message.sender !== actor && !owner) {
        throw new ChatError('forbidden', 'only its sender or the conversation’s owner may delete a message');
      }
      if (message.deleted) return undefined;
      // The body, mentions and reactions really go, and the search text with them (out of
      // the search index); the tombstone keeps seq, replyTo, threadRoot, replyCount,
      // lastReplyAt and searchId.
      return {
        $set: { body: '', deleted: true },
        $unset: { mentions: '', reactions: '', editedAt: '', searchText: '' },
      };
    });
  }

  async react(input: ReactInput): Promise<ChangeOutcome> {
    checkText('emoji', input.emoji);
    checkEmoji(input.emoji);
    return this.change(input.conv, input.seq, input.actor, async (_session, message) => {
      if (message.deleted) throw new ChatError('conflict', 'a deleted message takes no reactions');
      const next = applyReaction(
        message.reactions ?? [],
        input.actor,
        input.emoji,
        input.on,
        input.maxDistinct,
      );
      if (!next) return undefined;
      // The whole list is rewritten from the transaction's snapshot: a concurrent reaction
      // on the same message is a write conflict, and the retried transaction sees it.
      return next.length > 0 ? { $set: { reactions: next } } : { $unset: { reactions: '' } };
    });
  }

  /**
   * One change of one message, in a transaction: the conversation (`not_found`), the
   * message (`not_found`), the actor's membership (`not_member`), then `decide` (forbidden,
   * conflict, validation) returns the update, or undefined for a change that changes
   * nothing (no changeSeq taken, `changed: false`). A real change takes the conversation's
   * next `lastChangeSeq` (`$inc`; two changes in one conversation conflict on its document,
   * the driver retries the loser) and stamps the message with it, and writes the actor's
   * membership so that a leave committing meanwhile is a write conflict.
   */
  private async change(
    conv: ConversationId,
    seq: number,
    actor: UserId,
    decide: (
      session: ClientSession,
      message: MessageDoc,
      conversation: Pick<ConversationDoc, 'kind' | 'createdBy'>,
    ) => Promise<UpdateFilter<MessageDoc> | undefined>,
  ): Promise<ChangeOutcome> {
    checkSeq('seq', seq);
    return this.transaction(async (session) => {
      const conversation = await this.conversations.findOne(
        { _id: conv },
        { session, projection: { kind: 1, createdBy: 1 } },
      );
      if (!conversation) throw new ChatError('not_found', 'no such conversation');
      const message = await this.messages.findOne({ conv, seq }, { session });
      if (!message) throw new ChatError('not_found', 'no such message');
      const member = await this.members.findOne({ conv, userId: actor }, { session, projection: { _id: 1 } });
      if (!member) throw new ChatError('not_member');
      const update = await decide(session, message, conversation);
      if (!update) return { message: toStoredMessage(message), changed: false };
      const mine = await this.members.updateOne(
        { conv, userId: actor },
        { $inc: { changed: 1 } },
        { session },
      );
      if (mine.matchedCount !== 1) throw new ChatError('not_member');
      const counter = await this.conversations.findOneAndUpdate(
        { _id: conv },
        { $inc: { lastChangeSeq: 1 } },
        { session, returnDocument: 'after', projection: { lastChangeSeq: 1 } },
      );
      if (!counter?.lastChangeSeq) throw new Error(`conversation ${conv} vanished during a change`);
      const changed = await this.messages.findOneAndUpdate(
        { conv, seq },
        { ...update, $set: { ...update.$set, changeSeq: counter.lastChangeSeq } },
        { session, returnDocument: 'after' },
      );
      if (!changed) throw new Error(`message ${conv}/${seq} vanished during a change`);
      return { message: toStoredMessage(changed), changed: true };
    });
  }

  /**
   * Checks that every one of `users` is a member of `conv` and writes their membership
   * (`mentioned`), so that a leave committing meanwhile is a write conflict (retried, the
   * transaction sees them gone); else throws `refusal()`.
   */
  private async writeMentioned(
    session: ClientSession,
    conv: ConversationId,
    users: UserId[],
    refusal: () => Error,
  ): Promise<void> {
    const found = await this.members.countDocuments({ conv, userId: { $in: users } }, { session });
    if (found !== users.length) throw refusal();
    const written = await this.members.updateMany(
      { conv, userId: { $in: users } },
      { $inc: { mentioned: 1 } },
      { session },
    );
    if (written.matchedCount !== users.length) throw refusal();
  }

  async changesSince(
    conv: ConversationId,
    after: number,
    limit: number,
  ): Promise<{ messages: StoredMessage[]; lastChangeSeq: number }> {
    checkSeq('after', after);
    const n = pageLimit(limit);
    // One snapshot for the counter and the page: a change committing meanwhile is either in
    // both or in neither, and no message is seen twice or missed as its changeSeq moves.
    return this.transaction(async (session) => {
      const doc = await this.conversations.findOne(
        { _id: conv },
        { session, projection: { lastChangeSeq: 1 } },
      );
      const lastChangeSeq = doc?.lastChangeSeq ?? 0;
      // limit(0) would mean "no limit" to MongoDB.
      if (!doc || n === 0 || after >= lastChangeSeq) return { messages: [], lastChangeSeq };
      // `$exists` restates the partial index's condition, so the planner may use it.
      const docs = await this.messages
        .find({ conv, changeSeq: { $gt: after, $exists: true } }, { session })
        .sort({ changeSeq: 1 })
        .limit(n)
        .toArray();
      return { messages: docs.map(toStoredMessage), lastChangeSeq };
    });
  }

  async thread(
    conv: ConversationId,
    root: number,
    page: { after?: number; limit: number },
  ): Promise<StoredMessage[]> {
    checkSeq('root', root);
    checkPage({ after: page.after });
    const n = pageLimit(page.limit);
    if (n === 0) return [];
    const docs = await this.messages
      .find({ conv, threadRoot: { $eq: root, $exists: true }, seq: { $gt: page.after ?? 0 } })
      .sort({ seq: 1 })
      .limit(n)
      .toArray();
    return docs.map(toStoredMessage);
  }

  // --- search (issue 14; mongo-search.ts) ----------------------------------------------
  //
  // NOT RUN AGAINST A SERVER (see mongo-search.ts): type-checked, and its filters and
  // paging unit-tested in memory.

  async search(input: SearchInput): Promise<SearchPage> {
    const start = parseSearchCursor(input.cursor);
    // Membership now: the searcher's conversations as the query runs.
    const memberships = await this.members
      .find({ userId: input.userId }, { projection: { conv: 1 } })
      .toArray();
    const scope = {
      convs: scopeConversations(
        memberships.map((m) => m.conv),
        input.conv,
      ),
      ...(input.author !== undefined ? { author: input.author } : {}),
      ...(input.before !== undefined ? { before: input.before } : {}),
      ...(input.after !== undefined ? { after: input.after } : {}),
    };
    return searchPage(scope, input.query, input.limit, start, (filter, limit) =>
      this.messages.find(filter).sort({ searchId: -1 }).limit(limit).toArray(),
    );
  }

  async around(conv: ConversationId, seq: number, limit: number): Promise<StoredMessage[]> {
    checkSeq('seq', seq);
    const n = pageLimit(limit);
    if (n === 0) return [];
    const doc = await this.conversations.findOne({ _id: conv }, { projection: { lastSeq: 1 } });
    if (!doc) return [];
    // Seqs are gapless up to lastSeq, so the page's range is known before reading it.
    const range = aroundRange(seq, n, doc.lastSeq);
    if (!range) return [];
    const docs = await this.messages
      .find({ conv, seq: { $gte: range.from, $lte: range.to } })
      .sort({ seq: 1 })
      .toArray();
    return contiguous(docs, range.from - 1).map(toStoredMessage);
  }
}

/**
 * The leading run of consecutive seqs (starting right after `after`, when given). Seqs
 * are gapless once committed, but a query that yields mid-scan may see a later commit
 * and not an earlier one; a reader that got a gap would skip that message for good, so
 * the page ends before it and the next poll picks it up.
 */
function contiguous(docs: MessageDoc[], after: number | undefined): MessageDoc[] {
  let expected = after === undefined ? docs[0]?.seq : after + 1;
  let end = 0;
  while (end < docs.length && docs[end]!.seq === expected) {
    end += 1;
    expected = (expected ?? 0) + 1;
  }
  return docs.slice(0, end);
}

function toRecord(doc: ConversationDoc): ConversationRecord {
  return {
    id: doc._id,
    kind: doc.kind,
    name: doc.name,
    topic: doc.topic ?? null,
    createdBy: doc.createdBy,
    createdAt: doc.createdAt,
    lastSeq: doc.lastSeq,
    lastChangeSeq: doc.lastChangeSeq ?? 0,
    lastActivityAt: doc.lastActivityAt,
  };
}

function isDuplicateKey(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 11000;
}

/** The database named in a MongoDB URL's path (`mongodb://h1,h2/name?…`), if any. */
export function databaseNameOf(url: string): string | undefined {
  const match = /^mongodb(?:\+srv)?:\/\/[^/]*\/([^?]*)/.exec(url);
  const name = match?.[1] ? decodeURIComponent(match[1]) : '';
  return name === '' ? undefined : name;
}
