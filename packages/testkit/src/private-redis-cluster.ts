/**
 * A Redis Cluster of a test's own: `masters` × (1 + `replicasPerMaster`) `redis-server`
 * processes (Debian's binary, cluster-enabled) on free loopback ports, joined with
 * `redis-cli --cluster create`. Nothing is persisted. Nodes can be killed (a master's
 * replica takes over after `nodeTimeoutMs`), restarted, and slots moved between masters
 * while traffic flows — never the shared server on 6379.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';
import { PrivateProcess } from './private-process.js';
import { privateRedisUnavailableReason } from './private-redis.js';
import { waitFor } from './wait-for.js';

const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? 'redis-server';
const REDIS_CLI = process.env.REDIS_CLI_BIN ?? 'redis-cli';

export interface PrivateRedisClusterOptions {
  /** Default 3. */
  masters?: number;
  /** Default 1 (3 masters + 3 replicas). */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a master may be silent before its replica takes over. Default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Whole start (processes + cluster create + state ok), default 30 000 ms. */
  readyTimeoutMs?: number;
}

export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** Slot ranges [from, to] (masters). */
  slots: Array<[number, number]>;
}

export interface PrivateRedisClusterNode {
  readonly port: number;
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL: the node vanishes without a goodbye. */
  kill(): Promise<void>;
  /** Starts it again with its nodes.conf (it rejoins, as a replica if it was failed over). */
  start(): Promise<void>;
}

export interface PrivateRedisCluster {
  readonly nodes: readonly PrivateRedisClusterNode[];
  /** Seed URLs of every node (`redis://127.0.0.1:<port>`), for REDIS_CLUSTER_NODES. */
  readonly seeds: string[];
  /** `CLUSTER NODES` as seen by a running node. */
  topology(): Promise<ClusterNodeInfo[]>;
  /** `CLUSTER KEYSLOT` of each key (a channel's slot is its name's). */
  slotsOf(keys: readonly string[]): Promise<number[]>;
  /** The master node that owns `slot` now. */
  ownerOf(slot: number): Promise<ClusterNodeInfo>;
  /** Waits until every running node reports cluster_state:ok and agrees that live masters own every slot. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Moves `count` slots from master `fromPort` to master `toPort` (redis-cli --cluster reshard). */
  reshard(fromPort: number, toPort: number, count: number): Promise<void>;
  /**
   * Migrates exactly `slots` (keys included) to master `toPort`, the way redis-cli does it
   * (IMPORTING / MIGRATING, MIGRATE the keys, SETSLOT NODE on every master).
   */
  moveSlots(slots: readonly number[], toPort: number): Promise<void>;
  /** Kills every node and deletes the working directories. */
  remove(): Promise<void>;
}

export async function startPrivateRedisCluster(
  options: PrivateRedisClusterOptions = {},
): Promise<PrivateRedisCluster> {
  const reason = privateRedisUnavailableReason();
  if (reason) throw new Error(`cannot run a private Redis Cluster: ${reason}`);
  const masters = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 1000;
  const readyTimeoutMs = options.readyTimeoutMs ?? 30_000;
  const count = masters * (1 + replicasPerMaster);
  const root = mkdtempSync(join(tmpdir(), 'relay-private-redis-cluster-'));
  const ports = await distinctFreePorts(count * 2);
  const nodes: ClusterNode[] = [];
  for (let i = 0; i < count; i++) {
    const dir = join(root, `node-${i}`);
    mkdirSync(dir);
    nodes.push(new ClusterNode(ports[2 * i]!, ports[2 * i + 1]!, dir, nodeTimeoutMs));
  }
  const cluster: PrivateRedisCluster = {
    nodes,
    seeds: nodes.map((n) => n.url),
    topology: () => topology(nodes),
    async slotsOf(keys) {
      const node = nodes.find((n) => n.running);
      if (!node) throw new Error('no Redis Cluster node is running');
      return withNode(node.port, (r) =>
        Promise.all(keys.map(async (key) => Number(await r.call('CLUSTER', 'KEYSLOT', key)))),
      );
    },
    async ownerOf(slot) {
      const owner = (await topology(nodes)).find(
        (n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b),
      );
      if (!owner) throw new Error(`no master owns slot ${slot}`);
      return owner;
    },
    waitHealthy: (timeoutMs = 20_000) => waitHealthy(nodes, timeoutMs),
    async reshard(fromPort, toPort, slots) {
      const all = await topology(nodes);
      const from = all.find((n) => n.port === fromPort);
      const to = all.find((n) => n.port === toPort);
      if (!from || !to) throw new Error(`reshard: unknown node ${fromPort} or ${toPort}`);
      await run(REDIS_CLI, [
        '--cluster',
        'reshard',
        `127.0.0.1:${toPort}`,
        '--cluster-from',
        from.id,
        '--cluster-to',
        to.id,
        '--cluster-slots',
        String(slots),
        '--cluster-yes',
      ]);
    },
    async moveSlots(slots, toPort) {
      for (const slot of slots) {
        const all = await topology(nodes);
        const to = all.find((n) => n.port === toPort && n.role === 'master');
        const from = all.find((n) => n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b));
        if (!to || !from) throw new Error(`moveSlots: no master ${toPort}, or no owner of slot ${slot}`);
        if (from.port === to.port) continue;
        await withNode(to.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id));
        await withNode(from.port, async (r) => {
          await r.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
          for (;;) {
            const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
            if (keys.length === 0) break;
            await r.call('MIGRATE', '127.0.0.1', to.port, '', 0, 5000, 'KEYS', ...keys);
          }
        });
        // The new owner first, then the old one (it ends its shard subscriptions), then the rest.
        const masters = all.filter((n) => n.role === 'master');
        const order = [to, from, ...masters.filter((n) => n.port !== to.port && n.port !== from.port)];
        for (const node of order) {
          await withNode(node.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id));
        }
      }
    },
    async remove() {
      await Promise.all(nodes.map((n) => n.kill()));
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await run(REDIS_CLI, [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ]);
    await waitHealthy(nodes, readyTimeoutMs);
  } catch (err) {
    await cluster.remove().catch(() => {});
    throw err;
  }
  return cluster;
}

class ClusterNode implements PrivateRedisClusterNode {
  readonly url: string;
  private readonly process: PrivateProcess;

  constructor(
    readonly port: number,
    busPort: number,
    dir: string,
    nodeTimeoutMs: number,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
    this.process = new PrivateProcess({
      label: `private Redis Cluster node on ${port}`,
      command: REDIS_SERVER,
      args: [
        '--port',
        String(port),
        '--cluster-port',
        String(busPort),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        'nodes.conf',
        '--cluster-node-timeout',
        String(nodeTimeoutMs),
        // A replica takes over however long it was cut off (the test kills masters at will).
        '--cluster-replica-validity-factor',
        '0',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
    });
  }

  get running(): boolean {
    return this.process.running;
  }

  async start(): Promise<void> {
    this.process.start();
    try {
      await waitFor(() => !this.process.running || answers(this.url), {
        timeoutMs: 10_000,
        what: `Redis Cluster node on ${this.port} to answer PING`,
      });
      if (!this.process.running) throw new Error('it exited');
    } catch (err) {
      this.process.killNow();
      throw new Error(`Redis Cluster node did not start: ${(err as Error).message}\n${this.process.output}`, {
        cause: err,
      });
    }
  }

  kill(): Promise<void> {
    return this.process.stop('SIGKILL', 5000);
  }
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve(output)
        : reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${output.slice(-4000)}`)),
    );
  });
}

async function withNode<T>(port: number, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

async function topology(nodes: readonly ClusterNode[]): Promise<ClusterNodeInfo[]> {
  let lastError: unknown;
  for (const node of nodes) {
    if (!node.running) continue;
    try {
      const text = await withNode(node.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>);
      return parseClusterNodes(text);
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error('no Redis Cluster node answers CLUSTER NODES', { cause: lastError });
}

/** Parses `CLUSTER NODES`; failed nodes are left out. */
export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  const result: ClusterNodeInfo[] = [];
  for (const line of text.trim().split('\n')) {
    const [id, address, flags, , , , , , ...slotFields] = line.trim().split(' ');
    if (!id || !address || !flags || flags.includes('fail') || flags.includes('handshake')) continue;
    const port = Number(address.split('@')[0]!.split(':')[1]);
    const slots: Array<[number, number]> = [];
    for (const field of slotFields) {
      if (field.startsWith('[')) continue; // a slot being migrated
      const [a, b] = field.split('-').map(Number);
      slots.push([a!, b ?? a!]);
    }
    result.push({ id, port, role: flags.includes('master') ? 'master' : 'replica', slots });
  }
  return result;
}

async function waitHealthy(nodes: readonly ClusterNode[], timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const views: string[] = [];
      const running = new Set(nodes.filter((n) => n.running).map((n) => n.port));
      for (const node of nodes) {
        if (!node.running) continue;
        const [info, slots] = await withNode(node.port, async (r) => [
          (await r.call('CLUSTER', 'INFO')) as string,
          (await r.call('CLUSTER', 'NODES')) as string,
        ]);
        if (!info.includes('cluster_state:ok')) return false;
        const owning = parseClusterNodes(slots).filter((n) => n.role === 'master' && n.slots.length > 0);
        // Every slot is served by a live master (a killed one has been failed over).
        if (!owning.every((n) => running.has(n.port))) return false;
        const owners = owning
          .map((n) => `${n.port}:${n.slots.map((s) => s.join('-')).join(',')}`)
          .sort()
          .join(' ');
        views.push(owners);
      }
      const covered = views[0]?.length ? views.every((v) => v === views[0]) : false;
      return covered;
    },
    { timeoutMs, intervalMs: 100, what: 'the Redis Cluster to be healthy and agree on slot owners' },
  );
}

async function answers(url: string): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000 });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
