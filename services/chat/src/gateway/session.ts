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
} from '@relay-chat/protocol';
import { counter } from '@relay-chat/service-kit';
import type { WebSocket } from 'ws';
import { textFrame } from './ws-frame.js';

const WS_OPEN = 1;
const serverCloses = counter('chat_ws_server_closes_total', 'Connections the server closed, by reason', [
  'reason',
]);

/** Schedules a session's pending frames to be written in the next flush window. */
export interface FlushScheduler {
  markDirty(session: Session): void;
}

export interface SessionLimits {
  /**
   * Bound of unsent bytes in the socket's buffers. A socket that stays above it for longer
   * than `lagGraceMs`, or whose backlog passes `HARD_CAP_FACTOR` times it at any moment,
   * is closed as a slow consumer.
   */
  maxBufferedBytes: number;
  /** How long a socket may stay above the bound, ms (default 2000): a burst is not a slow reader. */
  lagGraceMs?: number;
}

/** Backlog, in multiples of the bound, that closes a socket at once (bounds memory per socket). */
export const HARD_CAP_FACTOR = 16;

/**
 * One authenticated WebSocket connection. Frames are queued as complete WebSocket frames
 * (built once per event by `textFrame`, shared by every recipient) and written together
 * to the connection's socket in one write per flush window (see Gateway.markDirty): a burst
 * costs one write call per socket, not one per frame. Control frames (ping, close) still go through `ws`,
 * which writes whole frames to the same socket, so frames never interleave.
 */
export class Session {
  readonly id = randomUUID();
  /** Conversations this user belongs to (the gateway keeps it current). */
  readonly convs = new Set<ConversationId>();
  /** Users whose presence this session receives. */
  readonly watching = new Set<string>();
  /** False until `ready` has been sent; frames queued before it wait behind it. */
  ready = false;
  /** Seen alive since the last heartbeat. */
  alive = true;
  /** Expiry of the current access token, ms since the epoch. */
  tokenExpiresAt: number;
  token: string;
  closed = false;
  /** Whether this session was counted in the presence registry (so it must be uncounted). */
  presenceCounted = false;
  private pending: Buffer[] = [];
  private overBoundSince: number | undefined;
  private pendingBytes = 0;
  private readonly lastTypingAt = new Map<ConversationId, number>();

  constructor(
    readonly ws: WebSocket,
    /** The upgraded TCP socket under `ws`. */
    private readonly socket: Duplex,
    readonly user: User,
    token: string,
    tokenExpiresAt: number,
    private readonly scheduler: FlushScheduler,
    private readonly limits: SessionLimits,
  ) {
    this.token = token;
    this.tokenExpiresAt = tokenExpiresAt;
  }

  /**
   * Queues a frame. Ephemeral frames (typing, presence) are dropped when the socket is
   * already behind; a backlog past the hard cap closes the socket as a slow consumer —
   * the client reconnects and resumes from history, nobody else waits.
   */
  enqueue(frame: Buffer, ephemeral = false): void {
    // `frame` is a complete WebSocket frame (see textFrame).
    if (this.closed) return;
    const backlog = this.ws.bufferedAmount + this.pendingBytes;
    if (ephemeral && backlog > this.limits.maxBufferedBytes / 4) return;
    if (backlog + frame.length > this.limits.maxBufferedBytes * HARD_CAP_FACTOR) {
      this.closeWith('slow_consumer');
      return;
    }
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.ready) this.scheduler.markDirty(this);
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
    return now - this.overBoundSince >= (this.limits.lagGraceMs ?? 2000);
  }

  send(frame: ServerFrame, ephemeral = false): void {
    this.enqueue(textFrame(JSON.stringify(frame)), ephemeral);
  }

  /** Sends `ready` ahead of anything queued while the session was being set up. */
  sendReady(frame: ServerFrame): void {
    const buf = textFrame(JSON.stringify(frame));
    this.pending.unshift(buf);
    this.pendingBytes += buf.length;
    this.ready = true;
    this.scheduler.markDirty(this);
  }

  sendError(code: ErrorCode, message: string, ref?: string, retryAfterMs?: number): void {
    const frame: ErrorFrame = { type: 'error', code, message };
    if (ref !== undefined) frame.ref = ref;
    if (retryAfterMs !== undefined) frame.retryAfterMs = retryAfterMs;
    this.send(frame);
  }

  /** Writes every pending frame in one write; called by the scheduler once per window. Returns how many. */
  flush(): number {
    if (this.closed || this.pending.length === 0) return 0;
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

  /** True at most once per `intervalMs` per conversation (typing throttle). */
  allowTyping(conv: ConversationId, now: number, intervalMs: number): boolean {
    const last = this.lastTypingAt.get(conv) ?? 0;
    if (now - last < intervalMs) return false;
    this.lastTypingAt.set(conv, now);
    return true;
  }

  /** Closes the connection with the close code of `code` and the code as reason. */
  closeWith(code: ErrorCode): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    serverCloses.inc({ reason: code });
    const closeCode = closeCodeOf(code);
    try {
      this.ws.close(closeCode, code);
    } catch {
      this.ws.terminate();
    }
    // A peer that never completes the closing handshake must not hold the socket.
    setTimeout(() => this.ws.terminate(), 5000).unref();
  }

  fail(err: unknown, ref?: string): void {
    const error = err instanceof ChatError ? err : new ChatError('internal');
    this.sendError(error.code, error.message, ref);
  }
}
