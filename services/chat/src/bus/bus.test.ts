import { createLogger } from '@relay-chat/service-kit';
import { describe, expect, it } from 'vitest';
import { Bus } from './bus.js';
import { MemoryBroker, MemoryTransport } from './memory.js';

const logger = createLogger({ name: 'bus-test', level: 'silent' });

describe('Bus', () => {
  it('reports a refused broker subscription through ready, and retries it for the next listener', async () => {
    const broker = new MemoryBroker();
    const transport = new MemoryTransport(broker);
    const bus = new Bus({ transport, prefix: 'p:', logger });
    await transport.close();
    // Not awaited on purpose: a refused subscription must never be an unhandled rejection.
    bus.subscribe('conv:1', () => {});
    const second = bus.subscribe('conv:1', () => {});
    await expect(second.ready).rejects.toMatchObject({ code: 'unavailable' });
    expect(broker.subscriberCount('p:conv:1')).toBe(0);
  });

  it('calls every local listener with the very string delivered', async () => {
    const bus = new Bus({ transport: new MemoryTransport(), prefix: 'p:', logger });
    const payload = `{"type":"message","n":${Date.now()}}`;
    const got: string[] = [];
    await Promise.all([
      bus.subscribe('conv:1', (p) => got.push(p)).ready,
      bus.subscribe('conv:1', (p) => got.push(p)).ready,
    ]);
    await bus.publish('conv:1', payload);
    await new Promise((resolve) => setImmediate(resolve));
    expect(got).toEqual([payload, payload]);
    await bus.close();
  });

  it('treats unsubscribe as idempotent, keeping the other listeners of the topic', async () => {
    const broker = new MemoryBroker();
    const bus = new Bus({ transport: new MemoryTransport(broker), prefix: 'p:', logger });
    const first = bus.subscribe('conv:1', () => {});
    const second = bus.subscribe('conv:1', () => {});
    await Promise.all([first.ready, second.ready]);
    await first.unsubscribe();
    await first.unsubscribe();
    expect(broker.subscriberCount('p:conv:1')).toBe(1);
    await second.unsubscribe();
    expect(broker.subscriberCount('p:conv:1')).toBe(0);
    await bus.close();
  });
});
