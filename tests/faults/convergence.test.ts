/**
 * The convergence test (issue 13): devices of several users on three chat replicas behind
 * nginx (private PostgreSQL and Redis) send, edit, delete, react, reply, mention and read
 * at random — from a fixed seed — while the test kills a replica with kill -9, drops every
 * Redis connection, and freezes a replica for 3 s; devices also go offline and come back.
 * When it settles, every device's state of every conversation (each message's body, edited
 * and deleted marks, reactions, replies, mentions) and each conversation's unread and
 * mention counts must equal the store's, compared by hash: 0 lost, 0 duplicated,
 * 0 diverged.
 *
 * `CONVERGENCE_SEED`, `CONVERGENCE_MS` (operations phase, default 60 s) and
 * `CONVERGENCE_USERS` (default 10, two devices each) change the run; the figures are
 * printed and written as JSON.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@relay-chat/cluster';
import {
  type Conversation,
  type ConversationId,
  isErrorCode,
  type Message,
  toChatError,
  type UserId,
} from '@relay-chat/protocol';
import {
  freePort,
  type PrivatePostgres,
  type PrivateRedis,
  privateServersAvailable,
  seeded,
  startPrivatePostgres,
  startPrivateRedis,
  waitFor,
} from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChannel, createConversation, registerUser, request, type TestUser } from '../support/http.js';
import { canonical, Device, hashOf } from './convergence-device.js';
import { storedHistory } from './fault-stream.js';

const runnable = privateServersAvailable();
const SEED = Number(process.env.CONVERGENCE_SEED ?? 13);
const OPS_MS = Number(process.env.CONVERGENCE_MS ?? 60_000);
const USERS = Number(process.env.CONVERGENCE_USERS ?? 10);
const DEVICES_PER_USER = 2;
const EMOJI = ['👍', '🎉', '❤️', '😂', '👀'];
/** Errors a correct client meets in a race (a message deleted meanwhile) or a fault. */
const EXPECTED_CODES = new Set([
  'conflict',
  'unavailable',
  'server_shutting_down',
  'rate_limited',
  'internal',
]);

let pg: PrivatePostgres | undefined;
let redis: PrivateRedis | undefined;
let cluster: Cluster | undefined;

beforeAll(async () => {
  if (!runnable) return;
  [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  cluster = await startCluster({
    replicas: 3,
    port: await freePort(),
    databaseUrl: `postgres://postgres@127.0.0.1:${pg.port}/relay_convergence`,
    redisUrl: redis.url,
    redisPrefix: 'relay-conv:',
    logLevel: 'warn',
    replicaEnv: { SEND_RATE_PER_SEC: '200', SEND_BURST: '200' },
  });
}, 240_000);

afterAll(async () => {
  pg?.thaw();
  redis?.resume();
  await cluster?.stop();
  await Promise.all([pg?.remove(), redis?.remove()]);
}, 120_000);

interface Room {
  conv: Conversation;
  members: TestUser[];
  owner: TestUser;
}

const hold = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.skipIf(!runnable)('convergence of messages that change, under faults', () => {
  it(
    `${USERS} users × ${DEVICES_PER_USER} devices, seed ${SEED}: every device ends in the store's state`,
    async () => {
      const c = cluster!;
      const tag = randomUUID().slice(0, 4);
      const users: TestUser[] = [];
      for (let i = 0; i < USERS; i += 4) {
        const names = Array.from({ length: Math.min(4, USERS - i) }, (_, k) => `cv${i + k}x${tag}`);
        users.push(...(await Promise.all(names.map((n) => registerUser(c.url, n)))));
      }
      const rooms = await makeRooms(c, users, tag);
      const devices = users.flatMap((user, u) =>
        // Every device starts before anything but the DMs' first messages: it resumes each
        // room from seq 0, so those come to it like everything after them.
        Array.from(
          { length: DEVICES_PER_USER },
          (_, d) => new Device(c, user, `u${u}d${d}`, Object.fromEntries(rooms.map((r) => [r.conv.id, 0]))),
        ),
      );
      for (const device of devices) device.connect();
      await waitFor(() => devices.every((d) => d.client.state === 'open'), {
        timeoutMs: 30_000,
        what: 'every device connected',
      });

      const random = seeded(SEED);
      const ops = new Map<string, number>();
      const errors = new Map<string, number>();
      const unexpected: string[] = [];
      const acked = new Set<string>();
      const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
      const roomsOf = (user: TestUser) => rooms.filter((r) => r.members.some((m) => m.id === user.id));
      let running = true;

      const faultsDone: string[] = [];
      // The faults come at fixed times (a quarter, half and three quarters of the run), whatever
      // a restart costs on a busy machine; the killed replica's restart runs beside them.
      const faults = (async () => {
        const t0 = Date.now();
        const at = (ms: number) => hold(Math.max(0, t0 + ms - Date.now()));
        const step = OPS_MS / 4;
        await at(step);
        if (!running) return;
        const victim = c.replicas[1]!;
        await victim.kill('SIGKILL');
        faultsDone.push('replica 1 kill -9');
        const restarted = hold(2000).then(() => victim.start());
        await at(2 * step);
        if (running) {
          execFileSync('redis-cli', ['-p', String(redis!.port), 'CLIENT', 'KILL', 'TYPE', 'pubsub']);
          execFileSync('redis-cli', ['-p', String(redis!.port), 'CLIENT', 'KILL', 'TYPE', 'normal']);
          faultsDone.push('every Redis connection dropped');
          await at(3 * step);
        }
        if (running) {
          const frozen = c.replicas[2]!;
          process.kill(frozen.pid!, 'SIGSTOP');
          faultsDone.push('replica 2 frozen 3 s (SIGSTOP)');
          await hold(3000);
          process.kill(frozen.pid!, 'SIGCONT');
        }
        await restarted;
      })();

      /** Devices go offline for a few seconds and come back (close, then connect). */
      let offlineSpells = 0;
      const churn = (async () => {
        while (running) {
          await hold(4000 + random() * 3000);
          if (!running) return;
          const device = devices[Math.floor(random() * devices.length)]!;
          device.close();
          offlineSpells += 1;
          await hold(2000 + random() * 4000);
          device.connect();
        }
      })();

      const act = async (device: Device, rnd: () => number): Promise<void> => {
        const mine = roomsOf(device.user);
        const room = mine[Math.floor(rnd() * mine.length)]!;
        const conv = room.conv.id;
        const known = [...(device.messages.get(conv)?.values() ?? [])];
        const live = known.filter((m) => !m.deleted);
        const pick = <T>(list: T[]): T | undefined => list[Math.floor(rnd() * list.length)];
        const others = room.members.filter((m) => m.id !== device.user.id);
        const roll = rnd();
        try {
          if (roll < 0.35 || live.length === 0) {
            const mentioned = rnd() < 0.3 && others.length > 0 ? [pick(others)!] : [];
            const parent = rnd() < 0.25 ? pick(known) : undefined;
            const body = `${mentioned.map((m) => `@${m.username} `).join('')}${device.label} says ${Math.floor(rnd() * 1e6)}`;
            const handle = device.client.send(conv, body, {
              ...(parent ? { replyTo: parent.seq } : {}),
              ...(mentioned.length > 0 ? { mentions: mentioned.map((m) => m.id as UserId) } : {}),
            });
            count(ops, parent ? 'reply' : mentioned.length > 0 ? 'send+mention' : 'send');
            handle.acked.then(
              () => acked.add(handle.clientMsgId),
              () => {},
            );
            return;
          }
          if (roll < 0.5) {
            const own = live.filter((m) => m.from === device.user.id);
            const target = pick(own);
            if (!target) return;
            count(ops, 'edit');
            await device.client.edit(
              conv,
              target.seq,
              `${target.body.slice(0, 200)} (edit ${Math.floor(rnd() * 1000)})`,
            );
            return;
          }
          if (roll < 0.56) {
            const own = room.owner.id === device.user.id && room.conv.kind !== 'dm';
            const target = pick(own ? live : live.filter((m) => m.from === device.user.id));
            if (!target) return;
            count(ops, 'delete');
            await device.client.deleteMessage(conv, target.seq);
            return;
          }
          if (roll < 0.82) {
            const target = pick(live);
            if (!target) return;
            const emoji = pick(EMOJI)!;
            const on = !target.reactions?.some(
              (r) => r.emoji === emoji && r.users.includes(device.user.id as UserId),
            );
            count(ops, on ? 'react' : 'unreact');
            await device.client.react(conv, target.seq, emoji, on);
            return;
          }
          const last = device.client.lastSeq(conv);
          if (last !== undefined && last > 0) {
            count(ops, 'read');
            device.client.markRead(conv, Math.max(1, last - Math.floor(rnd() * 3)));
          }
        } catch (err) {
          const error = toChatError(err);
          count(errors, error.code);
          if (!isErrorCode(error.code) || !EXPECTED_CODES.has(error.code)) {
            if (unexpected.length < 20) unexpected.push(`${device.label}: ${error.code} ${error.message}`);
          }
        }
      };

      const began = Date.now();
      await Promise.all(
        devices.map(async (device, i) => {
          const rnd = seeded(SEED * 1000 + i);
          while (Date.now() - began < OPS_MS) {
            await hold(150 + rnd() * 250);
            if (device.client.state !== 'open') continue;
            await act(device, rnd);
          }
        }),
      );
      running = false;
      await Promise.all([faults, churn]);
      for (const device of devices) if (device.client.state === 'closed') device.connect();

      // Settle: every send acknowledged, then every device equal to the store.
      await waitFor(() => devices.every((d) => d.client.outbox().length === 0), {
        timeoutMs: 60_000,
        what: 'every send acknowledged',
      }).catch(() => {});
      const unackedAtEnd = devices.reduce((n, d) => n + d.client.outbox().length, 0);

      let truth = await storeTruth(c, rooms, users);
      const diverged = (): string[] => {
        const out: string[] = [];
        for (const device of devices) {
          for (const room of roomsOf(device.user)) {
            const want = truth.transcripts.get(room.conv.id)!;
            const have = device.transcript(room.conv.id);
            if (hashOf(have) !== hashOf(want)) {
              out.push(`${device.label} ${room.conv.name ?? 'dm'}: ${describeDiff(have, want)}`);
            }
            const counts = device.client.conversation(room.conv.id);
            const wantCounts = truth.counts.get(`${device.user.id}:${room.conv.id}`)!;
            const haveCounts = { unread: counts?.unread, unreadMentions: counts?.unreadMentions ?? 0 };
            if (
              haveCounts.unread !== wantCounts.unread ||
              haveCounts.unreadMentions !== wantCounts.unreadMentions
            ) {
              out.push(
                `${device.label} ${room.conv.name ?? 'dm'}: counts ${JSON.stringify(haveCounts)} ≠ store ${JSON.stringify(wantCounts)}`,
              );
            }
          }
        }
        return out;
      };
      let problems = diverged();
      const settleStart = Date.now();
      while (problems.length > 0 && Date.now() - settleStart < 60_000) {
        await hold(1000);
        truth = await storeTruth(c, rooms, users);
        problems = diverged();
      }

      const stored = [...truth.transcripts.values()].flat();
      const storedIds = await storedClientIds(c, rooms);
      const lost = [...acked].filter((id) => !storedIds.has(id)).length;
      const duplicatedInStore = [...storedIds.values()].filter((n) => n > 1).length;
      const duplicatedOnDevices = devices.reduce((n, d) => n + d.duplicates, 0);
      const summary = {
        seed: SEED,
        opsMs: OPS_MS,
        users: USERS,
        devices: devices.length,
        conversations: rooms.length,
        operations: Object.fromEntries(ops),
        operationsTotal: [...ops.values()].reduce((a, b) => a + b, 0),
        refusals: Object.fromEntries(errors),
        faults: faultsDone,
        offlineSpells,
        storedMessages: stored.length,
        edited: stored.filter((m) => m.editedAt !== undefined).length,
        deleted: stored.filter((m) => m.deleted).length,
        withReactions: stored.filter((m) => m.reactions).length,
        replies: stored.filter((m) => m.replyTo !== undefined).length,
        changesApplied: devices.reduce((n, d) => n + d.changesApplied, 0),
        acked: acked.size,
        sentStillQueued: unackedAtEnd,
        lost,
        duplicated: duplicatedInStore + duplicatedOnDevices,
        diverged: problems.length,
        settleMs: Date.now() - settleStart,
      };
      const file = join(tmpdir(), `relay-convergence-${SEED}-${Date.now()}.json`);
      writeFileSync(file, `${JSON.stringify({ ...summary, problems: problems.slice(0, 50) }, null, 2)}\n`);
      console.log(`[convergence] ${JSON.stringify(summary)} (also in ${file})`);

      expect(faultsDone, 'every fault was injected').toHaveLength(3);
      expect(summary.operationsTotal, 'operations made').toBeGreaterThan(500);
      expect(unexpected, 'refusals a correct client should never get').toEqual([]);
      expect(unackedAtEnd, 'sends never acknowledged').toBe(0);
      expect(lost, 'acknowledged messages lost').toBe(0);
      expect(summary.duplicated, 'messages duplicated (store or devices)').toBe(0);
      expect(problems.slice(0, 20), 'devices diverged from the store').toEqual([]);
      for (const device of devices) device.close();
    },
    OPS_MS + 300_000,
  );
});

/** The conversations of the run: a channel of everyone, a group, and DMs; a message in each DM first (consent). */
async function makeRooms(c: Cluster, users: TestUser[], tag: string): Promise<Room[]> {
  const [owner, ...rest] = users as [TestUser, ...TestUser[]];
  const rooms: Room[] = [];
  const channel = await createChannel(c.url, owner, `conv-${tag}`, users);
  rooms.push({ conv: channel, members: users, owner });
  const partners = rest.slice(0, 3);
  for (const partner of partners) {
    const dm = await createConversation(c.url, owner, { kind: 'dm', with: partner.id });
    rooms.push({ conv: dm, members: [owner, partner], owner });
    // Consent for the group below: each partner has written to the owner.
    const res = await request(c.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
      token: partner.accessToken,
      body: { clientMsgId: `hello-${partner.id}`, body: 'hello' },
    });
    expect(res.status, 'a DM message').toBe(201);
  }
  if (rest.length >= 5) {
    const dm = await createConversation(c.url, rest[3]!, { kind: 'dm', with: rest[4]!.id });
    rooms.push({ conv: dm, members: [rest[3]!, rest[4]!], owner: rest[3]! });
  }
  const group = await createConversation(c.url, owner, {
    kind: 'group',
    name: `group-${tag}`,
    members: partners.map((p) => p.id),
  });
  rooms.push({ conv: group, members: [owner, ...partners], owner });
  return rooms;
}

interface Truth {
  transcripts: Map<ConversationId, Message[]>;
  counts: Map<string, { unread: number; unreadMentions: number }>;
}

/** What the store holds: every conversation's whole history and each member's counts. */
async function storeTruth(c: Cluster, rooms: Room[], users: TestUser[]): Promise<Truth> {
  const transcripts = new Map<ConversationId, Message[]>();
  for (const room of rooms) {
    transcripts.set(room.conv.id, (await storedHistory(c, room.members[0]!, room.conv.id)).map(canonical));
  }
  const counts = new Map<string, { unread: number; unreadMentions: number }>();
  for (const user of users) {
    const answer = await waitFor(
      async () => {
        const res = await request<{ conversations: Conversation[] }>(
          c.url,
          'GET',
          '/api/chat/conversations?limit=100',
          { token: user.accessToken },
        );
        return res.status === 200 ? res.body.conversations : undefined;
      },
      { timeoutMs: 20_000, what: 'the conversation list' },
    );
    for (const conv of answer) {
      counts.set(`${user.id}:${conv.id}`, { unread: conv.unread, unreadMentions: conv.unreadMentions ?? 0 });
    }
  }
  return { transcripts, counts };
}

/** How many times each clientMsgId is stored: each member reads their own messages' ids. */
async function storedClientIds(c: Cluster, rooms: Room[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const room of rooms) {
    for (const member of room.members) {
      for (const m of await storedHistory(c, member, room.conv.id)) {
        if (m.from === member.id && m.clientMsgId) ids.set(m.clientMsgId, (ids.get(m.clientMsgId) ?? 0) + 1);
      }
    }
  }
  return ids;
}

function describeDiff(have: Message[], want: Message[]): string {
  if (have.length !== want.length) return `${have.length} messages, store ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (hashOf(have[i]) !== hashOf(want[i])) {
      return `seq ${want[i]!.seq}: ${JSON.stringify(have[i])} ≠ store ${JSON.stringify(want[i])}`;
    }
  }
  return 'differs';
}
