/**
 * Messages that change (protocol v1.2) across three chat replicas (separate processes,
 * PostgreSQL and Redis): a change made through one replica reaches the members' sockets on
 * the others as a `change` frame; changes made at once through different replicas take
 * distinct, gapless changeSeqs; a device that was away catches up from any replica with
 * `GET …/changes?after=`; and a v1 client's messages keep flowing beside them.
 */
import { type Cluster, startCluster } from '@relay-chat/cluster';
import type { Conversation, Message } from '@relay-chat/protocol';
import {
  cleanRedisPrefix,
  createTestDatabase,
  freePort,
  pgAvailable,
  redisAvailable,
  redisTestPrefix,
  type TestDatabase,
} from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

const servicesUp = (await pgAvailable()) && (await redisAvailable());

let cluster: Cluster;
let db: TestDatabase;
let prefix: string;
let ann: TestUser;
let ben: TestUser;
let cal: TestUser;
const open: FrameClient[] = [];

async function onReplica(index: number, user: TestUser): Promise<FrameClient> {
  const client = await FrameClient.connect(`${cluster.chatUrls[index]!.replace('http', 'ws')}/ws`, {
    token: user.accessToken,
  });
  open.push(client);
  return client;
}

function call<T>(base: string, user: TestUser, method: string, path: string, body?: unknown) {
  return request<T>(base, method, `/api/chat/conversations${path}`, {
    token: user.accessToken,
    ...(body !== undefined ? { body } : {}),
  });
}

describe.skipIf(!servicesUp)('messages that change on three replicas', { timeout: 60_000 }, () => {
  let group: Conversation;

  beforeAll(async () => {
    db = await createTestDatabase('changes');
    prefix = redisTestPrefix('changes');
    cluster = await startCluster({
      replicas: 3,
      port: await freePort(),
      databaseUrl: db.url,
      redisPrefix: prefix,
      logLevel: 'warn',
      replicaEnv: { SEND_RATE_PER_SEC: '500', SEND_BURST: '500' },
      authEnv: { REGISTER_PER_ADDRESS_PER_HOUR: '1000' },
    });
    [ann, ben, cal] = (await Promise.all(
      ['ann', 'ben', 'cal'].map((n) => registerUser(cluster.url, `${n}${Date.now().toString(36)}`)),
    )) as [TestUser, TestUser, TestUser];
    await introduce(cluster.url, ben, ann);
    await introduce(cluster.url, cal, ann);
    group = await createConversation(cluster.url, ann, {
      kind: 'group',
      name: 'crew',
      members: [ben.id, cal.id],
    });
  }, 180_000);

  afterAll(async () => {
    for (const client of open) client.close();
    await cluster?.stop();
    await db?.drop();
    await cleanRedisPrefix(prefix);
  }, 60_000);

  it('delivers an edit, a reaction, a reply’s root change and a delete made on one replica to sockets on the others', async () => {
    const annOn0 = await onReplica(0, ann);
    const annOn1 = await onReplica(1, ann);
    const benOn2 = await onReplica(2, ben);
    annOn0.send({ type: 'send', conv: group.id, clientMsgId: 'c-1', body: 'teh plan' });
    const { seq } = await annOn0.next('ack', (f) => f.clientMsgId === 'c-1');
    annOn0.send({ type: 'edit', conv: group.id, seq, body: 'the plan', ref: 'e' });
    const ack = await annOn0.next('change_ack', (f) => f.ref === 'e');
    for (const device of [annOn1, benOn2]) {
      const change = await device.next(
        'change',
        (f) => f.message.seq === seq && f.changeSeq === ack.changeSeq,
      );
      expect(change.message).toMatchObject({ body: 'the plan', editedAt: expect.any(Number) });
    }
    const reacted = await call<{ message: Message }>(
      cluster.chatUrls[2]!,
      ben,
      'PUT',
      `/${group.id}/messages/${seq}/reactions/${encodeURIComponent('🚀')}`,
    );
    expect(reacted.status).toBe(200);
    await annOn0.next('change', (f) => f.message.seq === seq && f.message.reactions?.[0]?.emoji === '🚀');
    benOn2.send({ type: 'send', conv: group.id, clientMsgId: 'r-1', body: 'agreed', replyTo: seq });
    await annOn1.next('message', (f) => f.replyTo === seq);
    await annOn1.next('change', (f) => f.message.seq === seq && f.message.replyCount === 1);
    annOn1.send({ type: 'delete', conv: group.id, seq, ref: 'd' });
    await annOn1.next('change_ack', (f) => f.ref === 'd');
    expect(
      (await benOn2.next('change', (f) => f.message.seq === seq && f.message.deleted === true)).message,
    ).toMatchObject({
      body: '',
      replyCount: 1,
    });
  });

  it('numbers changes made at once through different replicas gaplessly, and a device that was away catches up', async () => {
    const base = (await call<{ conversation: Conversation }>(cluster.url, cal, 'GET', `/${group.id}`)).body
      .conversation;
    const from = base.lastChangeSeq ?? 0;
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call<{ seq: number }>(
        cluster.chatUrls[i % 3]!,
        ann,
        'POST',
        `/${group.id}/messages`,
        {
          clientMsgId: `burst-${i}`,
          body: `m${i}`,
        },
      );
      seqs.push(res.body.seq);
    }
    const emoji = ['👍', '🎉', '❤️'];
    const results = await Promise.all(
      seqs.flatMap((seq, i) =>
        [ann, ben].map((user, u) =>
          call<{ message: Message; changed: boolean }>(
            cluster.chatUrls[(i + u) % 3]!,
            user,
            'PUT',
            `/${group.id}/messages/${seq}/reactions/${encodeURIComponent(emoji[i % 3]!)}`,
          ),
        ),
      ),
    );
    expect(results.every((r) => r.status === 200 && r.body.changed)).toBe(true);
    const changeSeqs = results.map((r) => r.body.message.changeSeq!).sort((a, b) => a - b);
    expect(changeSeqs).toEqual(Array.from({ length: 10 }, (_, i) => from + 1 + i));
    // cal was away: one page from another replica has each changed message once, current.
    const page = await call<{ messages: Message[]; lastChangeSeq: number }>(
      cluster.chatUrls[1]!,
      cal,
      'GET',
      `/${group.id}/changes?after=${from}`,
    );
    expect(page.body.lastChangeSeq).toBe(from + 10);
    expect(page.body.messages.map((m) => m.seq).sort((a, b) => a - b)).toEqual(seqs);
    for (const m of page.body.messages) expect(m.reactions?.[0]?.count).toBe(2);
    const calReady = await onReplica(2, cal);
    const inReady = calReady.ofType('ready')[0]!.conversations.find((c) => c.id === group.id);
    expect(inReady?.lastChangeSeq).toBe(from + 10);
  });
});
