/**
 * The bus and presence contracts over a private Redis Cluster (3 masters + 3 replicas from
 * Debian's redis-server), then what only a cluster does: a master killed mid-stream (its
 * replica takes over) and slots migrated while payloads flow. In both the transport reports
 * down → up and the bus asks for a resync; every payload published is either delivered once
 * or (published while the link was down) left to that resync — never duplicated, never
 * silently lost while the link claims to be up.
 */
import { randomBytes } from 'node:crypto';
import { createLogger } from '@relay-chat/service-kit';
import {
  type PrivateRedisCluster,
  privateRedisUnavailableReason,
  startPrivateRedisCluster,
  waitFor,
} from '@relay-chat/testkit';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyedBudget } from '../limits/keyed-budget.js';
import { RedisBudget } from '../limits/redis-budget.js';
import { describePresenceRegistry } from '../presence/contract.js';
import { RedisPresence } from '../presence/redis.js';
import { Bus } from './bus.js';
import { describeBusTransport } from './contract.js';
import { keySlot, RedisClusterTransport } from './redis-cluster.js';
import { clusterNode } from './redis-target.js';

const logger = createLogger({
  name: 'bus-cluster-test',
  level: (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent',
});
const unavailable = privateRedisUnavailableReason();
if (unavailable) console.warn(`\n!!! Redis Cluster suites skipped: ${unavailable} !!!\n`);

let cluster: PrivateRedisCluster | undefined;
let clusterStarting: Promise<PrivateRedisCluster> | undefined;
/** One cluster for the whole file: each suite uses its own prefix. */
function sharedCluster(): Promise<PrivateRedisCluster> {
  clusterStarting ??= startPrivateRedisCluster().then((c) => {
    cluster = c;
    return c;
  });
  return clusterStarting;
}
afterAll(async () => {
  await cluster?.remove();
});

function adminOf(c: PrivateRedisCluster): Cluster {
  const admin = new Cluster(c.seeds.map(clusterNode));
  admin.on('error', () => {});
  return admin;
}

async function shardSubscribers(admin: Cluster, channel: string): Promise<number> {
  await new Promise<void>((resolve) => admin.refreshSlotsCache(() => resolve()));
  const owner = admin.slots[keySlot(channel)]?.[0];
  const node = admin.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
  if (!node) throw new Error(`no connection to ${owner}`);
  const reply = (await node.call('PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

describeBusTransport(
  'Redis Cluster (sharded pub/sub)',
  async () => {
    const c = await sharedCluster();
    const admin = adminOf(c);
    await new Promise<void>((resolve) => admin.once('ready', () => resolve()));
    return {
      async create() {
        const transport = new RedisClusterTransport({
          nodes: c.seeds.slice(0, 2),
          logger,
          connectionName: `relaytest-bus-${randomBytes(4).toString('hex')}`,
        });
        await transport.connect();
        return transport;
      },
      subscriberCount: (channel) => shardSubscribers(admin, channel),
      prefix: `bus-${randomBytes(3).toString('hex')}:`,
      async cleanup() {
        admin.disconnect();
      },
    };
  },
  unavailable !== undefined,
);

describe.skipIf(unavailable !== undefined)('RedisPresence on Redis Cluster', () => {
  let seeds: string[] = [];
  beforeAll(async () => {
    seeds = (await sharedCluster()).seeds;
  });
  let prefix = '';
  const FAST = { livenessTtlMs: 1000, heartbeatIntervalMs: 200, sweepIntervalMs: 200 };
  const replica = async () => {
    const presence = new RedisPresence({ url: seeds, prefix, logger, ...FAST });
    await presence.start();
    return presence;
  };
  describePresenceRegistry('RedisPresence (cluster)', {
    create() {
      prefix = `presence-${randomBytes(4).toString('hex')}:`;
      return replica();
    },
    peer: replica,
  });
});

describe.skipIf(unavailable !== undefined)('RedisBudget on Redis Cluster', () => {
  it('takes a turn of actions on keys of many slots, each key its own budget, in order', async () => {
    const { seeds } = await sharedCluster();
    const budget = new RedisBudget({
      url: seeds,
      prefix: `budget-${randomBytes(4).toString('hex')}:`,
      name: 'send',
      ratePerSec: 1,
      burst: 2,
      what: 'sending too fast',
      // Looser than Redis's: an answer from the fallback (a failed script call) would show.
      fallback: new KeyedBudget({ ratePerSec: 1, burst: 100, what: 'sending too fast' }),
      logger,
      timeoutMs: 2000,
    });
    try {
      await budget.ready();
      const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
      const outcomes = await Promise.all(
        [...users, ...users, ...users].map((user) =>
          budget.take(user).then(
            () => 'ok',
            (err: unknown) => (err as { code?: string }).code,
          ),
        ),
      );
      // Every user's first two actions pass, the third is refused.
      expect(outcomes).toEqual([
        ...users.map(() => 'ok'),
        ...users.map(() => 'ok'),
        ...users.map(() => 'rate_limited'),
      ]);
    } finally {
      await budget.stop();
    }
  }, 30_000);
});

describe.skipIf(unavailable !== undefined)('Redis Cluster bus under cluster faults', () => {
  it('spreads topics over the masters: one subscriber connection per master', async () => {
    const c = await sharedCluster();
    const transport = new RedisClusterTransport({ nodes: c.seeds, logger });
    const bus = new Bus({ transport, prefix: `spread-${randomBytes(3).toString('hex')}:`, logger });
    try {
      await transport.connect();
      await Promise.all(Array.from({ length: 60 }, (_, i) => bus.subscribe(`conv:${i}`, () => {}).ready));
      const placement = transport.placement();
      const masters = (await c.topology()).filter((n) => n.role === 'master');
      expect(placement.size).toBe(masters.length);
      for (const channels of placement.values()) expect(channels.length).toBeGreaterThan(5);
    } finally {
      await bus.close();
    }
  });

  /**
   * Publishes numbered payloads on `topics` from one bus and records, at another, what
   * arrived and whether the link was up, while `fault` runs.
   */
  async function streamThrough(
    fault: (c: PrivateRedisCluster, channels: string[]) => Promise<void>,
  ): Promise<{
    sent: number;
    got: Map<string, number[]>;
    downs: number;
    resyncs: number;
    lostWhileUp: number;
  }> {
    const c = await sharedCluster();
    const prefix = `fault-${randomBytes(3).toString('hex')}:`;
    const mk = () => {
      const transport = new RedisClusterTransport({ nodes: c.seeds, logger, auditIntervalMs: 200 });
      return { transport, bus: new Bus({ transport, prefix, logger }) };
    };
    const sub = mk();
    const pub = mk();
    await Promise.all([sub.transport.connect(), pub.transport.connect()]);
    const topics = Array.from({ length: 24 }, (_, i) => `conv:${i}`);
    const got = new Map<string, number[]>(topics.map((t) => [t, []]));
    let downs = 0;
    let resyncs = 0;
    /** Per topic, the sequence numbers published while the subscriber's link was up throughout. */
    const sentWhileUp = new Map<string, number[]>(topics.map((t) => [t, []]));
    sub.transport.onStateChange((s) => {
      if (s === 'down') downs++;
    });
    sub.bus.onResync(() => resyncs++);
    await Promise.all(topics.map((t) => sub.bus.subscribe(t, (p) => got.get(t)!.push(Number(p))).ready));
    let sent = 0;
    let running = true;
    const publisher = (async () => {
      for (let n = 0; running; n++) {
        const upBefore = sub.bus.state === 'up' && downs;
        await Promise.all(
          topics.map(async (t) => {
            try {
              await pub.bus.publish(t, String(n));
              sent++;
              // Counted as owed only when the link was up before and after, with no loss between.
              if (upBefore === downs && sub.bus.state === 'up') sentWhileUp.get(t)!.push(n);
            } catch {
              // unavailable: the gateway leaves it to the store
            }
          }),
        );
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await fault(
      c,
      topics.map((t) => prefix + t),
    );
    await waitFor(() => sub.bus.state === 'up' && resyncs >= 1, { timeoutMs: 15_000, what: 'link up again' });
    await new Promise((r) => setTimeout(r, 500));
    running = false;
    await publisher;
    await new Promise((r) => setTimeout(r, 300));
    // The sentinel-free check: payloads published while the link was up (before and after
    // the publish) must all have arrived; nothing arrives twice; order holds per topic.
    let lostWhileUp = 0;
    for (const t of topics) {
      const arrived = new Set(got.get(t));
      for (const n of sentWhileUp.get(t)!) if (!arrived.has(n)) lostWhileUp++;
    }
    await Promise.all([sub.bus.close(), pub.bus.close()]);
    return { sent, got, downs, resyncs, lostWhileUp };
  }

  function expectNoDuplicatesInOrder(got: Map<string, number[]>): void {
    for (const [topic, seqs] of got) {
      expect(new Set(seqs).size, `duplicates on ${topic}`).toBe(seqs.length);
      expect(seqs, `order on ${topic}`).toEqual([...seqs].sort((a, b) => a - b));
    }
  }

  it('survives slots migrating while payloads flow: down, resubscribe at the new owner, up, resync', async () => {
    const result = await streamThrough(async (c, channels) => {
      const masters = (await c.topology()).filter((n) => n.role === 'master');
      // The slots of a third of the channels move to another master.
      const moved = channels.filter((_, i) => i % 3 === 0).map(keySlot);
      const owner = await c.ownerOf(moved[0]!);
      const target = masters.find((m) => m.port !== owner.port)!;
      await c.moveSlots(moved, target.port);
      await c.waitHealthy();
    });
    expect(result.downs).toBeGreaterThanOrEqual(1);
    expect(result.resyncs).toBeGreaterThanOrEqual(1);
    expect(result.lostWhileUp).toBe(0);
    expectNoDuplicatesInOrder(result.got);
  });

  it('survives a master killed mid-stream: its replica takes over, the link comes back, resync', async () => {
    const result = await streamThrough(async (c) => {
      const masters = (await c.topology()).filter((n) => n.role === 'master');
      const victim = c.nodes.find((n) => n.port === masters[0]!.port)!;
      await victim.kill();
      await c.waitHealthy(15_000);
    });
    expect(result.downs).toBeGreaterThanOrEqual(1);
    expect(result.resyncs).toBeGreaterThanOrEqual(1);
    expect(result.lostWhileUp).toBe(0);
    expectNoDuplicatesInOrder(result.got);
  }, 45_000);
});
