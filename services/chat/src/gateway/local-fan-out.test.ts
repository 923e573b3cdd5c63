/**
 * LocalFanOut and `change` events (protocol v1.2): delivered to every local member's session
 * as they arrive, never held behind a missing message seq; and counted by the connect
 * set-up's check, so a change that went by before a session joined makes it read again.
 */
import { asConversationId, asUserId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { describe, expect, it } from 'vitest';
import { convTopic, encodeEvent } from '../events.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { type FanOutBus, LocalFanOut } from './local-fan-out.js';
import type { PresenceWatch } from './presence-watch.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

const conv = asConversationId('c-1');

function setUp() {
  const listeners = new Map<string, (payload: string) => void>();
  const bus: FanOutBus = {
    subscribe(topic, listener) {
      listeners.set(topic, listener);
      return { ready: Promise.resolve(), unsubscribe: async () => {} };
    },
  };
  const delivered: { session: string; frame: string }[] = [];
  const scheduler = {
    deliver: (s: { id: string }, frame: Buffer) =>
      delivered.push({ session: s.id, frame: frame.subarray(2).toString() }),
  };
  const fanOut = new LocalFanOut(
    {
      bus,
      registry: {} as SessionRegistry,
      scheduler: scheduler as unknown as FlushScheduler,
      presenceWatch: {} as PresenceWatch,
      log: createLogger({ name: 'fan-out-test', level: 'silent' }),
    },
    { reorderWindowMs: 10_000, reorderMaxHeld: 100 },
  );
  const session = (id: string) => {
    const convs = new Set<string>();
    return {
      id,
      user: { id: asUserId(`u-${id}`), username: id },
      closed: false,
      addConversation: (c: string) => !convs.has(c) && Boolean(convs.add(c)),
      removeConversation: (c: string) => convs.delete(c),
    } as unknown as Session;
  };
  const publish = (payload: string) => listeners.get(convTopic(conv))!(payload);
  // Short frames: a 2-byte WebSocket header, then the text (which the fan-out never parses).
  const bodies = () => delivered.map((d) => `${d.session}:${d.frame}`);
  return { fanOut, session, publish, bodies };
}

describe('LocalFanOut: change events', () => {
  it('delivers a change to every member session at once, while a message waits for a missing seq', async () => {
    const t = setUp();
    const [a, b] = [t.session('a'), t.session('b')];
    await t.fanOut.join(a, conv);
    await t.fanOut.join(b, conv);
    t.fanOut.expect(conv, 1);
    t.publish(encodeEvent({ kind: 'message', seq: 2, frame: 'm2' }));
    t.publish(encodeEvent({ kind: 'change', changeSeq: 1, seq: 1, frame: 'c1' }));
    expect(t.bodies()).toEqual(['a:c1', 'b:c1']);
    t.publish(encodeEvent({ kind: 'message', seq: 1, frame: 'm1' }));
    expect(t.bodies()).toEqual(['a:c1', 'b:c1', 'a:m1', 'b:m1', 'a:m2', 'b:m2']);
  });

  it('tells the connect set-up to read again when a change past its lastChangeSeq went by', async () => {
    const t = setUp();
    await t.fanOut.join(t.session('a'), conv);
    await Promise.resolve();
    const mark = t.fanOut.mark();
    expect(t.fanOut.caughtUp({ id: conv, lastSeq: 0, lastChangeSeq: 0 }, mark)).toBe(true);
    t.publish(encodeEvent({ kind: 'change', changeSeq: 3, seq: 1, frame: 'c3' }));
    expect(t.fanOut.caughtUp({ id: conv, lastSeq: 0, lastChangeSeq: 2 }, mark)).toBe(false);
    expect(t.fanOut.caughtUp({ id: conv, lastSeq: 0, lastChangeSeq: 3 }, mark)).toBe(true);
  });
});
