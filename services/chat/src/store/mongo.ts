import { randomUUID } from 'node:crypto';
import {
  ChatError,
  type ConversationId,
  MEMBERS_PREVIEW,
  type Message,
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
  WriteConcern,
} from 'mongodb';
import { AppendPlan, distinctSendKeys, type StoredMessage, sendKeyOf } from './append-plan.js';
import {
  channelKeyOf,
  checkAppendInputs,
  checkPage,
  checkSeq,
  checkText,
  dmKeyOf,
  escapeRegExp,
  initialMembers,
  pageLimit,
} from './conversation-keys.js';
import type {
  AppendInput,
  AppendResult,
  ChannelRecord,
  ConversationRecord,
  ConversationState,
  MessageStore,
} from './message-store.js';

/** A conversation; `lastSeq` is the per-conversation counter bumped by `$inc` in each append transaction. */
interface ConversationDoc {
  _id: string;
  kind: ConversationRecord['kind'];
  name: string | null;
  /** Lower-cased name, channels only (unique among channels). */
  nameKey?: string;
  createdBy: string;
  createdAt: number;
  lastSeq: number;
  lastActivityAt: number;
  /** Both user ids in order, DMs only (unique). */
  dmKey?: string;
}

/** One membership; join order is (joinedAt, _id). */
interface MemberDoc {
  conv: string;
  userId: string;
  lastReadSeq: number;
  joinedAt: number;
}

interface MessageDoc {
  /** The message id. */
  _id: string;
  conv: string;
  seq: number;
  sender: string;
  clientMsgId: string;
  body: string;
  ts: number;
}

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
    ]);
    await this.members.createIndexes([
      { key: { conv: 1, userId: 1 }, name: 'conv_user', unique: true },
      { key: { userId: 1 }, name: 'user' },
      { key: { conv: 1, joinedAt: 1, _id: 1 }, name: 'conv_join_order' },
    ]);
    await this.messages.createIndexes([
      { key: { conv: 1, seq: 1 }, name: 'conv_seq', unique: true },
      { key: { sender: 1, clientMsgId: 1 }, name: 'sender_client_msg_id', unique: true },
    ]);
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
      _id: randomUUID(),
      kind,
      name,
      createdBy,
      createdAt: now,
      lastSeq: 0,
      lastActivityAt: now,
    };
    if (kind === 'channel' && name !== null) doc.nameKey = channelKeyOf(name);
    if (dmKey !== undefined) doc.dmKey = dmKey;
    await this.transaction(async (session) => {
      await this.conversations.insertOne(doc, { session });
      await this.members.insertMany(
        members.map((userId) => ({ conv: doc._id, userId, lastReadSeq: 0, joinedAt: now })),
        { session, ordered: true },
      );
    });
    return toRecord(doc);
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
  private async memberCounts(ids: string[]): Promise<Map<string, { count: number; preview: string[] }>> {
    const groups = await this.members
      .aggregate<{ _id: string; count: number; preview: string[] }>([
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

  async conversationsOf(userId: UserId): Promise<ConversationState[]> {
    const memberships = await this.members
      .find({ userId }, { projection: { conv: 1, lastReadSeq: 1 } })
      .toArray();
    return this.statesOf(memberships);
  }

  async conversationStateOf(conv: ConversationId, userId: UserId): Promise<ConversationState | undefined> {
    const membership = await this.members.findOne(
      { conv, userId },
      { projection: { conv: 1, lastReadSeq: 1 } },
    );
    return membership ? (await this.statesOf([membership]))[0] : undefined;
  }

  private async statesOf(
    memberships: Pick<MemberDoc, 'conv' | 'lastReadSeq'>[],
  ): Promise<ConversationState[]> {
    if (memberships.length === 0) return [];
    const readSeq = new Map(memberships.map((m) => [m.conv, m.lastReadSeq]));
    const ids = [...readSeq.keys()];
    const conversations = await this.conversations
      .find({ _id: { $in: ids } })
      .sort({ lastActivityAt: -1, createdAt: -1, _id: 1 })
      .toArray();
    // Read after the conversations: a lastSeq seen there was committed with its message.
    const withMessages = conversations.filter((c) => c.lastSeq > 0);
    const [counts, lastMessages] = await Promise.all([
      this.memberCounts(ids),
      withMessages.length === 0
        ? Promise.resolve([])
        : this.messages.find({ $or: withMessages.map((c) => ({ conv: c._id, seq: c.lastSeq })) }).toArray(),
    ]);
    const lastByConv = new Map(lastMessages.map((m) => [m.conv, m]));
    return conversations.map((c): ConversationState => {
      const lastReadSeq = readSeq.get(c._id) ?? 0;
      const last = lastByConv.get(c._id);
      return {
        ...toRecord(c),
        lastReadSeq,
        unread: Math.max(0, c.lastSeq - lastReadSeq),
        memberCount: counts.get(c._id)?.count ?? 0,
        memberIds: counts.get(c._id)?.preview ?? [],
        lastMessage: last ? toMessage(last) : null,
      };
    });
  }

  /**
   * Batches of this process run one after another: concurrent transactions bumping one
   * conversation's counter would only conflict and be retried. Other processes' batches
   * still run concurrently and are serialised by the database (write conflicts).
   */
  append(inputs: AppendInput[]): Promise<AppendResult[]> {
    if (inputs.length === 0) return Promise.resolve([]);
    try {
      checkAppendInputs(inputs);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.appendTail.then(() => this.appendWithRetry(inputs));
    this.appendTail = run.catch(() => undefined);
    return run;
  }

  private async appendWithRetry(inputs: AppendInput[]): Promise<AppendResult[]> {
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

  private async appendInTransaction(session: ClientSession, inputs: AppendInput[]): Promise<AppendResult[]> {
    const keys = distinctSendKeys(inputs);
    const existing = await this.messages
      .find({ $or: keys.map((k) => ({ sender: k.sender, clientMsgId: k.clientMsgId })) }, { session })
      .toArray();
    const stored = new Map<string, StoredMessage>();
    for (const doc of existing) stored.set(sendKeyOf(doc.sender, doc.clientMsgId), toStoredMessage(doc));
    const plan = new AppendPlan(inputs, stored);
    if (!plan.writes) return plan.assign(new Map()).results;

    const lastSeqs = new Map<ConversationId, number>();
    for (const bump of plan.bumps) {
      const doc = await this.conversations.findOneAndUpdate(
        { _id: bump.conv },
        { $inc: { lastSeq: bump.count }, $max: { lastActivityAt: bump.maxTs } },
        { session, returnDocument: 'after', projection: { lastSeq: 1 } },
      );
      // Throwing aborts the transaction: nothing of the batch is stored.
      if (!doc) throw new ChatError('not_found', 'no such conversation');
      lastSeqs.set(bump.conv, doc.lastSeq);
    }
    const { messages, readMarkers, results } = plan.assign(lastSeqs);
    await this.messages.insertMany(
      messages.map((m) => ({
        _id: m.id,
        conv: m.conv,
        seq: m.seq,
        sender: m.from,
        clientMsgId: m.clientMsgId,
        body: m.body,
        ts: m.ts,
      })),
      { session, ordered: true },
    );
    await this.members.bulkWrite(
      readMarkers.map((r) => ({
        updateOne: { filter: { conv: r.conv, userId: r.userId }, update: { $max: { lastReadSeq: r.seq } } },
      })),
      { session, ordered: false },
    );
    return results;
  }

  async history(
    conv: ConversationId,
    page: { before?: number; after?: number; limit: number },
  ): Promise<Message[]> {
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
    return contiguous(docs, page.after).map(toMessage);
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
    createdBy: doc.createdBy,
    createdAt: doc.createdAt,
    lastSeq: doc.lastSeq,
    lastActivityAt: doc.lastActivityAt,
  };
}

function toMessage(doc: MessageDoc): Message {
  return { conv: doc.conv, seq: doc.seq, id: doc._id, from: doc.sender, body: doc.body, ts: doc.ts };
}

function toStoredMessage(doc: MessageDoc): StoredMessage {
  return { ...toMessage(doc), clientMsgId: doc.clientMsgId };
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
