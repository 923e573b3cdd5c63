/**
 * The central promise, under faults: three chat replicas as separate processes behind real
 * nginx, real Redis and PostgreSQL. No acknowledged message is lost, none is shown twice,
 * every device shows a conversation in one order — even when a replica is killed (-9).
 */
import { type Cluster, startCluster } from '@relay-chat/cluster';
import type { Conversation, Message } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import {
  cleanRedisPrefix,
  createTestDatabase,
  freePort,
  pgAvailable,
  redisAvailable,
  redisTestPrefix,
  type TestDatabase,
  waitFor,
} from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { FrameClient } from '../support/frame-client.js';
import { createChannel, createConversation, registerUser, request, type TestUser } from '../support/http.js';

const servicesUp = (await pgAvailable()) && (await redisAvailable());
const USERS = 20;

let cluster: Cluster;
let db: TestDatabase;
let prefix: string;
let users: TestUser[];
const clients: ChatClient[] = [];

function sdkClient(user: TestUser): { client: ChatClient; messages: Map<string, Message[]> } {
  const messages = new Map<string, Message[]>();
  const client = new ChatClient({
    url: cluster.wsUrl,
    httpUrl: cluster.url,
    getToken: () => user.accessToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { baseDelayMs: 100, maxDelayMs: 1000 },
  });
  client.on('message', (message) => {
    let list = messages.get(message.conv);
    if (!list) {
      list = [];
      messages.set(message.conv, list);
    }
    list.push(message);
  });
  clients.push(client);
  client.connect();
  return { client, messages };
}

/** A raw frame client connected straight to one replica (bypassing nginx). */
function connectToReplica(index: number, user: TestUser): Promise<FrameClient> {
  return FrameClient.connect(`${cluster.chatUrls[index]!.replace('http', 'ws')}/ws`, {
    token: user.accessToken,
  });
}

/** The whole history of a conversation as stored, in seq order. */
async function storedHistory(user: TestUser, conv: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const page = await request<{ messages: Message[] }>(
      cluster.url,
      'GET',
      `/api/chat/conversations/${conv}/messages?after=${all.length === 0 ? 0 : all.at(-1)!.seq}&limit=200`,
      { token: user.accessToken },
    );
    expect(page.status).toBe(200);
    all.push(...page.body.messages);
    if (page.body.messages.length < 200) return all;
  }
}

async function connectionsPerReplica(): Promise<number[]> {
  return Promise.all(
    cluster.chatUrls.map(async (url) => {
      const text = await (await fetch(`${url}/api/chat/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('chat_ws_connections '));
      return Number(line?.split(' ')[1] ?? 0);
    }),
  );
}

describe.skipIf(!servicesUp)('three chat replicas behind nginx', () => {
  beforeAll(async () => {
    db = await createTestDatabase('cluster');
    prefix = redisTestPrefix('cluster');
    cluster = await startCluster({
      replicas: 3,
      port: await freePort(),
      databaseUrl: db.url,
      redisPrefix: prefix,
      logLevel: 'warn',
      replicaEnv: { SEND_RATE_PER_SEC: '500', SEND_BURST: '500' },
      // Every test user registers from 127.0.0.1.
      authEnv: { REGISTER_PER_ADDRESS_PER_HOUR: '1000' },
    });
    // Password hashing is deliberately slow: register 4 at a time (libuv's thread pool hashes 4 at once).
    users = [];
    for (let i = 0; i < USERS; i += 4) {
      const batch = Array.from({ length: Math.min(4, USERS - i) }, (_, j) =>
        registerUser(cluster.url, `member${i + j}`),
      );
      users.push(...(await Promise.all(batch)));
    }
  }, 180_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
    await db?.drop();
    await cleanRedisPrefix(prefix);
  }, 60_000);

  it('delivers a DM between users connected to different replicas', async () => {
    const [a, b] = users as [TestUser, TestUser];
    const dm = await createConversation(cluster.url, a, { kind: 'dm', with: b.id });
    const onFirst = await connectToReplica(0, a);
    const onSecond = await connectToReplica(1, b);
    onFirst.send({ type: 'send', conv: dm.id, clientMsgId: 'cross-1', body: 'across replicas' });
    expect((await onSecond.next('message', (f) => f.conv === dm.id)).body).toBe('across replicas');

    // The same clientMsgId retried through another replica is stored once.
    onSecond.send({ type: 'send', conv: dm.id, clientMsgId: 'retry-x', body: 'retried' });
    const first = await onSecond.next('ack', (f) => f.clientMsgId === 'retry-x');
    const viaOther = await connectToReplica(2, b);
    viaOther.send({ type: 'send', conv: dm.id, clientMsgId: 'retry-x', body: 'retried' });
    const second = await viaOther.next('ack', (f) => f.clientMsgId === 'retry-x');
    expect(second).toEqual(first);
    const history = await storedHistory(a, dm.id);
    expect(history.filter((m) => m.body === 'retried')).toHaveLength(1);
    for (const c of [onFirst, onSecond, viaOther]) c.close();
  });

  it('carries presence for new contacts and conversation changes across replicas', async () => {
    const [owner, bob, cat] = users.slice(16, 19) as [TestUser, TestUser, TestUser];
    const bobSocket = await connectToReplica(1, bob);
    const catSocket = await connectToReplica(2, cat);
    const ownerPhone = await connectToReplica(0, owner);
    const ownerLaptop = await connectToReplica(2, owner);
    const sockets = [bobSocket, catSocket, ownerPhone, ownerLaptop];
    const api = (user: TestUser, method: string, path: string, body?: unknown) =>
      request<{ conversation: Conversation }>(cluster.url, method, `/api/chat/conversations${path}`, {
        token: user.accessToken,
        ...(body === undefined ? {} : { body }),
      });
    try {
      // A new DM: each side is told at once that the other is online, whatever their replicas.
      const dm = await createConversation(cluster.url, owner, { kind: 'dm', with: bob.id });
      expect(await bobSocket.next('presence', (f) => f.user === owner.id)).toMatchObject({
        status: 'online',
      });
      expect(await ownerPhone.next('presence', (f) => f.user === bob.id)).toMatchObject({ status: 'online' });
      expect(await ownerLaptop.next('presence', (f) => f.user === bob.id)).toMatchObject({
        status: 'online',
      });

      // bob and cat write to the owner first (the consent rule for groups).
      await api(bob, 'POST', `/${dm.id}/messages`, { clientMsgId: 'hello-owner', body: 'hi' });
      const catDm = await createConversation(cluster.url, cat, { kind: 'dm', with: owner.id });
      await api(cat, 'POST', `/${catDm.id}/messages`, { clientMsgId: 'hello-owner', body: 'hi' });
      const group = (await api(owner, 'POST', '', { kind: 'group', name: 'across', members: [bob.id] })).body
        .conversation;

      const added = await api(owner, 'POST', `/${group.id}/members`, { members: [cat.id] });
      expect(added.status).toBe(200);
      await catSocket.next('conversation', (f) => f.conversation.id === group.id && f.event === 'joined');
      expect(
        await bobSocket.next(
          'conversation',
          (f) => f.conversation.id === group.id && f.event === 'member_joined',
        ),
      ).toMatchObject({ user: cat.id });
      expect(await bobSocket.next('presence', (f) => f.user === cat.id)).toMatchObject({ status: 'online' });
      expect(await catSocket.next('presence', (f) => f.user === bob.id)).toMatchObject({ status: 'online' });

      expect((await api(owner, 'PATCH', `/${group.id}`, { name: 'Across', topic: 'replicas' })).status).toBe(
        200,
      );
      for (const socket of [bobSocket, catSocket, ownerPhone]) {
        const frame = await socket.next(
          'conversation',
          (f) => f.conversation.id === group.id && f.event === 'updated' && f.user === owner.id,
        );
        expect(frame.conversation).toMatchObject({ name: 'Across', topic: 'replicas' });
      }

      // The owner's own setting reaches both of their devices (replicas 0 and 2), nobody else.
      expect((await api(owner, 'PUT', `/${group.id}/settings`, { muted: true })).status).toBe(200);
      for (const socket of [ownerPhone, ownerLaptop]) {
        const frame = await socket.next(
          'conversation',
          (f) => f.conversation.id === group.id && f.event === 'updated' && f.user === undefined,
        );
        expect(frame.conversation).toMatchObject({ muted: true });
      }

      expect((await api(owner, 'DELETE', `/${group.id}/members/${cat.id}`)).status).toBe(204);
      await catSocket.next('conversation', (f) => f.conversation.id === group.id && f.event === 'left');
      expect(
        await bobSocket.next(
          'conversation',
          (f) => f.conversation.id === group.id && f.event === 'member_left',
        ),
      ).toMatchObject({ user: cat.id, conversation: { memberCount: 2 } });
    } finally {
      for (const socket of sockets) socket.close();
    }
  });

  it('delivers 500 channel messages to 20 members spread over the replicas, each exactly once and in order', async () => {
    const channel = await createChannel(cluster.url, users[0]!, 'fanout', users);
    const members = users.map((user) => sdkClient(user));
    await waitFor(() => members.every((m) => m.client.state === 'open'), { what: 'all members connected' });
    const spread = await connectionsPerReplica();
    expect(
      spread.every((n) => n > 0),
      `connections per replica: ${spread.join(', ')}`,
    ).toBe(true);

    const senders = members.slice(0, 4);
    const acks = senders.flatMap((sender, s) =>
      Array.from({ length: 125 }, (_, i) => sender.client.send(channel.id, `s${s}-${i}`).acked),
    );
    await Promise.all(acks);
    await waitFor(() => members.every((m) => (m.messages.get(channel.id)?.length ?? 0) >= 500), {
      timeoutMs: 30_000,
      what: 'every member to receive 500 messages',
    });
    for (const member of members) {
      const seqs = member.messages.get(channel.id)!.map((m) => m.seq);
      expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    }
    for (const member of members) member.client.close();
  }, 120_000);

  it('puts one conversation on the wire in seq order on every replica, though its senders are on different replicas', async () => {
    const members = users.slice(0, 6);
    const channel = await createChannel(cluster.url, members[0]!, 'wire-order', members);
    // One sender and one listener per replica; nothing here reorders (no SDK).
    const wire = await Promise.all(members.map((user, i) => connectToReplica(i % 3, user)));
    const senders = wire.slice(0, 3);
    const perSender = 100;
    for (let i = 0; i < perSender; i++) {
      for (const [s, sender] of senders.entries()) {
        sender.send({ type: 'send', conv: channel.id, clientMsgId: `w${s}-${i}`, body: `w${s}-${i}` });
      }
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const total = senders.length * perSender;
    await waitFor(
      () => wire.every((c) => c.ofType('message').filter((m) => m.conv === channel.id).length >= total),
      { timeoutMs: 30_000, what: `every client to receive ${total} messages` },
    );
    for (const [i, client] of wire.entries()) {
      const seqs = client
        .ofType('message')
        .filter((m) => m.conv === channel.id)
        .map((m) => m.seq);
      expect(seqs, `arrival order on client ${i} (replica ${i % 3})`).toEqual(
        Array.from({ length: total }, (_, k) => k + 1),
      );
    }
    for (const client of wire) client.close();
  }, 60_000);

  it('misses nothing on devices that connect while the conversation is busy on their replica', async () => {
    const members = users.slice(0, 3);
    const channel = await createChannel(cluster.url, members[0]!, 'busy-connect', members);
    // The topic is already subscribed on replica 0 (the one-read path) …
    const listener = await connectToReplica(0, members[1]!);
    const sender = await connectToReplica(1, members[0]!);
    // About 400 messages a second for 1.5 s (under the test's send rate limit of 500/s).
    const total = 600;
    const sending = (async () => {
      for (let i = 0; i < total; i++) {
        sender.send({ type: 'send', conv: channel.id, clientMsgId: `busy-${i}`, body: `busy-${i}` });
        if (i % 2 === 1) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // … and on replica 2 only once the first device there has connected (the two-read path).
    const devices: FrameClient[] = [];
    for (let d = 0; d < 16; d++) devices.push(await connectToReplica(d % 2 === 0 ? 0 : 2, members[2]!));
    await sending;
    await waitFor(() => listener.ofType('message').filter((m) => m.conv === channel.id).length >= total, {
      timeoutMs: 30_000,
      what: 'the listener to receive every message',
    });
    for (const [d, device] of devices.entries()) {
      const ready = device.ofType('ready')[0]!;
      const seen = ready.conversations.find((c) => c.id === channel.id)?.lastSeq ?? 0;
      await waitFor(() => device.ofType('message').some((m) => m.conv === channel.id && m.seq === total), {
        timeoutMs: 30_000,
        what: `device ${d} to receive the last message`,
      });
      const live = new Set(
        device
          .ofType('message')
          .filter((m) => m.conv === channel.id)
          .map((m) => m.seq),
      );
      const missing = Array.from({ length: total - seen }, (_, k) => seen + 1 + k).filter(
        (q) => !live.has(q),
      );
      expect(missing, `device ${d}: ready lastSeq ${seen}, then live`).toEqual([]);
    }
    for (const client of [listener, sender, ...devices]) client.close();
  }, 60_000);

  it('loses nothing, duplicates nothing and keeps one order when a replica is killed mid-stream', async () => {
    const victimIndex = 1;
    const figures = await streamThroughFault('kill-test', async () => {
      const onVictim = (await connectionsPerReplica())[victimIndex]!;
      expect(onVictim).toBeGreaterThan(0);
      void cluster.replicas[victimIndex]!.kill('SIGKILL');
      return { devicesOnKilledReplica: onVictim };
    });
    console.log(`kill test figures: ${JSON.stringify(figures)}`);
    await cluster.replicas[victimIndex]!.restart();
  }, 120_000);

  it('loses nothing when every replica loses its Redis pub/sub connection mid-stream', async () => {
    const figures = await streamThroughFault('redis-drop', async () => {
      const admin = new Redis(cluster.redisUrl);
      try {
        const list = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
        const ours = list
          .split('\n')
          .map((line) => ({ id: /\bid=(\d+)/.exec(line)?.[1], name: /\bname=(\S*)/.exec(line)?.[1] ?? '' }))
          .filter((c) => c.id && c.name.startsWith(`relay-chat:${prefix}`));
        for (const c of ours) await admin.call('CLIENT', 'KILL', 'ID', c.id!);
        return { pubsubConnectionsKilled: ours.length };
      } finally {
        admin.disconnect();
      }
    });
    expect(figures.pubsubConnectionsKilled).toBeGreaterThanOrEqual(cluster.replicas.length);
    console.log(`redis drop figures: ${JSON.stringify(figures)}`);
  }, 120_000);

  it('stops a replica gracefully: its clients are told to reconnect (1012) and resume elsewhere', async () => {
    const [a, b] = users as [TestUser, TestUser];
    const dm = await createConversation(cluster.url, a, { kind: 'dm', with: b.id });
    const direct = await connectToReplica(2, a);
    const stopping = cluster.replicas[2]!.kill('SIGTERM');
    expect((await direct.waitClosed()).code).toBe(1012);
    await stopping;
    const { client, messages } = sdkClient(a);
    await waitFor(() => client.state === 'open', { what: 'the client to reconnect through nginx' });
    await client.send(dm.id, 'after the restart').acked;
    await waitFor(() => messages.get(dm.id)?.some((m) => m.body === 'after the restart'));
    client.close();
    await cluster.replicas[2]!.restart();
  }, 60_000);
});

/**
 * Twelve devices in one channel, four of them sending 100 messages each; `fault` runs in the
 * middle of the stream. Then: the store holds every message exactly once with gapless seqs,
 * every send was acked, and every device shows exactly the store's transcript in its order.
 */
async function streamThroughFault<F extends object>(
  name: string,
  fault: () => Promise<F>,
): Promise<F & Record<string, unknown>> {
  const members = users.slice(0, 12);
  const channel = await createChannel(cluster.url, members[0]!, name, members);
  const devices = members.map((user) => sdkClient(user));
  await waitFor(() => devices.every((d) => d.client.state === 'open'), { what: 'all devices connected' });

  const sent: string[] = [];
  const acked = new Set<string>();
  let faultAt = 0;
  let faultFigures: F | undefined;
  const streams = devices.slice(0, 4).map(async (sender, s) => {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      const body = `${name}-${s}-${i}`;
      sent.push(body);
      pending.push(sender.client.send(channel.id, body).acked.then(() => acked.add(body)));
      if (s === 0 && i === 40) {
        faultAt = Date.now();
        faultFigures = await fault();
      }
      await new Promise((r) => setTimeout(r, 15));
    }
    await Promise.all(pending);
  });
  await Promise.all(streams);
  const allAckedAt = Date.now();

  const stored = await storedHistory(members[0]!, channel.id);
  await waitFor(() => devices.every((d) => (d.messages.get(channel.id)?.length ?? 0) >= stored.length), {
    timeoutMs: 30_000,
    what: 'every device to catch up with the store',
  });
  const caughtUpAt = Date.now();

  // The store: gapless seqs, every message sent exactly once.
  expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
  const bodies = stored.map((m) => m.body);
  expect(new Set(bodies).size).toBe(bodies.length);
  expect([...bodies].sort()).toEqual([...sent].sort());
  expect(acked.size).toBe(sent.length);

  // Every device: exactly the store's transcript, in the store's order.
  const expected = stored.map((m) => `${m.seq}:${m.id}`);
  const perDevice = devices.map((d) => d.messages.get(channel.id)!.map((m) => `${m.seq}:${m.id}`));
  for (const transcript of perDevice) expect(transcript).toEqual(expected);
  for (const d of devices) d.client.close();

  return {
    ...(faultFigures as F),
    sent: sent.length,
    acked: acked.size,
    stored: stored.length,
    deliveredPerDevice: perDevice.map((t) => t.length),
    lost: sent.length - new Set(bodies).size,
    duplicated: perDevice.reduce((n, t) => n + (t.length - new Set(t).size), 0),
    msFromFaultToAllAcked: allAckedAt - faultAt,
    msFromFaultToAllDevicesCaughtUp: caughtUpAt - faultAt,
  };
}
