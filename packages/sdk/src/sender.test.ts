import {
  type AckFrame,
  asConversationId,
  asMessageId,
  ChatError,
  type ReadyFrame,
} from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type GatewayDouble,
  type Peer,
  recordingWebSocket,
  SDK_FAKE_TIMERS,
  settle,
  startGatewayDouble,
} from '../../../tests/support/gateway-double.js';
import type { BackoffOptions } from './backoff.js';
import { Connection } from './connection.js';
import type { OutboxChange } from './outbox.js';
import { Sender } from './sender.js';

const C1 = asConversationId('c1');
const C2 = asConversationId('c2');

const ackFor = (clientMsgId: string, seq: number, conv = C1): AckFrame => ({
  type: 'ack',
  clientMsgId,
  conv,
  id: asMessageId(`m-${seq}`),
  seq,
  ts: 1_700_000_000_000 + seq,
});

let gateway: GatewayDouble;
const stops: (() => void)[] = [];

beforeEach(async () => {
  gateway = await startGatewayDouble();
});

afterEach(async () => {
  for (const stop of stops.splice(0)) stop();
  vi.useRealTimers();
  await gateway.close();
});

/**
 * A Sender on a real Connection to the scripted gateway, wired as ChatClient wires it: acks
 * settle entries and every `ready` flushes the outbox.
 */
function sender(options: { retry?: BackoffOptions; ready?: Partial<ReadyFrame> } = {}) {
  gateway.onConnection = (peer) => peer.ready(options.ready);
  const ws = recordingWebSocket();
  const connection = new Connection({
    url: gateway.wsUrl,
    WebSocket: ws.WebSocket,
    getToken: () => 'token',
    pingIntervalMs: 0,
    random: () => 0,
  });
  const changes: string[] = [];
  const s = new Sender({
    connection,
    retry: options.retry ?? { baseDelayMs: 0, maxDelayMs: 0 },
    onChange: ({ entry, previous }: OutboxChange) =>
      changes.push(`${entry.clientMsgId}:${previous ?? ''}>${entry.status}`),
  });
  connection.on('frame', (frame) => {
    if (frame.type === 'ready') s.flush();
    if (frame.type === 'ack') s.acknowledge(frame);
  });
  const opens: (() => void)[] = [];
  connection.on('state', ({ state }) => {
    if (state === 'open') for (const resolve of opens.splice(0)) resolve();
  });
  stops.push(() => {
    s.stop();
    connection.stop();
  });
  return {
    sender: s,
    connection,
    changes,
    /** Frames the client wrote, of type send. */
    sends: () => ws.sent.filter((f) => f.type === 'send'),
    /** Starts (or waits for the next) open connection. */
    open: () =>
      new Promise<void>((resolve) => {
        opens.push(resolve);
        connection.start();
      }),
  };
}

/** The send frames the server has received on a socket, as `clientMsgId`s. */
async function receivedIds(peer: Peer, count: number): Promise<string[]> {
  await peer.next('send', () => peer.received.filter((f) => f.type === 'send').length >= count);
  return peer.received.flatMap((f) => (f.type === 'send' ? [f.clientMsgId] : []));
}

describe('Sender: writing and acks', () => {
  it('writes a message at once when open and settles it on its ack', async () => {
    const t = sender();
    await t.open();
    const handle = t.sender.send(C1, 'hello', 'a');
    const peer = await gateway.peer(0);
    expect(await peer.next('send')).toEqual({ type: 'send', conv: C1, clientMsgId: 'a', body: 'hello' });
    peer.send(ackFor('a', 1));
    await expect(handle.acked).resolves.toEqual(ackFor('a', 1));
    expect(t.sender.entries()).toEqual([]);
    expect(t.changes).toEqual(['a:>pending', 'a:pending>sent']);
  });

  it('settles only the entry an ack names, in the conversation it was sent to', async () => {
    const t = sender();
    await t.open();
    const a = t.sender.send(C1, 'first', 'a');
    t.sender.send(C1, 'second', 'b');
    expect(t.sender.acknowledge(ackFor('a', 1, C2))).toBeUndefined();
    expect(t.sender.acknowledge(ackFor('nobody', 1))).toBeUndefined();
    expect(t.sender.get('a')?.status).toBe('pending');
    expect(t.sender.acknowledge(ackFor('a', 1))).toMatchObject({ clientMsgId: 'a', status: 'sent' });
    await expect(a.acked).resolves.toMatchObject({ seq: 1 });
    expect(t.sender.entries().map((e) => e.clientMsgId)).toEqual(['b']);
  });

  it('queues while not connected, writes on open, once per connection, and again after a reconnect', async () => {
    const t = sender();
    t.sender.send(C1, 'early', 'a');
    expect(t.sends()).toEqual([]);
    expect(t.sender.get('a')).toMatchObject({ status: 'pending', attempts: 0 });
    await t.open();
    const first = await gateway.peer(0);
    expect(await receivedIds(first, 1)).toEqual(['a']);
    t.sender.flush();
    t.sender.send(C1, 'early', 'a');
    expect(t.sends().map((f) => f.clientMsgId)).toEqual(['a']);

    const reopened = t.open();
    first.close(1012, 'server_shutting_down');
    await reopened;
    const second = await gateway.peer(1);
    expect(await receivedIds(second, 1)).toEqual(['a']);
    expect(t.sender.get('a')).toMatchObject({ status: 'pending', attempts: 2 });
  });
});

describe('Sender: pacing', () => {
  it('writes no faster than the frame budget ready announces (with a margin), keeping the order', async () => {
    // 10 frames/s, 4 at once → the SDK paces at 8/s with 2 at once: one every 125 ms.
    const t = sender({
      ready: { limits: { framesPerSec: 10, framesBurst: 4, sendPerSec: 10, sendBurst: 4 } },
    });
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    for (const id of ['a', 'b', 'c', 'd', 'e']) t.sender.send(C1, `body ${id}`, id);
    expect(t.sends()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(124);
    expect(t.sends()).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sends()).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(124);
    expect(t.sends()).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(126);
    expect(t.sends()).toHaveLength(5);
    expect(await receivedIds(await gateway.peer(0), 5)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});

describe('Sender: errors', () => {
  it('resends a rate_limited message with the same clientMsgId, no sooner than the wait the server named', async () => {
    const t = sender();
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    const handle = t.sender.send(C1, 'hello', 'a');
    expect(t.sender.reject('a', new ChatError('rate_limited'), 1000)).toBe(true);
    await vi.advanceTimersByTimeAsync(999);
    expect(t.sends()).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sends().map((f) => f.clientMsgId)).toEqual(['a', 'a']);
    expect(t.sender.get('a')).toMatchObject({ status: 'pending', attempts: 2 });
    t.sender.acknowledge(ackFor('a', 1));
    await expect(handle.acked).resolves.toMatchObject({ clientMsgId: 'a' });
  });

  it('adds at most a quarter of the first retry window as jitter to the named wait', async () => {
    const t = sender({ retry: { baseDelayMs: 400, maxDelayMs: 400 } });
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    t.sender.send(C1, 'hello', 'a');
    for (const attempt of [2, 3]) {
      t.sender.reject('a', new ChatError('rate_limited'), 1000);
      await vi.advanceTimersByTimeAsync(999);
      expect(t.sends()).toHaveLength(attempt - 1);
      await vi.advanceTimersByTimeAsync(101);
      expect(t.sends()).toHaveLength(attempt);
    }
  });

  it('fails a message on a non-retryable error, without resending it, until retried', async () => {
    const t = sender();
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    const handle = t.sender.send(C1, 'hello', 'a');
    const error = new ChatError('not_member');
    expect(t.sender.reject('a', error)).toBe(true);
    await expect(handle.acked).rejects.toBe(error);
    expect(t.sender.get('a')).toMatchObject({ status: 'failed', error });
    await vi.runAllTimersAsync();
    t.sender.flush();
    expect(t.sends()).toHaveLength(1);
    expect(t.sender.reject('a', error)).toBe(false);

    const again = t.sender.retry('a');
    expect(t.sends().map((f) => f.clientMsgId)).toEqual(['a', 'a']);
    t.sender.acknowledge(ackFor('a', 1));
    await expect(again.acked).resolves.toMatchObject({ seq: 1 });
    expect(t.changes).toEqual(['a:>pending', 'a:pending>failed', 'a:failed>pending', 'a:pending>sent']);
  });

  it('writes again, after the wait, everything the server may have dropped over the frame budget', async () => {
    const t = sender();
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    t.sender.send(C1, 'one', 'a');
    t.sender.send(C1, 'two', 'b');
    t.sender.acknowledge(ackFor('a', 1));
    t.sender.resendDropped(new ChatError('rate_limited'), 500);
    await vi.advanceTimersByTimeAsync(499);
    expect(t.sends().map((f) => f.clientMsgId)).toEqual(['a', 'b']);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.sends().map((f) => f.clientMsgId)).toEqual(['a', 'b', 'b']);
  });

  it('cancels a waiting resend when the message is discarded', async () => {
    const t = sender();
    await t.open();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    const handle = t.sender.send(C1, 'hello', 'a');
    t.sender.reject('a', new ChatError('rate_limited'), 1000);
    expect(t.sender.discard('a')).toBe(true);
    await expect(handle.acked).rejects.toMatchObject({ code: 'conflict' });
    await vi.runAllTimersAsync();
    await settle();
    expect(t.sends()).toHaveLength(1);
    expect(t.sender.entries()).toEqual([]);
  });
});
