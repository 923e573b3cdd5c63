import {
  type ChangeAckFrame,
  ChatError,
  type ClientFrame,
  type ConversationId,
  type Message,
  messageBodyProblem,
  reactionProblem,
  toChatError,
  type UserId,
} from '@relay-chat/protocol';
import { mentionsProblem } from './outbox.js';

/** An edit, a delete or a reaction the caller asks for. */
export type ChangeRequest =
  | { kind: 'edit'; conv: ConversationId; seq: number; body: string; mentions?: readonly UserId[] }
  | { kind: 'delete'; conv: ConversationId; seq: number }
  | { kind: 'react'; conv: ConversationId; seq: number; emoji: string; on: boolean };

export interface ChangeRequestsOptions {
  /** Writes a frame on the current connection; false when there is none open. */
  send: (frame: ClientFrame) => boolean;
  /** The same change over REST (idempotent: a repeat changes nothing and answers the current state). */
  rest: (request: ChangeRequest) => Promise<Message>;
  /** One message's current state over REST. */
  fetchMessage: (conv: ConversationId, seq: number) => Promise<Message>;
  /** How long a frame waits for its `change_ack` before the REST call is made instead. Default 5_000 ms. */
  ackTimeoutMs?: number;
  /** After the ack, how long to wait for the `change` frame bringing the new state before asking REST. Default 2_000 ms. */
  stateWaitMs?: number;
  /** Recent message states remembered to answer an ack whose `change` frame came first. Default 1_000. */
  maxRemembered?: number;
}

interface Pending {
  ref: string;
  request: ChangeRequest;
  phase: 'ack' | 'state' | 'rest';
  /** After the ack: the least changeSeq of the state that answers. */
  changeSeq: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  resolve: (message: Message) => void;
  reject: (error: ChatError) => void;
}

/**
 * Edits, deletes and reactions over the socket with a `ref`, each answered by the
 * message's state after it: the server's `change_ack` names the change's `changeSeq`, and
 * the `change` frame with it (often already here: it may overtake the ack) carries the
 * state. No ack in time, or the connection gone before it → the same change over REST
 * (changes are idempotent, so a repeat is harmless); no `change` frame in time after the
 * ack, or an ack saying nothing changed → the state from REST. Refusals reject with the
 * server's ChatError.
 */
export class ChangeRequests {
  readonly #options: ChangeRequestsOptions;
  readonly #pending = new Map<string, Pending>();
  /** `conv seq` → the newest state seen, most recently touched last. */
  readonly #recent = new Map<string, Message>();
  readonly #ackTimeoutMs: number;
  readonly #stateWaitMs: number;
  readonly #maxRemembered: number;
  #next = 0;

  constructor(options: ChangeRequestsOptions) {
    this.#options = options;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.#stateWaitMs = options.stateWaitMs ?? 2_000;
    this.#maxRemembered = Math.max(1, options.maxRemembered ?? 1_000);
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Makes the change; resolves with the message's state after it. Rejects with ChatError. */
  run(request: ChangeRequest): Promise<Message> {
    const problem = problemOf(request);
    if (problem) return Promise.reject(problem);
    return new Promise<Message>((resolve, reject) => {
      this.#next += 1;
      const ref = `${REF_PREFIX}${this.#next}`;
      const pending: Pending = {
        ref,
        request,
        phase: 'ack',
        changeSeq: 0,
        timer: undefined,
        resolve,
        reject,
      };
      this.#pending.set(ref, pending);
      if (!this.#options.send(frameOf(request, ref))) {
        this.#overRest(pending);
        return;
      }
      pending.timer = setTimeout(() => this.#overRest(pending), this.#ackTimeoutMs);
    });
  }

  /** A `change_ack`; false when its ref is not one of ours (a late one for a request gone over REST is ours). */
  onAck(ack: ChangeAckFrame): boolean {
    const pending = this.#pending.get(ack.ref);
    if (pending?.phase !== 'ack') return isOurs(ack.ref);
    clearTimeout(pending.timer);
    if (ack.changeSeq === undefined) {
      // A repeat: nothing changed, so no `change` frame will come; the current state is REST's.
      this.#fetchState(pending);
      return true;
    }
    pending.phase = 'state';
    pending.changeSeq = ack.changeSeq;
    const known = this.#recent.get(keyOf(pending.request.conv, pending.request.seq));
    if (known && (known.changeSeq ?? 0) >= ack.changeSeq) {
      this.#settle(pending, known);
      return true;
    }
    pending.timer = setTimeout(() => this.#fetchState(pending), this.#stateWaitMs);
    return true;
  }

  /** An `error` frame with a ref; false when the ref is not ours. */
  onError(ref: string, error: ChatError): boolean {
    const pending = this.#pending.get(ref);
    if (pending?.phase !== 'ack') return isOurs(ref);
    this.#fail(pending, error);
    return true;
  }

  /** A message state seen (a `change` frame, a page of changes, history): answers requests waiting for it. */
  onState(message: Message): void {
    const key = keyOf(message.conv, message.seq);
    const held = this.#recent.get(key);
    if (!held || (held.changeSeq ?? 0) <= (message.changeSeq ?? 0)) {
      this.#recent.delete(key);
      this.#recent.set(key, message);
      if (this.#recent.size > this.#maxRemembered) {
        const oldest = this.#recent.keys().next().value as string;
        this.#recent.delete(oldest);
      }
    }
    for (const pending of this.#pending.values()) {
      const { request } = pending;
      if (
        pending.phase === 'state' &&
        request.conv === message.conv &&
        request.seq === message.seq &&
        (message.changeSeq ?? 0) >= pending.changeSeq
      ) {
        this.#settle(pending, message);
      }
    }
  }

  /**
   * The connection closed, or the server dropped frames over its budget: frames still
   * waiting for their ack may never get one, so they go over REST now.
   */
  onFramesLost(): void {
    for (const pending of [...this.#pending.values()]) {
      if (pending.phase === 'ack') {
        clearTimeout(pending.timer);
        this.#overRest(pending);
      }
    }
  }

  /** Rejects everything still pending (the client is closing). */
  stop(error = new ChatError('unavailable', 'the client was closed')): void {
    for (const pending of [...this.#pending.values()]) this.#fail(pending, error);
  }

  #overRest(pending: Pending): void {
    if (this.#pending.get(pending.ref) !== pending) return;
    pending.phase = 'rest';
    pending.timer = undefined;
    this.#options.rest(pending.request).then(
      (message) => {
        this.onState(message);
        this.#settle(pending, message);
      },
      (err: unknown) => this.#fail(pending, toChatError(err)),
    );
  }

  #fetchState(pending: Pending): void {
    if (this.#pending.get(pending.ref) !== pending) return;
    pending.phase = 'rest';
    pending.timer = undefined;
    const { conv, seq } = pending.request;
    this.#options.fetchMessage(conv, seq).then(
      (message) => this.#settle(pending, message),
      (err: unknown) => this.#fail(pending, toChatError(err)),
    );
  }

  #settle(pending: Pending, message: Message): void {
    if (this.#pending.get(pending.ref) !== pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(pending.ref);
    pending.resolve(message);
  }

  #fail(pending: Pending, error: ChatError): void {
    if (this.#pending.get(pending.ref) !== pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(pending.ref);
    pending.reject(error);
  }
}

const REF_PREFIX = 'chg-';

function isOurs(ref: string): boolean {
  return ref.startsWith(REF_PREFIX);
}

function keyOf(conv: ConversationId, seq: number): string {
  return `${conv} ${seq}`;
}

function frameOf(request: ChangeRequest, ref: string): ClientFrame {
  switch (request.kind) {
    case 'edit': {
      const { conv, seq, body, mentions } = request;
      return {
        type: 'edit',
        conv,
        seq,
        body,
        ...(mentions === undefined ? {} : { mentions: [...mentions] }),
        ref,
      };
    }
    case 'delete':
      return { type: 'delete', conv: request.conv, seq: request.seq, ref };
    case 'react': {
      const { conv, seq, emoji, on } = request;
      return { type: 'react', conv, seq, emoji, on, ref };
    }
  }
}

/** Refuses locally what the server would refuse (the protocol package's rules). */
function problemOf(request: ChangeRequest): ChatError | undefined {
  const fields: { field: string; message: string }[] = [];
  if (typeof request.conv !== 'string' || request.conv.length === 0) {
    fields.push({ field: '/conv', message: 'is required' });
  }
  if (!Number.isInteger(request.seq) || request.seq < 1) {
    fields.push({ field: '/seq', message: 'seq must be an integer >= 1' });
  }
  if (request.kind === 'edit') {
    const bodyProblem =
      typeof request.body === 'string' ? messageBodyProblem(request.body) : 'body must be a string';
    if (bodyProblem) fields.push({ field: '/body', message: bodyProblem });
    const mentionProblem = mentionsProblem(request.mentions);
    if (mentionProblem) fields.push({ field: '/mentions', message: mentionProblem });
  }
  if (request.kind === 'react') {
    const emojiProblem =
      typeof request.emoji === 'string' ? reactionProblem(request.emoji) : 'emoji must be a string';
    if (emojiProblem) fields.push({ field: '/emoji', message: emojiProblem });
  }
  const first = fields[0];
  return first ? new ChatError('validation_failed', first.message, { fields }) : undefined;
}
