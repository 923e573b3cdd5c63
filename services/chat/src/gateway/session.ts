import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import {
  ChatError,
  type ConversationId,
  closeCodeOf,
  type ErrorCode,
  type ErrorFrame,
  type ServerFrame,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { counter } from '@relay-chat/service-kit';
import type { WebSocket } from 'ws';
import { textFrame } from './ws-frame.js';

const WS_OPEN = 1;
const serverCloses = counter('chat_ws_server_closes_total', 'Connections the server closed, by reason', [
  'reason',
]);

export interface SessionLimits {
  /**
   * Bound of unsent bytes in the socket's buffers. A socket that stays above it for longer
   * than `lagGraceMs`, or whose backlog passes `HARD_CAP_FACTOR` times it at any moment,
   * is closed as a slow consumer.
   */
  maxBufferedBytes: number;
  /** How long a socket may stay above the bound, ms: a burst is not a slow reader. */
  lagGraceMs: number;
  /** How long a peer that does not complete the closing handshake keeps its socket, ms. */
  closeTimeoutMs: number;
}

/** Backlog, in multiples of the bound, that closes a socket at once (bounds memory per socket). */
export const HARD_CAP_FACTOR = 16;

/** The authenticated access token a session runs on. */
export interface SessionToken {
  token: string;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
  /** The login (refresh-token family) the token belongs to, when it says. */
  sid?: string | undefined;
  /** Issue time, ms since the epoch. */
  issuedAt: number;
}

/**
 * One authenticated WebSocket connection and the state that belongs to it alone: its
 * access token, the conversations it is known to be in (a cache the fan-out keeps current),
 * the users whose presence it watches, and its queue of outgoing frames.
 *
 * Frames are queued as complete WebSocket frames (built once per event by `textFrame`,
 * shared by every recipient) and written together in one write per flush (the
 * FlushScheduler calls `flush`): a burst costs one write call per socket, not one per
 * frame. Control frames (ping, close) still go through `ws`, which writes whole frames to
 * the same socket, so frames never interleave. A session never calls back into the pieces
 * that own it: they call its intent methods.
 */
export class Session {
  readonly id = randomUUID();
  private current: SessionToken;
  private readonly convs = new Set<ConversationId>();
  private readonly watched = new Set<UserId>();
  private readyState: 'setting_up' | 'ready' | 'closed' = 'setting_up';
  private readonly readyWaiters: (() => void)[] = [];
  private seenAlive = true;
  private presenceCounted = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private overBoundSince: number | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`. */
    private readonly socket: Duplex,
    readonly user: User,
    token: SessionToken,
    private readonly limits: SessionLimits,
  ) {
    this.current = token;
  }

  // --- identity and token ------------------------------------------------------------

  get token(): SessionToken {
    return this.current;
  }

  /** Replaces the access token (an `auth` frame of the same user). */
  renewToken(token: SessionToken): void {
    this.current = token;
  }

  get closed(): boolean {
    return this.readyState === 'closed';
  }

  get ready(): boolean {
    return this.readyState === 'ready';
  }

  /** Resolves once `ready` is queued, or once the session closes without it. */
  whenReady(): Promise<void> {
    if (this.readyState !== 'setting_up') return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  // --- membership cache and presence watching ------------------------------------------

  isMember(conv: ConversationId): boolean {
    return this.convs.has(conv);
  }

  /** Records membership; false when it was already known. */
  addConversation(conv: ConversationId): boolean {
    if (this.convs.has(conv)) return false;
    this.convs.add(conv);
    return true;
  }

  removeConversation(conv: ConversationId): boolean {
    return this.convs.delete(conv);
  }

  conversations(): IterableIterator<ConversationId> {
    return this.convs.values();
  }

  /** Records that this session watches `userId`'s presence; false when it already did. */
  watch(userId: UserId): boolean {
    if (this.watched.has(userId)) return false;
    this.watched.add(userId);
    return true;
  }

  watching(): IterableIterator<UserId> {
    return this.watched.values();
  }

  /** Marks the session as counted in the presence registry (it must be uncounted once). */
  markCountedInPresence(): void {
    this.presenceCounted = true;
  }

  /** True once, for the session that was counted: the caller uncounts it. */
  takePresenceCount(): boolean {
    const counted = this.presenceCounted;
    this.presenceCounted = false;
    return counted;
  }

  // --- outgoing frames -----------------------------------------------------------------

  /**
   * Queues a frame; true when the session now needs a flush. Ephemeral frames (typing,
   * presence) are dropped when the socket is already behind; a backlog past the hard cap
   * closes the socket as a slow consumer — the client reconnects and resumes from history,
   * nobody else waits. Frames queued before `ready` wait behind it.
   */
  enqueue(frame: Buffer, ephemeral = false): boolean {
    // `frame` is a complete WebSocket frame (see textFrame).
    if (this.closed) return false;
    const backlog = this.ws.bufferedAmount + this.pendingBytes;
    if (ephemeral && backlog > this.limits.maxBufferedBytes / 4) return false;
    if (backlog + frame.length > this.limits.maxBufferedBytes * HARD_CAP_FACTOR) {
      this.closeWith('slow_consumer');
      return false;
    }
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    return this.ready;
  }

  /** Serializes and queues one frame; true when the session now needs a flush. */
  send(frame: ServerFrame, ephemeral = false): boolean {
    return this.enqueue(textFrame(JSON.stringify(frame)), ephemeral);
  }

  sendError(code: ErrorCode, message: string, ref?: string, retryAfterMs?: number): boolean {
    const frame: ErrorFrame = { type: 'error', code, message };
    if (ref !== undefined) frame.ref = ref;
    if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
    return this.send(frame);
  }

  /** An error frame for a failed command: typed errors as they are, anything else as `internal`. */
  sendFailure(err: unknown, ref?: string): boolean {
    const error = err instanceof ChatError ? err : new ChatError('internal');
    return this.sendError(error.code, error.message, ref, retryAfterMsOf(error));
  }

  /**
   * Puts `ready` ahead of anything queued during set-up and opens the session for
   * writing; true when it needs a flush (always, unless closed). The frame counts against
   * the hard cap like any other: a `ready` past it closes the session as a slow consumer.
   */
  sendReady(frame: ServerFrame): boolean {
    if (this.closed) return false;
    const buf = textFrame(JSON.stringify(frame));
    if (buf.length + this.pendingBytes > this.limits.maxBufferedBytes * HARD_CAP_FACTOR) {
      this.closeWith('slow_consumer');
      return false;
    }
    this.pending.unshift(buf);
    this.pendingBytes += buf.length;
    this.readyState = 'ready';
    this.wakeReadyWaiters();
    return true;
  }

  /** Writes every pending frame in one write; returns how many. Called by the FlushScheduler. */
  flush(): number {
    if (this.closed || !this.ready || this.pending.length === 0) return 0;
    const frames = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    // Once a close frame is on its way (either side started closing), no data may follow.
    if (this.ws.readyState !== WS_OPEN || this.socket.destroyed) return 0;
    if (this.isLagging(Date.now())) {
      this.closeWith('slow_consumer');
      return 0;
    }
    // One write call per flush: a copy of a few small frames costs less than the stream's
    // per-chunk bookkeeping, and the kernel sees one buffer.
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes));
    return frames.length;
  }

  /**
   * True when what was written earlier is still unsent past the bound for longer than the
   * grace period — the reader is not keeping up. Checked at each flush and heartbeat.
   */
  isLagging(now: number): boolean {
    if (this.ws.bufferedAmount <= this.limits.maxBufferedBytes) {
      this.overBoundSince = undefined;
      return false;
    }
    this.overBoundSince ??= now;
    return now - this.overBoundSince >= this.limits.lagGraceMs;
  }

  // --- reading -----------------------------------------------------------------------

  /**
   * Stops reading the socket for `ms`: a client over its budget waits in its own send
   * buffer (TCP pushes back), instead of costing this process the parsing of frames that
   * would only be dropped. Reading resumes by itself.
   */
  pauseReading(ms: number): void {
    if (this.closed) return;
    this.socket.pause();
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (!this.closed) this.socket.resume();
    }, ms);
    this.resumeTimer.unref();
  }

  // --- liveness and closing ------------------------------------------------------------

  /** The peer answered a ping. */
  noteAlive(): void {
    this.seenAlive = true;
  }

  /**
   * One heartbeat: closes a lagging socket (slow_consumer), terminates one that did not
   * answer the previous ping, and otherwise pings it.
   */
  beat(now: number): void {
    if (this.closed) return;
    if (this.isLagging(now)) {
      this.closeWith('slow_consumer');
      return;
    }
    if (!this.seenAlive) {
      this.terminate();
      return;
    }
    this.seenAlive = false;
    this.ws.ping();
  }

  /** Marks the session closed (the socket is gone); what is queued is dropped. */
  markClosed(): void {
    if (this.readyState === 'closed') return;
    this.readyState = 'closed';
    this.pending = [];
    this.pendingBytes = 0;
    this.wakeReadyWaiters();
  }

  /** Closes the connection with the close code of `code` and the code as reason. */
  closeWith(code: ErrorCode): void {
    if (this.closed) return;
    this.markClosed();
    serverCloses.inc({ reason: code });
    try {
      this.ws.close(closeCodeOf(code), code);
    } catch {
      this.ws.terminate();
    }
    // A peer that never completes the closing handshake must not hold the socket.
    setTimeout(() => this.ws.terminate(), this.limits.closeTimeoutMs).unref();
  }

  /** Drops the connection without a closing handshake. */
  terminate(): void {
    this.markClosed();
    this.ws.terminate();
  }

  private wakeReadyWaiters(): void {
    for (const wake of this.readyWaiters.splice(0)) wake();
  }
}

/** The `retryAfterMs` of a `rate_limited` error frame, from the error's Retry-After seconds. */
export function retryAfterMsOf(error: ChatError): number | undefined {
  return error.retryAfterSec === undefined ? undefined : Math.ceil(error.retryAfterSec * 1000);
}
