import type { AckFrame, ChatError, ConversationId } from '@relay-chat/protocol';
import { type BackoffOptions, fullJitterDelay } from './backoff.js';
import type { Connection } from './connection.js';
import { Outbox, type OutboxChange, type OutboxEntry, type SendExtras, type SendHandle } from './outbox.js';

/**
 * Moves outbox entries onto the connection: writes a new message at once when connected,
 * writes every unacknowledged one again on each new connection (same clientMsgId, so the
 * server stores it once), resends after a retryable error with full-jitter delays, and
 * fails the entry on a non-retryable one.
 */
export class Sender {
  readonly #outbox: Outbox;
  readonly #connection: Connection;
  readonly #retry: BackoffOptions;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #failures = new Map<string, number>();

  constructor(options: {
    connection: Connection;
    /** Delays before resending after a retryable error. */
    retry: BackoffOptions;
    onChange: (change: OutboxChange) => void;
  }) {
    this.#connection = options.connection;
    this.#retry = options.retry;
    this.#outbox = new Outbox({ onChange: options.onChange });
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.#outbox.get(clientMsgId);
  }

  entries(): OutboxEntry[] {
    return this.#outbox.entries();
  }

  send(conv: ConversationId, body: string, clientMsgId?: string, extras: SendExtras = {}): SendHandle {
    const handle = this.#outbox.add(conv, body, clientMsgId, extras);
    const entry = this.#outbox.get(handle.clientMsgId);
    if (entry?.status === 'pending' && entry.attempts === 0) this.#write(entry);
    return handle;
  }

  retry(clientMsgId: string): SendHandle {
    this.#failures.delete(clientMsgId);
    const handle = this.#outbox.retry(clientMsgId);
    const entry = this.#outbox.get(clientMsgId);
    if (entry) this.#write(entry);
    return handle;
  }

  discard(clientMsgId: string): boolean {
    this.#forget(clientMsgId);
    return this.#outbox.discard(clientMsgId);
  }

  /** Settles the entry an ack names; returns it, or undefined when none was waiting. */
  acknowledge(ack: AckFrame): OutboxEntry | undefined {
    this.#forget(ack.clientMsgId);
    return this.#outbox.acknowledge(ack);
  }

  /**
   * Handles an error frame whose ref may be a pending clientMsgId; false when it is not one.
   * `retryAfterMs` (sent with `rate_limited`) is the least the resend waits.
   */
  reject(ref: string, error: ChatError, retryAfterMs = 0): boolean {
    if (this.#outbox.get(ref)?.status !== 'pending') return false;
    if (!error.retryable) {
      this.#forget(ref);
      this.#outbox.fail(ref, error);
      return true;
    }
    const failures = this.#failures.get(ref) ?? 0;
    this.#failures.set(ref, failures + 1);
    clearTimeout(this.#timers.get(ref));
    const timer = setTimeout(
      () => {
        this.#timers.delete(ref);
        const entry = this.#outbox.get(ref);
        if (entry?.status === 'pending') this.#write(entry, true);
      },
      // The server's hint plus jitter, so a backlog after a reconnect spreads out instead
      // of hitting the limit again all at once.
      Math.max(retryAfterMs + fullJitterDelay(0, this.#retry) / 4, fullJitterDelay(failures, this.#retry)),
    );
    this.#timers.set(ref, timer);
    return true;
  }

  /**
   * The server dropped frames of this connection over its frame budget (a `rate_limited`
   * error without a ref): every entry written on this connection and not yet acknowledged
   * is written again after `retryAfterMs` (the server stores each clientMsgId once).
   */
  resendDropped(error: ChatError, retryAfterMs: number): void {
    for (const entry of this.#outbox.entries()) {
      if (entry.status === 'pending' && entry.lastConnectionId === this.#connection.connectionId) {
        this.reject(entry.clientMsgId, error, retryAfterMs);
      }
    }
  }

  /** On a new connection: writes every pending entry, oldest first (waiting resends included). */
  flush(): void {
    this.stop();
    for (const entry of this.#outbox.unsentOn(this.#connection.connectionId)) if (!this.#write(entry)) return;
  }

  /** Cancels waiting resends (entries stay queued). */
  stop(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  /** Writes when connected; `again` rewrites an entry already written on this connection. */
  #write(entry: OutboxEntry, again = false): boolean {
    if (!again && entry.lastConnectionId === this.#connection.connectionId) return true;
    if (this.#timers.has(entry.clientMsgId)) return true;
    const { conv, clientMsgId, body, replyTo, mentions } = entry;
    const frame = {
      type: 'send' as const,
      conv,
      clientMsgId,
      body,
      ...(replyTo === undefined ? {} : { replyTo }),
      ...(mentions === undefined ? {} : { mentions: [...mentions] }),
    };
    if (!this.#connection.send(frame)) return false;
    this.#outbox.markWritten(clientMsgId, this.#connection.connectionId);
    return true;
  }

  #forget(clientMsgId: string): void {
    clearTimeout(this.#timers.get(clientMsgId));
    this.#timers.delete(clientMsgId);
    this.#failures.delete(clientMsgId);
  }
}
