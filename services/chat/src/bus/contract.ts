/**
 * The one contract every bus transport passes (transport.test.ts: memory and one Redis;
 * redis-cluster.test.ts: Redis Cluster sharded pub/sub), exercised through `Bus` the way the
 * gateway uses it.
 */
import { ChatError } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { waitFor } from '@relay-chat/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Bus, type BusTransport } from './bus.js';

const logger = createLogger({ name: 'bus-contract', level: 'silent' });

/** One broker as the contract suite sees it. */
export interface TransportHarness {
  /** A connected transport, as one more gateway replica would hold it. */
  create(): Promise<BusTransport>;
  /** How many transports the broker has subscribed to `channel`. */
  subscriberCount(channel: string): Promise<number>;
  /** A key/channel prefix unique to this suite. */
  prefix: string;
  cleanup(): Promise<void>;
}

/** Each `replica()` is a Bus on its own transport (its own connections). */
export function describeBusTransport(
  name: string,
  setup: () => Promise<TransportHarness>,
  skip = false,
): void {
  describe.skipIf(skip)(`bus over ${name} transport`, () => {
    let harness: TransportHarness;
    const open: Bus[] = [];

    beforeAll(async () => {
      harness = await setup();
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((bus) => bus.close()));
    });
    afterAll(async () => {
      await harness?.cleanup();
    });

    async function replica(prefix = harness.prefix): Promise<Bus> {
      const bus = new Bus({ transport: await harness.create(), prefix, logger });
      open.push(bus);
      return bus;
    }

    function collect(): { got: string[]; listener: (payload: string) => void } {
      const got: string[] = [];
      return { got, listener: (payload) => got.push(payload) };
    }

    it('delivers every payload to a local listener in publish order', async () => {
      const bus = await replica();
      const { got, listener } = collect();
      await bus.subscribe('conv:order', listener).ready;
      const sent = Array.from({ length: 500 }, (_, i) => `m${i}`);
      await Promise.all(sent.map((payload) => bus.publish('conv:order', payload)));
      await waitFor(() => got.length === sent.length, { what: 'all 500 payloads' });
      expect(got).toEqual(sent);
    });

    it('fans out to every replica subscribed to a topic, each in publish order', async () => {
      const [a, b, publisher] = await Promise.all([replica(), replica(), replica()]);
      const atA = collect();
      const atB = collect();
      await Promise.all([
        a.subscribe('conv:fan', atA.listener).ready,
        b.subscribe('conv:fan', atB.listener).ready,
      ]);
      const sent = Array.from({ length: 200 }, (_, i) => `f${i}`);
      await Promise.all(sent.map((payload) => publisher.publish('conv:fan', payload)));
      await waitFor(() => atA.got.length === 200 && atB.got.length === 200, { what: 'fan-out to both' });
      expect(atA.got).toEqual(sent);
      expect(atB.got).toEqual(sent);
      expect(await harness.subscriberCount(`${harness.prefix}conv:fan`)).toBe(2);
    });

    it('passes payloads through byte for byte', async () => {
      const bus = await replica();
      const { got, listener } = collect();
      await bus.subscribe('conv:bytes', listener).ready;
      const sent = ['', 'm1|{"type":"message","body":"héllo 👋 \\u0000"}', 'x'.repeat(64 * 1024), ' \n\t '];
      for (const payload of sent) await bus.publish('conv:bytes', payload);
      await waitFor(() => got.length === sent.length, { what: 'every payload' });
      expect(got).toEqual(sent);
    });

    it('shares one broker subscription among local listeners and drops it with the last', async () => {
      const [bus, publisher] = await Promise.all([replica(), replica()]);
      const channel = `${harness.prefix}conv:shared`;
      const first = collect();
      const second = collect();
      const sentinel = collect();
      const subA = bus.subscribe('conv:shared', first.listener);
      const subB = bus.subscribe('conv:shared', second.listener);
      await Promise.all([subA.ready, subB.ready, bus.subscribe('conv:sentinel', sentinel.listener).ready]);
      expect(await harness.subscriberCount(channel)).toBe(1);

      await publisher.publish('conv:shared', 'both');
      await waitFor(() => first.got.length === 1 && second.got.length === 1, { what: 'both listeners' });

      await subA.unsubscribe();
      expect(await harness.subscriberCount(channel)).toBe(1);
      await publisher.publish('conv:shared', 'second only');
      await waitFor(() => second.got.length === 2, { what: 'the remaining listener' });
      expect(first.got).toEqual(['both']);

      await subB.unsubscribe();
      expect(await harness.subscriberCount(channel)).toBe(0);
      // Published before the sentinel on the same connection: it would arrive first if delivered.
      await publisher.publish('conv:shared', 'nobody');
      await publisher.publish('conv:sentinel', 'after');
      await waitFor(() => sentinel.got.length === 1, { what: 'the sentinel' });
      expect(first.got).toEqual(['both']);
      expect(second.got).toEqual(['both', 'second only']);
    });

    it('ends in the right broker state after concurrent subscribe/unsubscribe churn', async () => {
      const [bus, publisher] = await Promise.all([replica(), replica()]);
      const channel = `${harness.prefix}conv:churn`;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < 30; i++) {
        const sub = bus.subscribe('conv:churn', () => {});
        pending.push(sub.ready, sub.unsubscribe());
      }
      const { got, listener } = collect();
      const last = bus.subscribe('conv:churn', listener);
      await Promise.all([...pending, last.ready]);
      expect(await harness.subscriberCount(channel)).toBe(1);
      await publisher.publish('conv:churn', 'still here');
      await waitFor(() => got.length === 1, { what: 'delivery after churn' });

      const again: Promise<void>[] = [last.unsubscribe()];
      for (let i = 0; i < 10; i++) {
        const sub = bus.subscribe('conv:churn', () => {});
        again.push(sub.ready, sub.unsubscribe());
      }
      await Promise.all(again);
      expect(await harness.subscriberCount(channel)).toBe(0);
    });

    it('keeps topics of different prefixes apart', async () => {
      const [left, right] = await Promise.all([
        replica(`${harness.prefix}a:`),
        replica(`${harness.prefix}b:`),
      ]);
      const atLeft = collect();
      const atRight = collect();
      await Promise.all([
        left.subscribe('conv:1', atLeft.listener).ready,
        right.subscribe('conv:1', atRight.listener).ready,
      ]);
      await left.publish('conv:1', 'from left');
      await right.publish('conv:1', 'from right');
      await waitFor(() => atLeft.got.length === 1 && atRight.got.length === 1, {
        what: 'own-prefix delivery',
      });
      await left.publish('conv:1', 'left again');
      await waitFor(() => atLeft.got.length === 2, { what: 'the second left payload' });
      expect(atLeft.got).toEqual(['from left', 'left again']);
      expect(atRight.got).toEqual(['from right']);
    });

    it('keeps delivering to the other listeners when one throws', async () => {
      const bus = await replica();
      const { got, listener } = collect();
      bus.subscribe('conv:throw', () => {
        throw new Error('listener bug');
      });
      await bus.subscribe('conv:throw', listener).ready;
      await bus.publish('conv:throw', 'one');
      await bus.publish('conv:throw', 'two');
      await waitFor(() => got.length === 2, { what: 'both payloads' });
      expect(got).toEqual(['one', 'two']);
    });

    it('is ready while open and refuses work with unavailable once closed', async () => {
      const bus = await replica();
      await expect(bus.ready()).resolves.toBeUndefined();
      await bus.close();
      const failure = await bus.publish('conv:closed', 'x').catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ChatError);
      expect((failure as ChatError).code).toBe('unavailable');
      expect(() => bus.subscribe('conv:closed', () => {})).toThrow(ChatError);
      await expect(bus.ready()).rejects.toMatchObject({ code: 'unavailable' });
    });
  });
}
