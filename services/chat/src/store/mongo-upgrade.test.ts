import { randomBytes } from 'node:crypto';
import { asConversationId, asUserId, LIMITS } from '@relay-chat/protocol';
import { MongoClient } from 'mongodb';
import { afterEach, describe, expect, it } from 'vitest';
import { parseQuery } from '../search/search-text.js';
import { MongoMessageStore } from './mongo.js';

/**
 * The MongoDB store's upgrades: to schema 5 (messages that change) — a database written as
 * the schema-4 code wrote it, conversations without `lastChangeSeq`, plain messages — and
 * to schema 6 (search) — messages without `searchText` or `searchId` — each brought up by
 * `migrate()` and read back, then changed through the new methods.
 *
 * Needs a MongoDB replica set named by MONGO_URL (as mongo.test.ts); without it the suite
 * is reported as skipped, never faked. NOT RUN on the machine this was written on (no
 * MongoDB can run there): docs/storage.md says how to run it.
 */
const MONGO_URL = process.env.MONGO_URL;

const alice = asUserId('alice');
const bob = asUserId('bob');
const group = asConversationId('g1');

describe.skipIf(!MONGO_URL)(
  MONGO_URL
    ? 'MongoMessageStore upgrades to schemas 5 and 6'
    : 'MongoMessageStore upgrade — SKIPPED: MONGO_URL is not set',
  () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function schema4Database(): Promise<string> {
      const dbName = `relay_chat_upgrade_${randomBytes(5).toString('hex')}`;
      const client = new MongoClient(MONGO_URL!);
      await client.connect();
      cleanups.push(async () => {
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      });
      const db = client.db(dbName);
      await db.collection('chat_schema').insertOne({ _id: 'schema' as never, version: 4 });
      await db.collection('conversations').insertOne({
        _id: group as never,
        kind: 'group',
        name: 'team',
        topic: null,
        createdBy: alice,
        createdAt: 1,
        lastSeq: 3,
        lastActivityAt: 30,
      });
      await db.collection('members').insertMany([
        { conv: group, userId: alice, lastReadSeq: 3, lastSentSeq: 3, joinedAt: 1 },
        { conv: group, userId: bob, lastReadSeq: 1, lastSentSeq: 1, joinedAt: 1 },
      ]);
      await db.collection('messages').insertMany(
        [1, 2, 3].map((seq) => ({
          _id: `m${seq}` as never,
          conv: group,
          seq,
          sender: seq === 1 ? bob : alice,
          clientMsgId: `k${seq}`,
          body: `message ${seq}`,
          ts: seq * 10,
        })),
      );
      await db.collection('chat_users').insertMany([
        { _id: alice as never, firstSeenAt: 1 },
        { _id: bob as never, firstSeenAt: 1 },
      ]);
      return dbName;
    }

    function open(dbName: string): MongoMessageStore {
      const store = new MongoMessageStore(MONGO_URL!, { dbName });
      cleanups.push(() => store.close());
      return store;
    }

    it('reads a schema-4 database back unchanged, with no changes and no mentions', async () => {
      const store = open(await schema4Database());
      await store.migrate();
      expect((await store.getConversation(group))?.lastChangeSeq).toBe(0);
      const history = await store.history(group, { limit: 10 });
      expect(history).toStrictEqual(
        [1, 2, 3].map((seq) => ({
          conv: group,
          seq,
          id: `m${seq}`,
          from: seq === 1 ? bob : alice,
          body: `message ${seq}`,
          ts: seq * 10,
          clientMsgId: `k${seq}`,
        })),
      );
      const state = await store.conversationStateOf(group, bob);
      expect(state).toMatchObject({ unread: 2, unreadMentions: 0, mentionSeqs: [], lastChangeSeq: 0 });
      expect(await store.changesSince(group, 0, 10)).toEqual({ messages: [], lastChangeSeq: 0 });
    });

    it('takes replies, mentions, edits and reactions on upgraded data; migrate() again keeps them', async () => {
      const dbName = await schema4Database();
      const store = open(dbName);
      await store.migrate();
      const [outcome] = await store.append([
        {
          conv: group,
          sender: alice,
          clientMsgId: 'k4',
          body: 'hi @bob',
          ts: 40,
          replyTo: 1,
          mentions: [bob],
        },
      ]);
      expect(outcome).toMatchObject({
        message: { seq: 4, replyTo: 1, threadRoot: 1, mentions: [bob] },
        duplicate: false,
        root: { seq: 1, replyCount: 1, lastReplyAt: 40, changeSeq: 1 },
      });
      const edited = await store.editMessage({ conv: group, seq: 2, actor: alice, body: 'fixed', now: 50 });
      expect(edited).toMatchObject({ changed: true, message: { body: 'fixed', editedAt: 50, changeSeq: 2 } });
      const reacted = await store.react({
        conv: group,
        seq: 3,
        actor: bob,
        emoji: '👍',
        on: true,
        now: 60,
        maxDistinct: LIMITS.maxReactionsPerMessage,
      });
      expect(reacted.message.reactions).toEqual([{ emoji: '👍', count: 1, users: [bob] }]);
      expect((await store.conversationStateOf(group, bob))!).toMatchObject({
        unreadMentions: 1,
        mentionSeqs: [4],
      });

      const again = open(dbName);
      await again.migrate();
      const changes = await again.changesSince(group, 0, 10);
      expect(changes.lastChangeSeq).toBe(3);
      expect(changes.messages.map((m) => [m.seq, m.changeSeq])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
      const admin = new MongoClient(MONGO_URL!);
      try {
        const names = (await admin.db(dbName).collection('messages').indexes()).map((i) => i.name);
        expect(names).toEqual(
          expect.arrayContaining(['conv_change_seq', 'conv_thread', 'mentions_user', 'conv_search']),
        );
        const schema = await admin.db(dbName).collection('chat_schema').findOne({});
        expect(schema?.version).toBe(6);
      } finally {
        await admin.close();
      }
    });

    /** A database as the schema-5 code wrote it: no searchText, no searchId; one message deleted, one edited. */
    async function schema5Database(): Promise<string> {
      const dbName = `relay_chat_upgrade_${randomBytes(5).toString('hex')}`;
      const client = new MongoClient(MONGO_URL!);
      await client.connect();
      cleanups.push(async () => {
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      });
      const db = client.db(dbName);
      await db.collection('chat_schema').insertOne({ _id: 'schema' as never, version: 5 });
      await db.collection('conversations').insertOne({
        _id: group as never,
        kind: 'group',
        name: 'team',
        topic: null,
        createdBy: alice,
        createdAt: 1,
        lastSeq: 4,
        lastChangeSeq: 2,
        lastActivityAt: 40,
      });
      await db.collection('members').insertMany([
        { conv: group, userId: alice, lastReadSeq: 4, lastSentSeq: 4, joinedAt: 1 },
        { conv: group, userId: bob, lastReadSeq: 1, lastSentSeq: 1, joinedAt: 1 },
      ]);
      const message = (seq: number, body: string, extra: object = {}) => ({
        _id: `m${seq}` as never,
        conv: group,
        seq,
        sender: seq === 1 ? bob : alice,
        clientMsgId: `k${seq}`,
        body,
        ts: seq * 10,
        ...extra,
      });
      await db
        .collection('messages')
        .insertMany([
          message(1, 'Deploy failed'),
          message(2, '', { deleted: true, changeSeq: 1 }),
          message(3, 'we DEPLOY today', { editedAt: 35, changeSeq: 2 }),
          message(4, 'redeployed it'),
        ]);
      await db.collection('chat_users').insertMany([
        { _id: alice as never, firstSeenAt: 1 },
        { _id: bob as never, firstSeenAt: 1 },
      ]);
      return dbName;
    }

    const bodiesOf = async (store: MongoMessageStore, q: string) =>
      (await store.search({ userId: bob, query: parseQuery(q), limit: 50 })).hits.map((m) => m.body);

    it('indexes the messages stored before search, newest first, below every new one', async () => {
      const dbName = await schema5Database();
      const store = open(dbName);
      await store.migrate();
      expect(await bodiesOf(store, 'deploy')).toEqual(['we DEPLOY today', 'Deploy failed', 'redeployed it']);
      await store.append([
        { conv: group, sender: alice, clientMsgId: 'k5', body: 'deploy again', ts: 50 },
        { conv: group, sender: alice, clientMsgId: 'k6', body: 'deployment plan', ts: 60 },
      ]);
      expect(await bodiesOf(store, 'deploy')).toEqual([
        'deploy again',
        'we DEPLOY today',
        'Deploy failed',
        'deployment plan',
        'redeployed it',
      ]);
      // An edit of an upgraded message keeps its place; a delete takes it out.
      await store.editMessage({ conv: group, seq: 1, actor: bob, body: 'Deploy fixed', now: 70 });
      await store.deleteMessage(group, 3, alice, 80);
      expect(await bodiesOf(store, 'deploy')).toEqual([
        'deploy again',
        'Deploy fixed',
        'deployment plan',
        'redeployed it',
      ]);

      const admin = new MongoClient(MONGO_URL!);
      try {
        const db = admin.db(dbName);
        const docs = await db.collection('messages').find({}).sort({ seq: 1 }).toArray();
        expect(docs.map((d) => [d.seq, d.searchId, d.searchText])).toEqual([
          [1, -4, ' deploy fixed '],
          [2, -3, undefined],
          [3, -2, undefined],
          [4, -1, ' redeployed it '],
          [5, 1, ' deploy again '],
          [6, 2, ' deployment plan '],
        ]);
        expect((await db.collection('chat_schema').findOne({}))?.version).toBe(6);
        const names = (await db.collection('messages').indexes()).map((i) => i.name);
        expect(names).toContain('conv_search');
      } finally {
        await admin.close();
      }

      // migrate() again changes nothing.
      const again = open(dbName);
      await again.migrate();
      expect(await bodiesOf(again, 'deploy')).toEqual([
        'deploy again',
        'Deploy fixed',
        'deployment plan',
        'redeployed it',
      ]);
    });
  },
);
