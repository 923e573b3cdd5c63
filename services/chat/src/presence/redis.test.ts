import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { asUserId, type PresenceStatus } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import {
  cleanRedisPrefix,
  REDIS_TEST_URL,
  redisAvailable,
  redisTestPrefix,
  waitFor,
} from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { describePresenceRegistry } from './contract.js';
import { RedisPresence, type RedisPresenceOptions } from './redis.js';

const logger = createLogger({ name: 'presence-test', level: 'silent' });

/** Short timings so a dead replica is noticed within about a second. */
const FAST = { livenessTtlMs: 1000, heartbeatIntervalMs: 200, sweepIntervalMs: 200 } as const;

if (await redisAvailable()) {
  let contractPrefix = '';
  const contractReplica = async () => {
    const presence = new RedisPresence({ url: REDIS_TEST_URL, prefix: contractPrefix, logger, ...FAST });
    await presence.start();
    return presence;
  };
  describePresenceRegistry('RedisPresence', {
    async create() {
      await cleanRedisPrefix(contractPrefix);
      contractPrefix = redisTestPrefix('presence-contract');
      return contractReplica();
    },
    peer: contractReplica,
  });
}

describe.skipIf(!(await redisAvailable()))('RedisPresence across replicas', () => {
  let prefix = '';
  const open: RedisPresence[] = [];
  const children: ChildProcess[] = [];

  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await Promise.all(open.splice(0).map((p) => p.close()));
    await cleanRedisPrefix(prefix);
  });

  async function replica(options: Partial<RedisPresenceOptions> = {}): Promise<RedisPresence> {
    const presence = new RedisPresence({ url: REDIS_TEST_URL, prefix, logger, ...FAST, ...options });
    open.push(presence);
    await presence.start();
    return presence;
  }

  function changes(presence: RedisPresence): Array<[string, PresenceStatus]> {
    const seen: Array<[string, PresenceStatus]> = [];
    presence.onChange((user, status) => seen.push([user, status]));
    return seen;
  }

  async function keysUnderPrefix(): Promise<string[]> {
    const admin = new Redis(REDIS_TEST_URL);
    try {
      return await admin.keys(`${prefix}*`);
    } finally {
      admin.disconnect();
    }
  }

  function freshPrefix(): void {
    prefix = redisTestPrefix('presence');
  }

  it('takes a crashed replica’s users offline through another replica’s sweeper', async () => {
    freshPrefix();
    const survivor = await replica();
    const seen = changes(survivor);
    await survivor.connect(asUserId('both'));
    const child = await crashableReplica(prefix, ['alone', 'both', 'alone']);
    children.push(child);
    expect(await survivor.onlineAmong([asUserId('alone'), asUserId('both')])).toEqual(
      new Set(['alone', 'both']),
    );

    child.kill('SIGKILL');
    await once(child, 'exit');
    await waitFor(() => seen.length > 0, { what: 'the sweeper’s report' });
    expect(seen).toEqual([['alone', 'offline']]);
    expect(await survivor.onlineAmong([asUserId('alone'), asUserId('both')])).toEqual(new Set(['both']));

    await survivor.close();
    expect(await keysUnderPrefix()).toEqual([]);
  });

  it('removes a closing replica’s entries at once and reports who went offline', async () => {
    freshPrefix();
    const [a, b] = await Promise.all([replica(), replica()]);
    const seenAtB = changes(b);
    await a.connect(asUserId('u1'));
    await b.connect(asUserId('u1'));
    await b.connect(asUserId('u2'));
    await b.connect(asUserId('u2'));
    await b.close();
    expect(seenAtB).toEqual([['u2', 'offline']]);
    expect(await a.onlineAmong([asUserId('u1'), asUserId('u2')])).toEqual(new Set(['u1']));
    expect(await a.disconnect(asUserId('u1'))).toBe(true);
    await a.close();
    expect(await keysUnderPrefix()).toEqual([]);
  });

  it('re-registers its users after Redis lost its entries, reporting them online again', async () => {
    freshPrefix();
    // A heartbeat far apart, so only the reconnect below can trigger the repair.
    const a = await replica({ livenessTtlMs: 60_000, heartbeatIntervalMs: 60_000, sweepIntervalMs: 60_000 });
    const seen = changes(a);
    await a.connect(asUserId('u1'));
    await a.connect(asUserId('u2'));
    const admin = new Redis(REDIS_TEST_URL);
    try {
      // What a Redis restart without persistence leaves: nothing, and a dropped connection.
      const keys = await admin.keys(`${prefix}*`);
      await admin.del(...keys);
      const list = (await admin.call('CLIENT', 'LIST')) as string;
      const line = list.split('\n').find((l) => l.includes(`name=relay-chat-presence:${a.replicaId} `));
      await admin.call('CLIENT', 'KILL', 'ID', line!.match(/^id=(\d+) /)![1]!);
    } finally {
      admin.disconnect();
    }
    await waitFor(() => seen.length === 2, { what: 'the re-registration' });
    expect(seen.sort()).toEqual([
      ['u1', 'online'],
      ['u2', 'online'],
    ]);
    expect(await a.onlineAmong([asUserId('u1'), asUserId('u2')])).toEqual(new Set(['u1', 'u2']));
    expect(await a.disconnect(asUserId('u1'))).toBe(true);
  });
});

/**
 * A replica in a child process that connects `users` and then waits to be killed: a real
 * crash (SIGKILL) leaves its entries behind, with no cleanup of any kind.
 */
async function crashableReplica(prefix: string, users: string[]): Promise<ChildProcess> {
  const moduleUrl = new URL('./redis.ts', import.meta.url).href;
  const script = `
    const { RedisPresence } = await import(${JSON.stringify(moduleUrl)});
    const { createLogger } = await import('@relay-chat/service-kit');
    const presence = new RedisPresence({
      url: ${JSON.stringify(REDIS_TEST_URL)}, prefix: ${JSON.stringify(prefix)},
      logger: createLogger({ name: 'crashing', level: 'silent' }),
      replicaId: 'crashing', ...${JSON.stringify(FAST)},
    });
    await presence.start();
    for (const user of ${JSON.stringify(users)}) await presence.connect(user);
    process.stdout.write('ready\\n');
    setInterval(() => {}, 60_000);
  `;
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', '--input-type=module', '--eval', script],
    { cwd: fileURLToPath(new URL('../../../..', import.meta.url)), stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor(() => output.includes('ready'), { timeoutMs: 20_000, what: 'the child replica' });
  return child;
}
