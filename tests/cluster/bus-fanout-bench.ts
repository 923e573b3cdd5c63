/**
 * Fan-out benchmark of the bus: 1,000 conversations of 20 members each, the members spread
 * over 3 gateway replicas (so each replica is subscribed to every conversation, as in the
 * gateway), over one Redis (PUBLISH/SUBSCRIBE) and over a 3-master Redis Cluster (sharded
 * pub/sub), measured in the same run, one after the other.
 *
 *   node --conditions=source --import tsx tests/cluster/bus-fanout-bench.ts [rate,rate,…] [stepSeconds]
 *
 * Processes: 3 subscriber processes (the replicas: a Bus on the transport under test, 1,000
 * topics each) and 1 publisher (open loop: message i is due at start + i/rate; the payload
 * carries that intended time, so latency = arrival − intended, no coordinated omission).
 * With BENCH_PIN=1 (and `taskset`) the Redis servers run on the last CPU and the Node
 * processes on the others. Each step reports delivered messages/s (bus receptions at the replicas / 3),
 * member deliveries/s (× 20: what the gateways then write to sockets), p50/p99 latency and,
 * for the cluster, each master's share of the SPUBLISH calls (INFO commandstats).
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONVERSATIONS = 1000;
const MEMBERS = 20;
const REPLICAS = 3;
const PREFIX = 'bench:';
const now = () => performance.timeOrigin + performance.now();

type Target = string | string[];

async function transportFor(target: Target) {
  const { createLogger } = await import('@relay-chat/service-kit');
  const { Bus } = await import('../../services/chat/src/bus/bus.js');
  const { RedisTransport } = await import('../../services/chat/src/bus/redis.js');
  const { RedisClusterTransport } = await import('../../services/chat/src/bus/redis-cluster.js');
  const logger = createLogger({ name: 'bench', level: 'warn' });
  const transport =
    typeof target === 'string'
      ? new RedisTransport({ url: target, logger })
      : new RedisClusterTransport({ nodes: target, logger });
  await transport.connect();
  return new Bus({ transport, prefix: PREFIX, logger });
}

/** A replica: subscribed to every conversation, recording latencies per step. */
async function subscriber(target: Target): Promise<void> {
  const bus = await transportFor(target);
  let latencies: number[] = [];
  await Promise.all(
    Array.from(
      { length: CONVERSATIONS },
      (_, i) =>
        bus.subscribe(`conv:${i}`, (payload) => {
          latencies.push(now() - Number(payload.slice(0, payload.indexOf('|'))));
        }).ready,
    ),
  );
  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd === 'collect') {
      process.send!({ latencies });
      latencies = [];
    } else if (msg.cmd === 'stop') {
      void bus.close().then(() => process.exit(0));
    }
  });
  process.send!({ ready: true });
}

/** The publisher: `rate` messages/s for `seconds`, round-robin over the conversations. */
async function publisher(target: Target): Promise<void> {
  const bus = await transportFor(target);
  const body = 'x'.repeat(200);
  process.on('message', async (msg: { cmd: string; rate?: number; seconds?: number }) => {
    if (msg.cmd === 'stop') {
      await bus.close();
      process.exit(0);
    }
    if (msg.cmd !== 'run') return;
    const rate = msg.rate!;
    const total = Math.round(rate * msg.seconds!);
    const start = now() + 50;
    /** Publishes not answered within the transport's 2 s (they may still have been delivered). */
    let failed = 0;
    let i = 0;
    const inFlight = new Set<Promise<void>>();
    while (i < total) {
      const due = start + (i * 1000) / rate;
      const wait = due - now();
      // Always yield: the publishes of this turn are written, replies read, between turns.
      await new Promise((r) => (wait > 1 ? setTimeout(r, wait) : setImmediate(r)));
      // Everything due by now goes out in this turn (one pipelined write).
      while (i < total && start + (i * 1000) / rate <= now()) {
        const intended = start + (i * 1000) / rate;
        const p = bus.publish(`conv:${i % CONVERSATIONS}`, `${intended}|${body}`).catch(() => {
          failed++;
        });
        inFlight.add(p);
        p.finally(() => inFlight.delete(p));
        i++;
      }
      if (inFlight.size > 20_000) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    process.send!({ sent: total, failed, elapsedMs: now() - start });
  });
  process.send!({ ready: true });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface StepResult {
  backend: string;
  rate: number;
  sent: number;
  failed: number;
  deliveredPerSec: number;
  memberDeliveriesPerSec: number;
  receivedShare: number;
  p50: number;
  p99: number;
  shardShares?: string;
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!.toFixed(1);
  const rates = (process.argv[2] ?? '1000,2000,4000,8000').split(',').map(Number);
  const seconds = Number(process.argv[3] ?? 5);
  const cpuCount = cpus().length;
  // BENCH_PIN=1: Redis on the last CPU, the Node processes on the others (only meaningful on
  // a machine nothing else loads: with 2 busy CPUs, pinning starves the pinned processes).
  const pin =
    process.env.BENCH_PIN === '1' && cpuCount >= 2 && spawnSync('taskset', ['--version']).status === 0;
  const redisCpu = cpuCount - 1;
  const nodeCpus = pin ? `0-${cpuCount - 2}` : undefined;
  if (pin) {
    // The private servers start through a wrapper that pins them (and their threads) to one CPU.
    const dir = mkdtempSync(join(tmpdir(), 'relay-bench-redis-'));
    const wrapper = join(dir, 'redis-server');
    writeFileSync(wrapper, `#!/bin/sh\nexec taskset -c ${redisCpu} redis-server "$@"\n`);
    chmodSync(wrapper, 0o755);
    process.env.REDIS_SERVER_BIN = wrapper;
  }
  const { startPrivateRedis, startPrivateRedisCluster } = await import('@relay-chat/testkit');
  const { Redis } = await import('ioredis');
  const results: StepResult[] = [];

  for (const backend of ['redis', 'cluster'] as const) {
    const single = backend === 'redis' ? await startPrivateRedis() : undefined;
    const cluster = backend === 'cluster' ? await startPrivateRedisCluster() : undefined;
    const target: Target = single ? single.url : cluster!.seeds;
    const spawnRole = (role: string): Promise<ChildProcess> => {
      const execArgv = ['--conditions=source', '--import', 'tsx'];
      const child = fork(fileURLToPath(import.meta.url), [role, JSON.stringify(target)], { execArgv });
      if (nodeCpus && child.pid) spawnSync('taskset', ['-a', '-p', '-c', nodeCpus, String(child.pid)]);
      return new Promise((resolve, reject) => {
        child.once('message', () => resolve(child));
        child.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
      });
    };
    const subs = await Promise.all(Array.from({ length: REPLICAS }, () => spawnRole('subscriber')));
    const pub = await spawnRole('publisher');
    const ask = <T>(child: ChildProcess, msg: object): Promise<T> =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as T));
        child.send(msg);
      });
    const masterStats = async (): Promise<Map<number, number>> => {
      const stats = new Map<number, number>();
      if (!cluster) return stats;
      for (const m of (await cluster.topology()).filter((n) => n.role === 'master')) {
        const r = new Redis({ host: '127.0.0.1', port: m.port });
        const info = (await r.info('commandstats')) as string;
        r.disconnect();
        stats.set(m.port, Number(/cmdstat_spublish:calls=(\d+)/.exec(info)?.[1] ?? 0));
      }
      return stats;
    };
    try {
      // Warm-up, not recorded.
      await ask(pub, { cmd: 'run', rate: 1000, seconds: 1 });
      await new Promise((r) => setTimeout(r, 300));
      await Promise.all(subs.map((s) => ask(s, { cmd: 'collect' })));
      for (const rate of rates) {
        const before = await masterStats();
        const t0 = now();
        const pubResult = await ask<{ sent: number; failed: number; elapsedMs: number }>(pub, {
          cmd: 'run',
          rate,
          seconds,
        });
        await new Promise((r) => setTimeout(r, 500)); // stragglers
        const collected = await Promise.all(
          subs.map((s) => ask<{ latencies: number[] }>(s, { cmd: 'collect' })),
        );
        const wallMs = Math.max(pubResult.elapsedMs, now() - t0 - 500);
        const all = collected.flatMap((c) => c.latencies).sort((a, b) => a - b);
        const after = await masterStats();
        let shardShares: string | undefined;
        if (cluster) {
          const deltas = [...after].map(([port, calls]) => [port, calls - (before.get(port) ?? 0)] as const);
          const sum = deltas.reduce((a, [, d]) => a + d, 0);
          shardShares = deltas.map(([, d]) => `${((100 * d) / Math.max(1, sum)).toFixed(1)}%`).join(' / ');
        }
        const received = all.length / REPLICAS;
        const step: StepResult = {
          backend: backend === 'redis' ? '1 Redis' : 'Redis Cluster, 3 masters',
          rate,
          sent: pubResult.sent,
          failed: pubResult.failed,
          deliveredPerSec: Math.round(received / (wallMs / 1000)),
          memberDeliveriesPerSec: Math.round((received * MEMBERS) / (wallMs / 1000)),
          receivedShare: received / pubResult.sent,
          p50: Math.round(percentile(all, 50) * 10) / 10,
          p99: Math.round(percentile(all, 99) * 10) / 10,
          ...(shardShares ? { shardShares } : {}),
        };
        results.push(step);
        console.log(JSON.stringify(step));
      }
    } finally {
      for (const child of [...subs, pub]) child.send({ cmd: 'stop' });
      await new Promise((r) => setTimeout(r, 500));
      await single?.remove();
      await cluster?.remove();
    }
  }

  const header = `| backend | offered msg/s | delivered msg/s | member deliveries/s | received | publishes answered after 2 s | p50 ms | p99 ms | SPUBLISH share per master |`;
  const lines = results.map(
    (r) =>
      `| ${r.backend} | ${r.rate.toLocaleString('en')} | ${r.deliveredPerSec.toLocaleString('en')} | ${r.memberDeliveriesPerSec.toLocaleString('en')} | ${(100 * r.receivedShare).toFixed(1)}% | ${r.failed.toLocaleString('en')} | ${r.p50} | ${r.p99} | ${r.shardShares ?? '—'} |`,
  );
  console.log(
    [
      '',
      `CPUs: ${cpuCount}; load average ${loadAtStart} at the start, at the end ${loadavg()
        .map((l) => l.toFixed(1))
        .join(
          ' / ',
        )}; ${pin ? `Redis pinned to CPU ${redisCpu}, Node processes to ${nodeCpus}` : 'no pinning'}; ${seconds} s per step`,
      header,
      '|---|---:|---:|---:|---:|---:|---:|---:|---|',
      ...lines,
    ].join('\n'),
  );
}

const [role, target] = process.argv.slice(2);
if (role === 'subscriber') await subscriber(JSON.parse(target!) as Target);
else if (role === 'publisher') await publisher(JSON.parse(target!) as Target);
else await main();
