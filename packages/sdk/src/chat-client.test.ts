import { asConversationId, type ConversationId, type Message } from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  conversation,
  type GatewayDouble,
  message,
  OTHER,
  type Peer,
  recordingWebSocket,
  SDK_FAKE_TIMERS,
  settle,
  startGatewayDouble,
} from '../../../tests/support/gateway-double.js';
import type { FetchLike } from './api.js';
import { ChatClient } from './chat-client.js';
import type { ChatClientOptions } from './chat-client-options.js';
import type { GapEvent } from './delivery.js';

const C1 = asConversationId('c1');

let gateway: GatewayDouble;
const clients: ChatClient[] = [];

beforeEach(async () => {
  gateway = await startGatewayDouble();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  vi.useRealTimers();
  await gateway.close();
});

/** Stores messages 1..last of `conv` in the gateway's history. */
function storeHistory(conv: string, last: number): void {
  gateway.history.set(
    conv,
    Array.from({ length: last }, (_, i) => message(conv, i + 1)),
  );
}

/**
 * A ChatClient on the scripted gateway (REST history from the same double), recording what
 * it delivers and each history request it makes — as it makes it, before the network.
 */
function client(options: Partial<ChatClientOptions> = {}) {
  const delivered: Message[] = [];
  const gaps: GapEvent[] = [];
  const fetched: { conv: string; after: string | null }[] = [];
  const recordingFetch: FetchLike = (input, init) => {
    const url = new URL(input);
    const match = /conversations\/([^/]+)\/messages$/.exec(url.pathname);
    if (match) fetched.push({ conv: match[1]!, after: url.searchParams.get('after') });
    return globalThis.fetch(input, init);
  };
  const c = new ChatClient({
    url: gateway.wsUrl,
    getToken: () => 'token',
    WebSocket: recordingWebSocket().WebSocket,
    fetch: recordingFetch,
    pingIntervalMs: 0,
    reconnect: { baseDelayMs: 0, maxDelayMs: 0 },
    ...options,
  });
  clients.push(c);
  c.on('message', (m) => delivered.push(m));
  c.on('gap', (g) => gaps.push(g));
  const readies: (() => void)[] = [];
  c.on('ready', () => {
    for (const resolve of readies.splice(0)) resolve();
  });
  return {
    client: c,
    delivered,
    gaps,
    fetched,
    seqs: (conv: ConversationId = C1) => delivered.filter((m) => m.conv === conv).map((m) => m.seq),
    /** Connects (or waits for the next ready after a drop). */
    ready: () =>
      new Promise<void>((resolve) => {
        readies.push(resolve);
        c.connect();
      }),
    /**
     * Resolves once the client has taken in everything `peer` sent so far: a typing frame
     * sent after it comes back as an event (one socket keeps the order).
     */
    taken: (peer: Peer) =>
      new Promise<void>((resolve) => {
        const off = c.on('typing', () => {
          off();
          resolve();
        });
        peer.send({ type: 'typing', conv: C1, user: OTHER.id });
      }),
    /** Resolves once `count` messages were delivered. */
    deliveredCount: (count: number) =>
      new Promise<void>((resolve) => {
        if (delivered.length >= count) return resolve();
        const off = c.on('message', () => {
          if (delivered.length < count) return;
          off();
          resolve();
        });
      }),
  };
}

/** Each new socket gets a ready listing c1 at the stored history's last seq. */
function readyWithHistory(conv = 'c1'): void {
  gateway.onConnection = (peer: Peer) =>
    peer.ready({ conversations: [conversation(conv, gateway.history.get(conv)?.length ?? 0)] });
}

describe('ChatClient: where delivery starts', () => {
  it('takes what history holds at the first ready as read, fetches nothing, and delivers what comes next', async () => {
    storeHistory('c1', 5);
    readyWithHistory();
    const t = client();
    await t.ready();
    await settle();
    expect(t.fetched).toEqual([]);
    expect(t.client.conversations().map((c) => [c.id, c.lastSeq])).toEqual([[C1, 5]]);
    expect(t.client.lastSeqs()).toEqual({ [C1]: 5 });
    gateway.peers[0]!.send({ type: 'message', ...message('c1', 6) });
    await t.deliveredCount(1);
    expect(t.seqs()).toEqual([6]);
  });

  it('resumes from resumeFrom: fetches after the saved seq and delivers only what is new, once', async () => {
    storeHistory('c1', 5);
    readyWithHistory();
    const t = client({ resumeFrom: { [C1]: 3 } });
    await t.ready();
    await t.deliveredCount(2);
    expect(t.seqs()).toEqual([4, 5]);
    expect(t.fetched).toEqual([{ conv: 'c1', after: '3' }]);
    expect(t.client.lastSeqs()).toEqual({ [C1]: 5 });
  });

  it('replays nothing when a new client resumes from the lastSeqs() of an earlier one', async () => {
    storeHistory('c1', 2);
    readyWithHistory();
    const first = client({ resumeFrom: { [C1]: 0 } });
    await first.ready();
    await first.deliveredCount(2);
    const saved = first.client.lastSeqs();
    first.client.close();

    storeHistory('c1', 4);
    const second = client({ resumeFrom: saved });
    await second.ready();
    await second.deliveredCount(2);
    expect(second.seqs()).toEqual([3, 4]);
    expect(second.fetched).toEqual([{ conv: 'c1', after: '2' }]);
  });

  it('after a reconnect, fetches from the last delivered seq and delivers each missed message once', async () => {
    storeHistory('c1', 2);
    readyWithHistory();
    const t = client();
    await t.ready();
    const first = gateway.peers[0]!;
    storeHistory('c1', 3);
    first.send({ type: 'message', ...message('c1', 3) });
    await t.deliveredCount(1);

    storeHistory('c1', 6);
    const again = t.ready();
    first.close(1012, 'server_shutting_down');
    await again;
    // The live copy of 6 races the history fetch: either way it is delivered once.
    gateway.peers[1]!.send({ type: 'message', ...message('c1', 6) });
    await t.deliveredCount(4);
    await settle();
    expect(t.seqs()).toEqual([3, 4, 5, 6]);
    expect(t.fetched[0]).toEqual({ conv: 'c1', after: '3' });
  });
});

describe('ChatClient: gaps on the live socket', () => {
  it('waits gapWaitMs for a missing seq, then fetches it from history and delivers in order', async () => {
    storeHistory('c1', 1);
    readyWithHistory();
    const t = client({ history: { gapWaitMs: 300 } });
    await t.ready();
    storeHistory('c1', 3);
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    const peer = gateway.peers[0]!;
    peer.send({ type: 'message', ...message('c1', 3) });
    await t.taken(peer);
    expect(t.seqs()).toEqual([]);
    await vi.advanceTimersByTimeAsync(299);
    await settle();
    expect(t.fetched).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await t.deliveredCount(2);
    expect(t.seqs()).toEqual([2, 3]);
    expect(t.fetched).toEqual([{ conv: 'c1', after: '1' }]);
    expect(t.gaps.map((g) => g.status)).toEqual(['fetching', 'filled']);
  });

  it('fills the gap without history when the missing message arrives within gapWaitMs', async () => {
    storeHistory('c1', 1);
    readyWithHistory();
    const t = client({ history: { gapWaitMs: 300 } });
    await t.ready();
    vi.useFakeTimers(SDK_FAKE_TIMERS);
    const peer = gateway.peers[0]!;
    peer.send({ type: 'message', ...message('c1', 3) });
    await t.taken(peer);
    await vi.advanceTimersByTimeAsync(299);
    peer.send({ type: 'message', ...message('c1', 2) });
    await t.deliveredCount(2);
    expect(t.seqs()).toEqual([2, 3]);
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(t.fetched).toEqual([]);
    expect(t.gaps).toEqual([]);
  });
});
