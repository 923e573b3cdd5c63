/**
 * The fault suite: three chat replicas behind nginx on a PRIVATE PostgreSQL and a PRIVATE
 * Redis (the shared ones are never stopped), devices streaming messages across replicas
 * while the test refuses, freezes or restarts a dependency, kills a replica, restarts the
 * replicas in turn, or kills an nginx worker. For each fault: no acknowledged message lost,
 * none duplicated, one order on every device; while it lasts, every request gets an answer
 * within 2 s that is a success or a typed 503 / 1013; and the time until a send round-trip
 * works again is recorded. A summary table is printed and written as JSON.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@relay-chat/cluster';
import type { Conversation } from '@relay-chat/protocol';
import {
  freePort,
  type PrivatePostgres,
  type PrivateRedis,
  privateServersAvailable,
  startPrivatePostgres,
  startPrivateRedis,
  waitFor,
} from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ControlPair, type PairStats, startControlPair } from '../support/control-pair.js';
import { createConversation, registerUser, type TestUser } from '../support/http.js';
import { type ProbeTally, startProber } from './fault-prober.js';
import { streamThrough } from './fault-stream.js';

const runnable = privateServersAvailable();
const FAULT_MS = 5000;
const MEMBERS = 8;

let pg: PrivatePostgres | undefined;
let redis: PrivateRedis | undefined;
let cluster: Cluster | undefined;
let pair: ControlPair;
let idle: PairStats;
let members: TestUser[];
let prober: TestUser;
let proberConv: Conversation;

interface Row {
  fault: string;
  idleP99Ms: number;
  controlP99Ms: number;
  lost: number;
  duplicated: number;
  recoveryMs: number;
  probes: { ok: number; typed: number; bad: number };
}
const rows: Row[] = [];

beforeAll(async () => {
  if (!runnable) return;
  [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  cluster = await startCluster({
    replicas: 3,
    port: await freePort(),
    databaseUrl: `postgres://postgres@127.0.0.1:${pg.port}/relay_faults`,
    redisUrl: redis.url,
    redisPrefix: 'relay-faults:',
    logLevel: 'warn',
    replicaEnv: { SEND_RATE_PER_SEC: '500', SEND_BURST: '500' },
  });
  const tag = randomUUID().slice(0, 4);
  const names = [...Array.from({ length: MEMBERS }, (_, i) => `dev${i}x${tag}`), `prober${tag}`];
  const users: TestUser[] = [];
  for (let i = 0; i < names.length; i += 4) {
    users.push(...(await Promise.all(names.slice(i, i + 4).map((n) => registerUser(cluster!.url, n)))));
  }
  members = users.slice(0, MEMBERS);
  prober = users[MEMBERS]!;
  proberConv = await createConversation(cluster.url, prober, { kind: 'dm', with: members[0]!.id });
  pair = await startControlPair(cluster, { label: 'fltpair' });
  await pair.measure(2000); // warm-up
  idle = await pair.measure(4000);
  console.log(`[faults] control pair idle: ${JSON.stringify(idle)}`);
}, 240_000);

afterAll(async () => {
  pair?.close();
  // Whatever a failed test left frozen or stopped is thawed before the cluster stops.
  pg?.thaw();
  redis?.resume();
  await cluster?.stop();
  await Promise.all([pg?.remove(), redis?.remove()]);
  if (rows.length > 0) {
    const file = join(tmpdir(), `relay-faults-${Date.now()}.json`);
    writeFileSync(file, `${JSON.stringify({ idle, rows }, null, 2)}\n`);
    console.log(`[faults] summary (also in ${file}):\n${table(rows)}`);
  }
}, 120_000);

function table(list: Row[]): string {
  const header = [
    'fault',
    'control p99 ms (idle)',
    'lost',
    'duplicated',
    'recovery ms',
    'probes ok/typed/bad',
  ];
  const lines = list.map((r) => [
    r.fault,
    `${r.controlP99Ms} (${r.idleP99Ms})`,
    String(r.lost),
    String(r.duplicated),
    Number.isFinite(r.recoveryMs) ? String(r.recoveryMs) : 'never',
    `${r.probes.ok}/${r.probes.typed}/${r.probes.bad}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [row(header), row(widths.map((w) => '-'.repeat(w))), ...lines.map(row)].join('\n');
}

/** A fault: `inject` breaks something; `restore` waits it out and repairs it. */
interface Fault {
  inject(): Promise<void>;
  restore(): Promise<void>;
  /** Recovery is timed from the injection (the service should carry on) or the restore. */
  recoveryFrom: 'inject' | 'restore';
}

/**
 * Runs a fault in the middle of a stream. The typed-answer prober runs from the injection
 * to the end of the restore; the usability probe starts at the moment recovery is timed from.
 */
async function throughFault(name: string, fault: Fault): Promise<void> {
  const c = cluster!;
  let tally: ProbeTally = { ok: 0, typed: 0, bad: [] };
  let recoveryStart: () => void = () => {};
  const recoveryBegins = new Promise<void>((resolve) => {
    recoveryStart = resolve;
  });
  const faultDone = (async () => {
    await new Promise((r) => setTimeout(r, 1500)); // the stream is under way
    await fault.inject();
    if (fault.recoveryFrom === 'inject') recoveryStart();
    const probe = startProber({ url: c.url, wsUrl: c.wsUrl, token: prober.accessToken, conv: proberConv.id });
    try {
      await fault.restore();
    } finally {
      recoveryStart();
      tally = await probe.stop();
    }
  })();
  const recovery = recoveryBegins.then(() =>
    pair.probeUsable(60_000).then(
      (ms) => ms,
      () => Number.POSITIVE_INFINITY,
    ),
  );
  const [result, during, recoveryMs] = await Promise.all([
    streamThrough(c, members, name.replace(/[^a-z0-9]+/gi, '-'), faultDone),
    pair.measure(FAULT_MS, { until: faultDone, settleMs: 45_000 }),
    recovery,
  ]);
  await faultDone;
  const lost = result.lost + during.lost;
  const duplicated = result.duplicated + during.duplicated;
  rows.push({
    fault: name,
    idleP99Ms: idle.p99,
    controlP99Ms: during.p99,
    lost,
    duplicated,
    recoveryMs,
    probes: { ok: tally.ok, typed: tally.typed, bad: tally.bad.length },
  });
  console.log(
    `[faults] ${name}: stream ${JSON.stringify(result)}; control pair ${JSON.stringify(during)}; recovery ${recoveryMs} ms; probes ${JSON.stringify(tally)}`,
  );
  const detail = `(stream ${JSON.stringify({ ...result, problems: undefined })}, pair ${JSON.stringify(during)})`;
  expect.soft(lost, `${name}: acknowledged messages lost ${detail}`).toBe(0);
  expect.soft(duplicated, `${name}: messages duplicated ${detail}`).toBe(0);
  expect.soft(result.devicesOutOfOrder, `${name}: devices whose transcript differs from the store`).toBe(0);
  expect.soft(result.problems, `${name}: stream problems`).toEqual([]);
  expect.soft(during.unacked, `${name}: control pair messages never acknowledged`).toBe(0);
  expect
    .soft(
      tally.bad,
      `${name}: answers during the fault that were not a success or a typed 503/1013 within 2 s (of ${tally.ok + tally.typed + tally.bad.length})`,
    )
    .toEqual([]);
  expect
    .soft(recoveryMs, `${name}: a send round-trip works again (recovery ${recoveryMs} ms)`)
    .toBeLessThan(60_000);
}

const hold = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The pids of nginx's worker processes (children of its master). */
function nginxWorkers(masterPid: number): number[] {
  const workers: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === masterPid) workers.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return workers;
}

describe.skipIf(!runnable)(
  'faults under a steady stream, three replicas behind nginx on a private PostgreSQL and Redis',
  () => {
    it('PostgreSQL refused (stopped 5 s)', async () => {
      await throughFault('PostgreSQL stopped 5 s', {
        inject: () => pg!.stop(),
        restore: async () => {
          await hold(FAULT_MS);
          await pg!.start();
        },
        recoveryFrom: 'restore',
      });
    }, 180_000);

    it('PostgreSQL frozen (SIGSTOP 5 s)', async () => {
      await throughFault('PostgreSQL frozen 5 s', {
        inject: async () => pg!.freeze(),
        restore: async () => {
          await hold(FAULT_MS);
          pg!.thaw();
        },
        recoveryFrom: 'restore',
      });
    }, 180_000);

    it('Redis stopped (5 s)', async () => {
      await throughFault('Redis stopped 5 s', {
        inject: () => redis!.stop(),
        restore: async () => {
          await hold(FAULT_MS);
          await redis!.start();
        },
        recoveryFrom: 'restore',
      });
    }, 180_000);

    it('a replica killed with kill -9', async () => {
      const victim = cluster!.replicas[1]!;
      await throughFault('replica kill -9', {
        inject: async () => {
          await victim.kill('SIGKILL');
        },
        restore: () => hold(3000),
        recoveryFrom: 'inject',
      });
      await victim.start();
    }, 180_000);

    it('a rolling restart (SIGTERM each replica in turn, start it again)', async () => {
      await throughFault('rolling restart', {
        inject: async () => {},
        restore: async () => {
          for (const replica of cluster!.replicas) {
            await replica.kill('SIGTERM');
            await replica.start();
          }
        },
        recoveryFrom: 'inject',
      });
    }, 240_000);

    it('an nginx worker killed', async () => {
      const master = cluster!.nginx.pid!;
      let workers: number[] = [];
      await throughFault('nginx worker killed', {
        inject: async () => {
          workers = nginxWorkers(master);
          expect(workers.length, 'nginx workers found').toBeGreaterThan(0);
          for (const pid of workers) process.kill(pid, 'SIGKILL');
        },
        restore: async () => {
          await waitFor(() => nginxWorkers(master).some((pid) => !workers.includes(pid)), {
            timeoutMs: 10_000,
            what: 'nginx to start a new worker',
          });
          await hold(2000);
        },
        recoveryFrom: 'inject',
      });
    }, 180_000);
  },
);
