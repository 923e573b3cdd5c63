import {
  type AckFrame,
  ChatError,
  type ConversationId,
  clientMsgIdProblem,
  LIMITS,
  messageBodyProblem,
  type UserId,
} from '@relay-chat/protocol';

/** What a message may carry besides its body (protocol v1.2). */
export interface SendExtras {
  /** The seq of the message of the same conversation this one answers. */
  replyTo?: number;
  /** Members mentioned, as user ids (deduplicated here; the server drops the sender). */
  mentions?: readonly UserId[];
}

/** `pending`: not yet acknowledged (queued or in flight); `sent`: stored by the server; `failed`: rejected for good. */
export type OutboxStatus = 'pending' | 'sent' | 'failed';

/** One outgoing message. Entries are immutable snapshots; every change replaces the entry. */
export interface OutboxEntry {
  readonly clientMsgId: string;
  readonly conv: ConversationId;
  readonly body: string;
  /** v1.2: the seq of the message (same conversation) this one answers. */
  readonly replyTo?: number;
  /** v1.2: the members it mentions (user ids). */
  readonly mentions?: readonly UserId[];
  readonly status: OutboxStatus;
  /** When it was queued, ms since the epoch. */
  readonly createdAt: number;
  /** How many times it was written to a socket. */
  readonly attempts: number;
  /** The connection it was last written to (see Connection#connectionId); 0 = never. */
  readonly lastConnectionId: number;
  /** Set once `sent`. */
  readonly ack?: AckFrame;
  /** Set once `failed`. */
  readonly error?: ChatError;
}

/** An entry's status change (the `outbox` event). `previous` is undefined for a new entry. */
export interface OutboxChange {
  entry: OutboxEntry;
  previous: OutboxStatus | undefined;
}

/** What `send` and `retry` return. `acked` resolves with the ack, or rejects with a ChatError when the entry fails or is discarded. */
export interface SendHandle {
  clientMsgId: string;
  acked: Promise<AckFrame>;
}

interface Slot {
  entry: OutboxEntry;
  handle: SendHandle;
  resolve: (ack: AckFrame) => void;
  reject: (error: ChatError) => void;
}

/**
 * The send queue: every message stays `pending` until the server acknowledges its
 * `clientMsgId`, and is written again (same id, so the server stores it once) after each
 * reconnect. Only a non-retryable error fails it; `retry` queues a failed one again.
 *
 * Pure state: the owner decides when to write entries (see `unsentOn`) and reports acks,
 * errors and writes back. Acknowledged entries leave the outbox.
 */
export class Outbox {
  readonly #slots = new Map<string, Slot>();
  readonly #onChange: (change: OutboxChange) => void;
  readonly #now: () => number;

  constructor(options: { onChange?: (change: OutboxChange) => void; now?: () => number } = {}) {
    this.#onChange = options.onChange ?? (() => {});
    this.#now = options.now ?? Date.now;
  }

  /**
   * Queues a message. Throws ChatError `validation_failed` for an empty or too long body.
   * Adding a `clientMsgId` that is already queued returns the existing handle.
   */
  add(
    conv: ConversationId,
    body: string,
    clientMsgId: string = createClientMsgId(),
    extras: SendExtras = {},
  ): SendHandle {
    const existing = this.#slots.get(clientMsgId);
    if (existing) return existing.handle;
    validate(conv, body, clientMsgId, extras);
    const mentions = extras.mentions === undefined ? undefined : [...new Set(extras.mentions)];
    const entry: OutboxEntry = {
      clientMsgId,
      conv,
      body,
      ...(extras.replyTo === undefined ? {} : { replyTo: extras.replyTo }),
      ...(mentions === undefined || mentions.length === 0 ? {} : { mentions }),
      status: 'pending',
      createdAt: this.#now(),
      attempts: 0,
      lastConnectionId: 0,
    };
    const slot = this.#newSlot(entry);
    this.#slots.set(clientMsgId, slot);
    this.#onChange({ entry, previous: undefined });
    return slot.handle;
  }

  get(clientMsgId: string): OutboxEntry | undefined {
    return this.#slots.get(clientMsgId)?.entry;
  }

  /** Every entry not yet acknowledged (pending and failed), oldest first. */
  entries(): OutboxEntry[] {
    return [...this.#slots.values()].map((slot) => slot.entry);
  }

  /** Pending entries not yet written to connection `connectionId`, oldest first. */
  unsentOn(connectionId: number): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    for (const { entry } of this.#slots.values()) {
      if (entry.status === 'pending' && entry.lastConnectionId !== connectionId) out.push(entry);
    }
    return out;
  }

  get size(): number {
    return this.#slots.size;
  }

  /** Records that the entry was written to connection `connectionId`. */
  markWritten(clientMsgId: string, connectionId: number): void {
    const slot = this.#slots.get(clientMsgId);
    if (slot?.entry.status !== 'pending') return;
    slot.entry = { ...slot.entry, attempts: slot.entry.attempts + 1, lastConnectionId: connectionId };
  }

  /** Forgets which connection the entry went to, so `unsentOn` offers it again (resend after a retryable error). */
  markUnwritten(clientMsgId: string): void {
    const slot = this.#slots.get(clientMsgId);
    if (slot?.entry.status !== 'pending') return;
    slot.entry = { ...slot.entry, lastConnectionId: 0 };
  }

  /** Settles the entry the ack names (pending or failed) as `sent`; undefined when none. */
  acknowledge(ack: AckFrame): OutboxEntry | undefined {
    const slot = this.#slots.get(ack.clientMsgId);
    if (!slot || slot.entry.conv !== ack.conv) return undefined;
    const previous = slot.entry.status;
    const { error: _error, ...rest } = slot.entry;
    const entry: OutboxEntry = { ...rest, status: 'sent', ack };
    this.#slots.delete(ack.clientMsgId);
    slot.resolve(ack);
    this.#onChange({ entry, previous });
    return entry;
  }

  /** Marks a pending entry `failed` and rejects its promise; undefined when not pending. */
  fail(clientMsgId: string, error: ChatError): OutboxEntry | undefined {
    const slot = this.#slots.get(clientMsgId);
    if (slot?.entry.status !== 'pending') return undefined;
    slot.entry = { ...slot.entry, status: 'failed', error };
    slot.reject(error);
    this.#onChange({ entry: slot.entry, previous: 'pending' });
    return slot.entry;
  }

  /**
   * Queues a failed entry again with the same clientMsgId (at the back of the queue).
   * Returns a fresh handle; throws ChatError `not_found` when the entry is not failed.
   */
  retry(clientMsgId: string): SendHandle {
    const slot = this.#slots.get(clientMsgId);
    if (slot?.entry.status !== 'failed') {
      throw new ChatError('not_found', 'no failed outbox entry with that clientMsgId');
    }
    const { error: _error, ...rest } = slot.entry;
    const entry: OutboxEntry = { ...rest, status: 'pending', lastConnectionId: 0 };
    const fresh = this.#newSlot(entry);
    this.#slots.delete(clientMsgId);
    this.#slots.set(clientMsgId, fresh);
    this.#onChange({ entry, previous: 'failed' });
    return fresh.handle;
  }

  /**
   * Drops an entry. A pending one's promise rejects with ChatError `conflict`; note that a
   * pending entry already written may still be stored by the server.
   */
  discard(clientMsgId: string): boolean {
    const slot = this.#slots.get(clientMsgId);
    if (!slot) return false;
    this.#slots.delete(clientMsgId);
    if (slot.entry.status === 'pending') slot.reject(new ChatError('conflict', 'the message was discarded'));
    return true;
  }

  #newSlot(entry: OutboxEntry): Slot {
    let resolve!: (ack: AckFrame) => void;
    let reject!: (error: ChatError) => void;
    const acked = new Promise<AckFrame>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A caller that ignores `acked` must not get an unhandled rejection; callers that
    // await it still see the rejection.
    acked.catch(() => {});
    return { entry, handle: { clientMsgId: entry.clientMsgId, acked }, resolve, reject };
  }
}

/** Refuses locally what the server would refuse (the same rules, from the protocol package). */
function validate(conv: string, body: string, clientMsgId: string, extras: SendExtras): void {
  const fields: { field: string; message: string }[] = [];
  if (typeof conv !== 'string' || conv.length === 0) fields.push({ field: '/conv', message: 'is required' });
  const bodyProblem = typeof body === 'string' ? messageBodyProblem(body) : 'body must be a string';
  if (bodyProblem) fields.push({ field: '/body', message: bodyProblem });
  const idProblem = clientMsgIdProblem(clientMsgId);
  if (idProblem) fields.push({ field: '/clientMsgId', message: idProblem });
  const { replyTo, mentions } = extras;
  if (replyTo !== undefined && !(Number.isInteger(replyTo) && replyTo >= 1)) {
    fields.push({ field: '/replyTo', message: 'replyTo must be a seq (an integer >= 1)' });
  }
  const mentionProblem = mentionsProblem(mentions);
  if (mentionProblem) fields.push({ field: '/mentions', message: mentionProblem });
  const first = fields[0];
  if (first) throw new ChatError('validation_failed', first.message, { fields });
}

/** Why `mentions` cannot be sent, or undefined when it can (a list of at most LIMITS.maxMentions user ids). */
export function mentionsProblem(mentions: readonly unknown[] | undefined): string | undefined {
  if (mentions === undefined) return undefined;
  if (!Array.isArray(mentions) || !mentions.every((m) => typeof m === 'string' && m.length > 0)) {
    return 'mentions must be a list of user ids';
  }
  if (new Set(mentions).size > LIMITS.maxMentions) return `at most ${LIMITS.maxMentions} mentions`;
  return undefined;
}

/**
 * A fresh clientMsgId: `crypto.randomUUID()` (browsers, Node 20); in an insecure browser
 * context, where randomUUID is missing, a v4 UUID from `crypto.getRandomValues`.
 */
export function createClientMsgId(): string {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === 'function') return c.randomUUID();
  const bytes = c.getRandomValues(new Uint8Array(16));
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
