/**
 * Three chat replicas behind nginx on a private Redis Cluster (3 masters + 3 replicas,
 * sharded pub/sub) instead of one Redis. Devices spread over the replicas stream messages
 * in a channel while (1) nothing happens, (2) the channel's slot migrates to another master,
 * (3) the master owning it is killed (its replica takes over). Each time: every acknowledged
 * message stored once, none lost, none duplicated, every device shows the store's
 * transcript in order — the gap a fault opens in the bus is recovered from the store.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@relay-chat/cluster';
import {
  createTestDatabase,
  freePort,
  type PrivateRedisCluster,
  pgAvailable,
  privateRedisUnavailableReason,
  startPrivateRedisCluster,
  type TestDatabase,
} from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StreamResult, streamThrough } from '../faults/fault-stream.js';
import { registerUser, type TestUser } from '../support/http.js';

const runnable = (await pgAvailable()) && privateRedisUnavailableReason() === undefined;
const PREFIX = 'relay-rc:';
const MEMBERS = 6;

let redis: PrivateRedisCluster | undefined;
let cluster: Cluster | undefined;
let db: TestDatabase | undefined;
const members: TestUser[] = [];

beforeAll(async () => {
  if (!runnable) return;
  [redis, db] = await Promise.all([startPrivateRedisCluster(), createTestDatabase('rcluster')]);
  cluster = await startCluster({
    replicas: 3,
    port: await freePort(),
    databaseUrl: db.url,
    redisClusterNodes: redis.seeds,
    redisPrefix: PREFIX,
    logLevel: 'warn',
    replicaEnv: { SEND_RATE_PER_SEC: '500', SEND_BURST: '500' },
    authEnv: { REGISTER_PER_ADDRESS_PER_HOUR: '1000' },
    // A loaded machine compiles the services slowly (tsx).
    readyTimeoutMs: 240_000,
  });
  const tag = randomUUID().slice(0, 4);
  for (let i = 0; i < MEMBERS; i += 3) {
    members.push(
      ...(await Promise.all([0, 1, 2].map((j) => registerUser(cluster!.url, `rc${i + j}x${tag}`)))),
    );
  }
}, 400_000);

afterAll(async () => {
  await cluster?.stop();
  await redis?.remove();
  await db?.drop();
}, 120_000);

/** The shard channels of conversations the replicas are subscribed to now, per master port. */
async function convChannels(c: PrivateRedisCluster): Promise<Map<number, string[]>> {
  const result = new Map<number, string[]>();
  for (const master of (await c.topology()).filter((n) => n.role === 'master')) {
    const node = new Redis({
      host: '127.0.0.1',
      port: master.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    node.on('error', () => {});
    try {
      await node.connect();
      const channels = (await node.call('PUBSUB', 'SHARDCHANNELS', `${PREFIX}conv:*`)) as string[];
      result.set(master.port, channels);
    } finally {
      node.disconnect();
    }
  }
  return result;
}

function expectClean(name: string, result: StreamResult): void {
  const detail = JSON.stringify({ ...result, problems: undefined });
  expect.soft(result.lost, `${name}: lost ${detail}`).toBe(0);
  expect.soft(result.duplicated, `${name}: duplicated ${detail}`).toBe(0);
  expect.soft(result.devicesOutOfOrder, `${name}: devices out of order ${detail}`).toBe(0);
  expect.soft(result.problems, `${name}: problems`).toEqual([]);
  expect(result.acked, `${name}: something was sent`).toBeGreaterThan(0);
}

/** How many times the replicas rebuilt their cluster subscriptions so far (from their logs). */
function heals(): number {
  const dir = cluster!.logDir;
  let count = 0;
  for (const file of readdirSync(dir).filter((f) => f.startsWith('chat-'))) {
    count += readFileSync(join(dir, file), 'utf8').split('Redis Cluster subscriptions lost').length - 1;
  }
  return count;
}

const hold = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until the stream's channel is subscribed somewhere — one not in `known` — and
 * returns the port of the master that owns it. The fault begins before the stream has
 * created its channel and connected its devices, which takes a while on a busy machine.
 */
async function newChannelOwner(c: PrivateRedisCluster, known: Set<string>): Promise<number> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    for (const [port, channels] of await convChannels(c)) {
      if (channels.some((channel) => !known.has(channel))) return port;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the stream never subscribed its channel');
}

async function knownChannels(c: PrivateRedisCluster): Promise<Set<string>> {
  return new Set([...(await convChannels(c)).values()].flat());
}

describe.skipIf(!runnable)('three replicas on a Redis Cluster (sharded pub/sub)', () => {
  it('delivers across replicas: every device gets every message once, in order', async () => {
    const result = await streamThrough(cluster!, members, 'rc-steady', hold(1500), {
      minMs: 2000,
      settleMs: 20_000,
    });
    console.log(`[redis-cluster] steady: ${JSON.stringify(result)}`);
    expectClean('steady', result);
  }, 90_000);

  it("keeps every message when the channel's slot migrates to another master mid-stream", async () => {
    let moved: string[] = [];
    const healsBefore = heals();
    const known = await knownChannels(redis!);
    const fault = (async () => {
      await newChannelOwner(redis!, known);
      await hold(1000); // messages flowing
      const before = await convChannels(redis!);
      const masters = [...before.keys()];
      // Every conversation channel of the stream moves to the next master.
      for (const [port, channels] of before) {
        const target = masters[(masters.indexOf(port) + 1) % masters.length]!;
        await redis!.moveSlots(await redis!.slotsOf(channels), target);
        moved = [...moved, ...channels];
      }
      await redis!.waitHealthy();
    })();
    const result = await streamThrough(cluster!, members, 'rc-reshard', fault, {
      minMs: 3000,
      settleMs: 30_000,
    });
    await fault; // a fault that failed fails the test
    console.log(`[redis-cluster] slot migration of ${moved.length} channel(s): ${JSON.stringify(result)}`);
    expect(moved.length).toBeGreaterThan(0);
    expect(heals(), 'replicas rebuilt their subscriptions').toBeGreaterThan(healsBefore);
    expectClean('slot migration', result);
  }, 120_000);

  it('keeps every message when the master owning the channel is killed mid-stream (failover)', async () => {
    let victimPort = 0;
    const healsBefore = heals();
    const known = await knownChannels(redis!);
    const fault = (async () => {
      victimPort = await newChannelOwner(redis!, known);
      await hold(1000); // messages flowing
      await redis!.nodes.find((n) => n.port === victimPort)!.kill();
      await redis!.waitHealthy(15_000);
    })();
    const result = await streamThrough(cluster!, members, 'rc-failover', fault, {
      minMs: 3000,
      settleMs: 30_000,
    });
    await fault; // a fault that failed fails the test
    console.log(`[redis-cluster] master ${victimPort} killed: ${JSON.stringify(result)}`);
    expect(heals(), 'replicas rebuilt their subscriptions').toBeGreaterThan(healsBefore);
    expectClean('master killed', result);
  }, 120_000);
});
