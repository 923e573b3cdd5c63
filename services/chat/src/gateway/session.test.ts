import type { Duplex } from 'node:stream';
import { asConversationId, asUserId, ChatError, type ServerFrame } from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { WebSocket } from 'ws';
import * as ws from 'ws';
import { HARD_CAP_FACTOR, Session, type SessionLimits } from './session.js';
import { textFrame } from './ws-frame.js';

// ws ships its frame parser (exported at run time, though its types do not declare it).
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReceiver };

const LIMITS: SessionLimits = { maxBufferedBytes: 1000, lagGraceMs: 2000, closeTimeoutMs: 5000 };
const user = { id: asUserId('u-ann'), username: 'ann' };
const token = { token: 't', expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() };

/**
 * The socket under test, as a double: the WebSocket's part (buffered bytes, state, ping,
 * close) and the raw TCP socket's (write, pause, resume), each recording what the session
 * did with it. A WebSocket is an I/O boundary; what is tested is the session's logic.
 */
function fakeSocket() {
  const writes: Buffer[] = [];
  const calls: string[] = [];
  const closes: { code: number; reason: string }[] = [];
  const wsDouble = {
    bufferedAmount: 0,
    readyState: 1,
    ping: () => calls.push('ping'),
    close: (code: number, reason: string) => {
      closes.push({ code, reason });
      wsDouble.readyState = 2;
    },
    terminate: () => {
      calls.push('terminate');
      wsDouble.readyState = 3;
    },
  };
  const tcp = {
    destroyed: false,
    write: (chunk: Buffer) => {
      writes.push(chunk);
      return true;
    },
    pause: () => calls.push('pause'),
    resume: () => calls.push('resume'),
  };
  const session = new Session(
    wsDouble as unknown as WebSocket,
    tcp as unknown as Duplex,
    user,
    token,
    LIMITS,
  );
  return {
    session,
    ws: wsDouble,
    tcp,
    writes,
    calls,
    closes,
    /** The messages of every write, parsed by ws's own frame parser. */
    written(): ServerFrame[] {
      const receiver = new Receiver({ isServer: false });
      const out: ServerFrame[] = [];
      receiver.on('message', (data) => out.push(JSON.parse(data.toString()) as ServerFrame));
      for (const chunk of writes) receiver.write(chunk);
      return out;
    },
  };
}

/** A complete frame that names itself by `ref`. */
const frameRef = (ref: string): Buffer => textFrame(JSON.stringify({ type: 'pong', ref, serverTime: 0 }));
const readyFrame = { type: 'pong', ref: 'ready-stand-in', serverTime: 0 } as const;
const refsOf = (frames: ServerFrame[]) => frames.map((f) => ('ref' in f ? f.ref : f.type));

describe('Session: queueing and flushing', () => {
  it('holds frames queued during set-up behind ready, then writes them all in one write', async () => {
    const s = fakeSocket();
    const woken = vi.fn();
    void s.session.whenReady().then(woken);
    expect(s.session.enqueue(frameRef('early-1'))).toBe(false);
    expect(s.session.enqueue(frameRef('early-2'))).toBe(false);
    expect(s.session.flush()).toBe(0);
    expect(s.writes).toEqual([]);

    expect(s.session.sendReady(readyFrame)).toBe(true);
    expect(s.session.ready).toBe(true);
    await Promise.resolve();
    expect(woken).toHaveBeenCalledOnce();
    expect(s.session.flush()).toBe(3);
    expect(s.writes).toHaveLength(1);
    expect(refsOf(s.written())).toEqual(['ready-stand-in', 'early-1', 'early-2']);
  });

  it('writes everything queued since the last flush with one write call, in order', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    for (const ref of ['a', 'b', 'c']) expect(s.session.enqueue(frameRef(ref))).toBe(true);
    expect(s.session.flush()).toBe(3);
    expect(s.writes).toHaveLength(2);
    expect(s.session.flush()).toBe(0);
    expect(s.writes).toHaveLength(2);
    expect(refsOf(s.written())).toEqual(['ready-stand-in', 'a', 'b', 'c']);
  });

  it('writes a lone frame as the very buffer it was given (built once, shared by every recipient)', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    const frame = frameRef('shared');
    s.session.enqueue(frame);
    s.session.flush();
    expect(s.writes[1]).toBe(frame);
  });

  it('drops what is queued, without writing, once the closing handshake started or the socket is gone', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.ws.readyState = 2;
    expect(s.session.flush()).toBe(0);
    s.ws.readyState = 1;
    expect(s.session.flush()).toBe(0);
    s.tcp.destroyed = true;
    s.session.enqueue(frameRef('late'));
    expect(s.session.flush()).toBe(0);
    expect(s.writes).toEqual([]);
  });

  it('queues nothing once closed, and wakes whoever waits for ready', async () => {
    const s = fakeSocket();
    const woken = vi.fn();
    void s.session.whenReady().then(woken);
    s.session.markClosed();
    await Promise.resolve();
    expect(woken).toHaveBeenCalledOnce();
    expect(s.session.enqueue(frameRef('x'))).toBe(false);
    expect(s.session.sendReady(readyFrame)).toBe(false);
    expect(s.session.flush()).toBe(0);
    expect(s.writes).toEqual([]);
  });

  it('sends error frames with their ref and, for rate_limited, the wait in ms', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.sendFailure(new ChatError('rate_limited', 'slow down', { retryAfterSec: 1.2 }), 'm-1');
    s.session.sendFailure(new Error('boom'), 'm-2');
    s.session.sendError('not_member', 'no', undefined);
    s.session.flush();
    expect(s.written().slice(1)).toEqual([
      { type: 'error', code: 'rate_limited', message: 'slow down', ref: 'm-1', retryAfterMs: 1200 },
      { type: 'error', code: 'internal', message: expect.any(String), ref: 'm-2' },
      { type: 'error', code: 'not_member', message: 'no' },
    ]);
  });
});

describe('Session: backpressure', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drops ephemeral frames once the backlog passes a quarter of the bound, and keeps the others', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes / 4;
    expect(s.session.enqueue(frameRef('typing-1'), true)).toBe(true);
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes / 4 + 1;
    expect(s.session.enqueue(frameRef('typing-2'), true)).toBe(false);
    expect(s.session.enqueue(frameRef('message'))).toBe(true);
    s.session.flush();
    expect(refsOf(s.written())).toEqual(['ready-stand-in', 'typing-1', 'message']);
  });

  it('counts frames still queued in the session toward the backlog, not only the socket’s buffer', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    const big = textFrame('x'.repeat(LIMITS.maxBufferedBytes / 4));
    s.session.enqueue(big);
    expect(s.session.enqueue(frameRef('typing'), true)).toBe(false);
  });

  it('closes at once with 4008 slow_consumer when a frame would take the backlog past the hard cap', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    const frame = frameRef('over');
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes * HARD_CAP_FACTOR - frame.length + 1;
    expect(s.session.enqueue(frame)).toBe(false);
    expect(s.closes).toEqual([{ code: 4008, reason: 'slow_consumer' }]);
    expect(s.session.closed).toBe(true);
    expect(s.session.flush()).toBe(0);
    expect(s.writes).toHaveLength(1);
  });

  it('lets a socket exactly at the hard cap take its frame', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    const frame = frameRef('fits');
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes * HARD_CAP_FACTOR - frame.length;
    expect(s.session.enqueue(frame)).toBe(true);
    expect(s.closes).toEqual([]);
  });

  it('closes as a slow consumer a ready frame that alone passes the hard cap', () => {
    const s = fakeSocket();
    const huge = {
      type: 'pong',
      ref: 'x'.repeat(LIMITS.maxBufferedBytes * HARD_CAP_FACTOR),
      serverTime: 0,
    } as const;
    expect(s.session.sendReady(huge)).toBe(false);
    expect(s.closes).toEqual([{ code: 4008, reason: 'slow_consumer' }]);
  });

  it('writes while over the bound for less than the grace, and closes 4008 once the grace has passed', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    s.session.enqueue(frameRef('1'));
    expect(s.session.flush()).toBe(1); // the first pass over the bound starts the grace
    vi.advanceTimersByTime(LIMITS.lagGraceMs - 1);
    s.session.enqueue(frameRef('2'));
    expect(s.session.flush()).toBe(1);
    expect(s.closes).toEqual([]);
    vi.advanceTimersByTime(1);
    s.session.enqueue(frameRef('3'));
    expect(s.session.flush()).toBe(0);
    expect(s.closes).toEqual([{ code: 4008, reason: 'slow_consumer' }]);
    expect(refsOf(s.written())).toEqual(['ready-stand-in', '1', '2']);
  });

  it('starts the grace again after the socket drained below the bound: a burst is not a slow reader', () => {
    const s = fakeSocket();
    s.session.sendReady(readyFrame);
    s.session.flush();
    const start = Date.now();
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    expect(s.session.isLagging(start)).toBe(false);
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes; // at the bound is not over it
    expect(s.session.isLagging(start + 1500)).toBe(false);
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    expect(s.session.isLagging(start + 1600)).toBe(false);
    expect(s.session.isLagging(start + 1600 + LIMITS.lagGraceMs - 1)).toBe(false);
    expect(s.session.isLagging(start + 1600 + LIMITS.lagGraceMs)).toBe(true);
  });

  it('gives up on a peer that does not finish the closing handshake within closeTimeoutMs', () => {
    const s = fakeSocket();
    s.session.closeWith('slow_consumer');
    s.session.closeWith('slow_consumer');
    expect(s.closes).toHaveLength(1);
    vi.advanceTimersByTime(LIMITS.closeTimeoutMs - 1);
    expect(s.calls).not.toContain('terminate');
    vi.advanceTimersByTime(1);
    expect(s.calls).toEqual(['terminate']);
  });
});

describe('Session: heartbeat and reading', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('pings a live peer, terminates one that did not answer the previous ping', () => {
    const s = fakeSocket();
    s.session.beat(Date.now());
    expect(s.calls).toEqual(['ping']);
    s.session.noteAlive();
    s.session.beat(Date.now());
    expect(s.calls).toEqual(['ping', 'ping']);
    s.session.beat(Date.now());
    expect(s.calls).toEqual(['ping', 'ping', 'terminate']);
    expect(s.session.closed).toBe(true);
    s.session.beat(Date.now());
    expect(s.calls).toHaveLength(3);
  });

  it('closes a socket that stayed over the bound past the grace at a heartbeat, even with nothing to write', () => {
    const s = fakeSocket();
    s.ws.bufferedAmount = LIMITS.maxBufferedBytes + 1;
    const start = Date.now();
    s.session.beat(start);
    expect(s.closes).toEqual([]);
    s.session.noteAlive();
    s.session.beat(start + LIMITS.lagGraceMs);
    expect(s.closes).toEqual([{ code: 4008, reason: 'slow_consumer' }]);
    expect(s.calls).toEqual(['ping']);
  });

  it('stops reading for the given time, and a new pause restarts the wait', () => {
    const s = fakeSocket();
    s.session.pauseReading(1000);
    expect(s.calls).toEqual(['pause']);
    vi.advanceTimersByTime(600);
    s.session.pauseReading(1000);
    vi.advanceTimersByTime(999);
    expect(s.calls).toEqual(['pause', 'pause']);
    vi.advanceTimersByTime(1);
    expect(s.calls).toEqual(['pause', 'pause', 'resume']);
  });

  it('does not resume reading a session closed while paused', () => {
    const s = fakeSocket();
    s.session.pauseReading(1000);
    s.session.markClosed();
    vi.advanceTimersByTime(5000);
    expect(s.calls).toEqual(['pause']);
  });
});

describe('Session: membership cache and presence count', () => {
  it('records conversations and watched users once each', () => {
    const s = fakeSocket();
    const conv = asConversationId('c-1');
    expect(s.session.isMember(conv)).toBe(false);
    expect(s.session.addConversation(conv)).toBe(true);
    expect(s.session.addConversation(conv)).toBe(false);
    expect(s.session.isMember(conv)).toBe(true);
    expect(s.session.removeConversation(conv)).toBe(true);
    expect(s.session.isMember(conv)).toBe(false);
    expect(s.session.watch(asUserId('u-ben'))).toBe(true);
    expect(s.session.watch(asUserId('u-ben'))).toBe(false);
    expect([...s.session.watching()]).toEqual(['u-ben']);
  });

  it('hands back the presence count exactly once', () => {
    const s = fakeSocket();
    expect(s.session.takePresenceCount()).toBe(false);
    s.session.markCountedInPresence();
    expect(s.session.takePresenceCount()).toBe(true);
    expect(s.session.takePresenceCount()).toBe(false);
  });
});
