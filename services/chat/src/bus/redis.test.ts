import { randomBytes } from 'node:crypto';
import { ChatError } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import {
  cleanRedisPrefix,
  freePort,
  REDIS_TEST_URL,
  redisAvailable,
  redisTestPrefix,
  waitFor,
} from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bus, type TransportState } from './bus.js';
import { RedisTransport } from './redis.js';

const logger = createLogger({ name: 'bus-test', level: 'silent' });

/** Kills one named client connection of the shared Redis, as a Redis restart would (for that client). */
async function killClient(admin: Redis, name: string): Promise<void> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  const line = list.split('\n').find((l) => l.includes(` name=${name} `));
  const id = line?.match(/^id=(\d+) /)?.[1];
  if (id === undefined) throw new Error(`no Redis client named ${name}`);
  await admin.call('CLIENT', 'KILL', 'ID', id);
}

describe.skipIf(!(await redisAvailable()))('Redis bus transport when connections fail', () => {
  const prefix = redisTestPrefix('bus-fail');
  let admin: Redis;
  const open: Bus[] = [];

  beforeAll(() => {
    admin = new Redis(REDIS_TEST_URL);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((bus) => bus.close()));
  });
  afterAll(async () => {
    await cleanRedisPrefix(prefix);
    await admin.quit();
  });

  async function replica(connectionName: string): Promise<{ bus: Bus; transport: RedisTransport }> {
    const transport = new RedisTransport({ url: REDIS_TEST_URL, logger, connectionName });
    await transport.connect();
    const bus = new Bus({ transport, prefix, logger });
    open.push(bus);
    return { bus, transport };
  }

  it('reports down then up after its subscriber connection drops, resubscribes, and asks for a resync', async () => {
    const name = `relaytest-bus-${randomBytes(4).toString('hex')}`;
    const { bus, transport } = await replica(name);
    const { bus: publisher } = await replica(`${name}-other`);
    const states: TransportState[] = [];
    transport.onStateChange((state) => states.push(state));
    let resyncs = 0;
    bus.onResync(() => resyncs++);
    const got: string[] = [];
    await bus.subscribe('conv:restart', (payload) => got.push(payload)).ready;
    await publisher.publish('conv:restart', 'before');
    await waitFor(() => got.length === 1, { what: 'the first payload' });

    await killClient(admin, `${name}:sub`);
    // Subscribed while the link may still be down: must take effect once it is back.
    const lateGot: string[] = [];
    const late = bus.subscribe('conv:late', (payload) => lateGot.push(payload));
    await waitFor(() => resyncs === 1, { what: 'the resync' });
    await late.ready;

    expect(states).toEqual(['down', 'up']);
    expect(bus.state).toBe('up');
    await expect(bus.ready()).resolves.toBeUndefined();
    const numsub = (await admin.call('PUBSUB', 'NUMSUB', `${prefix}conv:restart`, `${prefix}conv:late`)) as [
      string,
      number,
      string,
      number,
    ];
    expect([Number(numsub[1]), Number(numsub[3])]).toEqual([1, 1]);

    await publisher.publish('conv:restart', 'after');
    await publisher.publish('conv:late', 'late one');
    await waitFor(() => got.length === 2 && lateGot.length === 1, { what: 'payloads after recovery' });
    expect(got).toEqual(['before', 'after']);
    expect(lateGot).toEqual(['late one']);
  });

  it('keeps publishing after its publisher connection drops, without a resync', async () => {
    const name = `relaytest-bus-${randomBytes(4).toString('hex')}`;
    const { bus } = await replica(name);
    let resyncs = 0;
    bus.onResync(() => resyncs++);
    const got: string[] = [];
    await bus.subscribe('conv:pub-drop', (payload) => got.push(payload)).ready;

    await killClient(admin, `${name}:pub`);
    await waitFor(() => bus.publish('conv:pub-drop', 'through').then(() => true), {
      what: 'a publish on the reconnected publisher',
    });
    await waitFor(() => got.length >= 1, { what: 'delivery' });
    expect(got.every((payload) => payload === 'through')).toBe(true);
    expect(resyncs).toBe(0);
  });

  it('fails a publish at once with unavailable while Redis is unreachable, instead of queueing it', async () => {
    const port = await freePort();
    const transport = new RedisTransport({ url: `redis://127.0.0.1:${port}`, logger });
    const bus = new Bus({ transport, prefix, logger });
    open.push(bus);
    const failure = await bus.publish('conv:down', 'lost to the fast path').catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ChatError);
    expect((failure as ChatError).code).toBe('unavailable');
    await expect(bus.ready()).rejects.toMatchObject({ code: 'unavailable' });
    await expect(transport.connect(300)).rejects.toThrow(/timed out|not ready/);
  });
});
