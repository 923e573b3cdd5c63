import { asConversationId, asUserId, type ServerFrame } from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type GatewayDouble,
  recordingWebSocket,
  SDK_FAKE_TIMERS,
  settle,
  startGatewayDouble,
} from '../../../tests/support/gateway-double.js';
import { Connection, type ConnectionOptions } from './connection.js';
import type { StateChange } from './connection-state.js';

// The SDK's clocks (retry, connect, heartbeat and pace timers, Date) run on fake time where a
// test checks a delay or that nothing happened; the sockets are real (ws on 127.0.0.1), so
// waiting for what the server does is event-driven.
const FAKE = SDK_FAKE_TIMERS;

/** Every state change of a connection, and a wait for the first (past or future) that matches. */
function states(connection: Connection) {
  const seen: StateChange[] = [];
  const waiters: { match: (s: StateChange) => boolean; resolve: (s: StateChange) => void }[] = [];
  connection.on('state', (change) => {
    seen.push(change);
    for (const w of [...waiters]) {
      if (!w.match(change)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(change);
    }
  });
  return {
    seen,
    /** The first change from `from` on (an index into `seen`) that matches. */
    when(match: (s: StateChange) => boolean, from = 0): Promise<StateChange> {
      const found = seen.slice(from).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
  };
}

let gateway: GatewayDouble;
const connections: Connection[] = [];

beforeEach(async () => {
  gateway = await startGatewayDouble();
});

afterEach(async () => {
  for (const c of connections.splice(0)) c.stop();
  vi.useRealTimers();
  await gateway.close();
});

function connect(options: Partial<ConnectionOptions> = {}) {
  const ws = recordingWebSocket();
  const tokens: boolean[] = [];
  const connection = new Connection({
    url: gateway.wsUrl,
    WebSocket: ws.WebSocket,
    getToken: ({ forceRefresh }) => {
      tokens.push(forceRefresh);
      return `token-${tokens.length}`;
    },
    pingIntervalMs: 0,
    ...options,
  });
  connections.push(connection);
  const log = states(connection);
  return { connection, ws, log, tokens };
}

describe('Connection: opening', () => {
  it('offers the token in the subprotocol list and opens on ready, passing frames on', async () => {
    gateway.onConnection = (peer) => peer.ready();
    const { connection, log } = connect();
    const frames: ServerFrame[] = [];
    connection.on('frame', (f) => frames.push(f));
    expect(connection.send({ type: 'ping' })).toBe(false);
    connection.start();
    await log.when((s) => s.state === 'open');
    expect(gateway.peers[0]!.protocols).toEqual(['relay-chat.v1', 'bearer.token-1']);
    expect(log.seen.map((s) => s.state)).toEqual(['connecting', 'open']);
    expect(frames.map((f) => f.type)).toEqual(['ready']);
    expect(connection.send({ type: 'ping', ref: 'p' })).toBe(true);
    expect(await gateway.peers[0]!.next('ping')).toEqual({ type: 'ping', ref: 'p' });
  });

  it('fails over to the next URL of the list after a failed attempt', async () => {
    gateway.onConnection = (peer) => peer.ready();
    const dead = gateway.wsUrl.replace(/:\d+\//, ':1/');
    const { connection, ws, log } = connect({ url: [dead, gateway.wsUrl], random: () => 0 });
    connection.start();
    const open = await log.when((s) => s.state === 'open');
    expect(ws.opened).toEqual([dead, gateway.wsUrl]);
    expect(open.reason).toEqual({ kind: 'ready', url: gateway.wsUrl });
  });
});

describe('Connection: reconnecting', () => {
  it('waits a full-jitter delay that doubles up to the cap between failed attempts, and not a moment less', async () => {
    gateway.refuseUpgradesWith = 503;
    vi.useFakeTimers(FAKE);
    // random() = 0.5: each delay is half its window, so the windows can be read off.
    const { connection, ws, log } = connect({
      backoff: { baseDelayMs: 1000, maxDelayMs: 4000 },
      random: () => 0.5,
    });
    connection.start();
    for (const [i, delay] of [500, 1000, 2000, 2000].entries()) {
      const change = await log.when((s) => s.state === 'reconnecting' && s.attempt === i + 1);
      expect(change).toMatchObject({ retryInMs: delay, reason: { kind: 'socket_closed', wasOpen: false } });
      expect(ws.opened).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(delay - 1);
      await settle();
      expect(ws.opened).toHaveLength(i + 1);
      await vi.advanceTimersByTimeAsync(1);
      await settle();
      expect(ws.opened).toHaveLength(i + 2);
    }
  });

  it('starts the backoff over after a connection reached ready', async () => {
    gateway.refuseUpgradesWith = 503;
    vi.useFakeTimers(FAKE);
    const { connection, log } = connect({
      backoff: { baseDelayMs: 1000, maxDelayMs: 30_000 },
      random: () => 0.5,
    });
    connection.start();
    const first = await log.when((s) => s.state === 'reconnecting' && s.attempt === 1);
    await vi.advanceTimersByTimeAsync(first.retryInMs!);
    const second = await log.when((s) => s.state === 'reconnecting' && s.attempt === 2);
    expect(second.retryInMs).toBe(1000);
    gateway.refuseUpgradesWith = undefined;
    gateway.onConnection = (peer) => peer.ready();
    await vi.advanceTimersByTimeAsync(second.retryInMs!);
    await log.when((s) => s.state === 'open');
    const index = log.seen.length;
    (await gateway.peer(0)).close(1012, 'server_shutting_down');
    const after = await log.when((s) => s.state === 'reconnecting', index);
    expect(after).toMatchObject({
      attempt: 1,
      retryInMs: 500,
      reason: { kind: 'socket_closed', code: 1012, errorCode: 'server_shutting_down', wasOpen: true },
    });
  });

  it('gives up on an attempt that has not reached ready within connectTimeoutMs', async () => {
    vi.useFakeTimers(FAKE);
    const { connection, log } = connect({ connectTimeoutMs: 3000, random: () => 0.5 });
    connection.start();
    const peer = await gateway.peer(0);
    await vi.advanceTimersByTimeAsync(2999);
    expect(connection.state).toBe('connecting');
    await vi.advanceTimersByTimeAsync(1);
    expect(log.seen.at(-1)).toMatchObject({ state: 'reconnecting', reason: { kind: 'connect_timeout' } });
    expect(await peer.closed).toEqual({ code: 1000, reason: 'connect_timeout' });
  });

  it('asks for a fresh token after a refused upgrade, and closes for good after maxAuthRejections', async () => {
    gateway.refuseUpgradesWith = 401;
    const { connection, log, tokens } = connect({ maxAuthRejections: 2, random: () => 0 });
    connection.start();
    const closed = await log.when((s) => s.state === 'closed');
    expect(closed.error?.code).toBe('unauthorized');
    expect(tokens).toEqual([false, true]);
    expect(log.seen.map((s) => s.state)).toEqual(['connecting', 'reconnecting', 'closed']);
  });

  it('closes for good on a forbidden close, without retrying', async () => {
    gateway.onConnection = (peer) => {
      peer.ready();
      peer.close(4003, 'forbidden');
    };
    const { connection, log, ws } = connect({ random: () => 0 });
    connection.start();
    const closed = await log.when((s) => s.state === 'closed');
    expect(closed.error?.code).toBe('forbidden');
    expect(ws.opened).toHaveLength(1);
  });
});

describe('Connection: heartbeat', () => {
  it('pings after pingIntervalMs of silence and drops the socket when no answer comes within pongTimeoutMs', async () => {
    gateway.onConnection = (peer) => peer.ready();
    vi.useFakeTimers(FAKE);
    const { connection, ws, log } = connect({ pingIntervalMs: 1000, pongTimeoutMs: 500, random: () => 0.5 });
    connection.start();
    await log.when((s) => s.state === 'open');
    const pings = () => ws.sent.filter((f) => f.type === 'ping');
    await vi.advanceTimersByTimeAsync(999);
    expect(pings()).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(pings()).toEqual([{ type: 'ping', ref: 'hb:1' }]);
    await vi.advanceTimersByTimeAsync(499);
    expect(connection.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(log.seen.at(-1)).toMatchObject({ state: 'reconnecting', reason: { kind: 'heartbeat_timeout' } });
    expect(await gateway.peers[0]!.closed).toEqual({ code: 1000, reason: 'heartbeat_timeout' });
  });

  it('counts any frame from the server as a sign of life, and an answered ping keeps the socket', async () => {
    gateway.onConnection = (peer) => peer.ready();
    vi.useFakeTimers(FAKE);
    const { connection, ws, log } = connect({ pingIntervalMs: 1000, pongTimeoutMs: 500 });
    const frames: ServerFrame[] = [];
    connection.on('frame', (f) => frames.push(f));
    connection.start();
    await log.when((s) => s.state === 'open');
    const peer = gateway.peers[0]!;
    /** Resolves once the client has taken in `count` frames. */
    const arrived = (count: number) =>
      new Promise<void>((resolve) => {
        if (frames.length >= count) return resolve();
        const off = connection.on('frame', () => {
          if (frames.length < count) return;
          off();
          resolve();
        });
      });
    const typing = { type: 'typing', conv: asConversationId('c1'), user: asUserId('u-other') } as const;
    const pings = () => ws.sent.filter((f) => f.type === 'ping');

    await vi.advanceTimersByTimeAsync(900);
    peer.send(typing);
    await arrived(2);
    await vi.advanceTimersByTimeAsync(1000);
    expect(pings()).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(pings()).toHaveLength(1);

    const ping = await peer.next('ping');
    peer.send({ type: 'pong', ...(ping.ref ? { ref: ping.ref } : {}), serverTime: Date.now() });
    peer.send(typing);
    await arrived(3);
    await vi.advanceTimersByTimeAsync(600);
    expect(connection.state).toBe('open');
    expect(log.seen.map((s) => s.state)).toEqual(['connecting', 'open']);
  });
});
