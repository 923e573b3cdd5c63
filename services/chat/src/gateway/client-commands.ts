import {
  type ChangeAckFrame,
  ChatError,
  type ClientFrame,
  type ConversationId,
  type DeleteFrame,
  type EditFrame,
  parseClientFrame,
  type ReactFrame,
  type SendFrame,
  type TypingEventFrame,
} from '@relay-chat/protocol';
import { counter, type Logger, toServiceError } from '@relay-chat/service-kit';
import type { AccessTokenVerifier } from '@relay-chat/tokens';
import type { RawData } from 'ws';
import type { ChangeResult, ChatCore } from '../chat.js';
import { convTopic, encodeEvent } from '../events.js';
import { TokenBucket } from '../limits/token-bucket.js';
import type { FlushScheduler } from './flush-scheduler.js';
import { InboundBudget, type InboundBudgetOptions } from './inbound-budget.js';
import type { LocalFanOut } from './local-fan-out.js';
import type { Session } from './session.js';
import { sessionTokenOf } from './upgrade-guard.js';

const framesIn = counter('chat_ws_frames_in_total', 'Client frames received', ['type']);
const framesDropped = counter(
  'chat_ws_frames_dropped_total',
  'Client frames dropped over the inbound budget',
);

/** What the commands need from the bus. */
export interface CommandBus {
  publish(topic: string, payload: string): Promise<void>;
}

export interface ClientCommandsOptions {
  inbound: InboundBudgetOptions;
  /** Least time between two forwarded typing events of one session in one conversation, ms. */
  typingIntervalMs: number;
  /** Store look-ups a session may cause per second for conversations it is not known to be in. */
  membershipLookupsPerSec: number;
}

/** Per-session state of the commands: budgets and the read markers waiting to be stored. */
interface CommandState {
  inbound: InboundBudget;
  lookups: TokenBucket;
  lookupRunning: boolean;
  lastTypingAt: Map<ConversationId, number>;
  reads: Map<ConversationId, { seq: number; ref: string | undefined }>;
  readsRunning: boolean;
}

/** Most conversations whose typing time one session remembers. */
const TYPING_MEMORY = 256;

/**
 * The client's commands: every frame is counted against the session's inbound budget as
 * it arrives, then parsed and validated, then handled — `send` through the chat core
 * (which owns the send budget and the membership rule), `edit`, `delete` and `react` through
 * the chat core too (each answered by `change_ack` when it carries a `ref`), `read` coalesced per conversation
 * (latest wins, one store write in flight per session), `typing` throttled before any
 * store read, `auth` renewing the session's token, `ping`. Frames sent before `ready`
 * wait for it, in order.
 */
export class ClientCommands {
  private readonly state = new WeakMap<Session, CommandState>();

  constructor(
    private readonly deps: {
      core: ChatCore;
      fanOut: LocalFanOut;
      scheduler: FlushScheduler;
      bus: CommandBus;
      verify: AccessTokenVerifier;
      log: Logger;
    },
    private readonly options: ClientCommandsOptions,
  ) {}

  /** Starts taking frames from a new session's socket. */
  attach(session: Session, onMessage: (listener: (data: RawData, isBinary: boolean) => void) => void): void {
    const state: CommandState = {
      inbound: new InboundBudget(this.options.inbound),
      lookups: new TokenBucket(this.options.membershipLookupsPerSec, this.options.membershipLookupsPerSec),
      lookupRunning: false,
      lastTypingAt: new Map(),
      reads: new Map(),
      readsRunning: false,
    };
    this.state.set(session, state);
    onMessage((data, isBinary) => this.onFrame(session, state, data, isBinary));
  }

  private onFrame(session: Session, state: CommandState, data: RawData, isBinary: boolean): void {
    if (session.closed) return;
    const verdict = state.inbound.onFrame();
    if (verdict.kind !== 'accept') {
      framesDropped.inc();
      if (verdict.kind === 'drop') session.pauseReading(verdict.retryAfterMs);
      if (verdict.kind === 'close') {
        session.closeWith('rate_limited');
      } else if (verdict.notify) {
        this.reply(
          session,
          session.sendError(
            'rate_limited',
            `too many frames; retry in ${verdict.retryAfterMs} ms`,
            undefined,
            verdict.retryAfterMs,
          ),
        );
      }
      return;
    }
    if (isBinary) {
      framesIn.inc({ type: 'invalid' });
      this.reply(session, session.sendError('invalid_frame', 'binary frames are not accepted'));
      return;
    }
    const result = parseClientFrame(data.toString());
    if (!result.ok) {
      framesIn.inc({ type: 'invalid' });
      this.reply(session, session.sendError(result.code, result.message, result.ref));
      return;
    }
    framesIn.inc({ type: result.frame.type });
    const frame = result.frame;
    if (session.ready) this.handle(session, state, frame);
    else void session.whenReady().then(() => this.handle(session, state, frame));
  }

  private handle(session: Session, state: CommandState, frame: ClientFrame): void {
    if (session.closed) return;
    switch (frame.type) {
      case 'ping':
        this.reply(
          session,
          session.send(
            frame.ref === undefined
              ? { type: 'pong', serverTime: Date.now() }
              : { type: 'pong', ref: frame.ref, serverTime: Date.now() },
          ),
        );
        return;
      case 'send':
        void this.send(session, frame);
        return;
      case 'edit':
      case 'delete':
      case 'react':
        void this.change(session, frame);
        return;
      case 'typing':
        void this.typing(session, state, frame.conv, frame.ref);
        return;
      case 'read':
        this.read(session, state, frame.conv, frame.seq, frame.ref);
        return;
      case 'auth':
        void this.auth(session, frame.token, frame.ref);
        return;
    }
  }

  private async send(session: Session, frame: SendFrame): Promise<void> {
    const { conv, clientMsgId } = frame;
    try {
      const { ack } = await this.deps.core.send(conv, session.user.id, clientMsgId, frame.body, {
        ...(frame.replyTo !== undefined ? { replyTo: frame.replyTo } : {}),
        ...(frame.mentions !== undefined ? { mentions: frame.mentions } : {}),
      });
      // A conversation joined moments ago (its event still on the way): deliver it live from now on.
      if (!session.isMember(conv)) await this.deps.fanOut.join(session, conv);
      this.reply(session, session.send(ack));
    } catch (err) {
      this.fail(session, err, clientMsgId, { conv });
    }
  }

  /**
   * An edit, delete or reaction, through the chat core (which owns its rules and the send
   * budget). The new state reaches every member's sockets, these included, as a `change`
   * event; the frame's `ref`, when given, is answered by `change_ack` (with the change's
   * `changeSeq`, absent when nothing changed) or by an `error` carrying it.
   */
  private async change(session: Session, frame: EditFrame | DeleteFrame | ReactFrame): Promise<void> {
    const { core } = this.deps;
    const actor = session.user.id;
    try {
      let result: ChangeResult;
      switch (frame.type) {
        case 'edit':
          result = await core.editMessage(frame.conv, actor, frame.seq, frame.body, frame.mentions);
          break;
        case 'delete':
          result = await core.deleteMessage(frame.conv, actor, frame.seq);
          break;
        case 'react':
          result = await core.react(frame.conv, actor, frame.seq, frame.emoji, frame.on);
          break;
      }
      // As for send: a conversation joined moments ago gets its live events from now on.
      if (!session.isMember(frame.conv)) await this.deps.fanOut.join(session, frame.conv);
      if (frame.ref === undefined || session.closed) return;
      const ack: ChangeAckFrame = { type: 'change_ack', ref: frame.ref, conv: frame.conv, seq: frame.seq };
      if (result.changed && result.message.changeSeq !== undefined) ack.changeSeq = result.message.changeSeq;
      this.reply(session, session.send(ack));
    } catch (err) {
      this.fail(session, err, frame.ref, { conv: frame.conv, seq: frame.seq });
    }
  }

  private async typing(
    session: Session,
    state: CommandState,
    conv: ConversationId,
    ref: string | undefined,
  ): Promise<void> {
    // Throttled first: a flood of typing frames costs no store read and no publish.
    const now = Date.now();
    const last = state.lastTypingAt.get(conv);
    if (last !== undefined && now - last < this.options.typingIntervalMs) return;
    try {
      if (!session.isMember(conv)) {
        // At most one store read in flight per connection (a burst must not open a database
        // connection per frame), a few a second, and no telling an unknown conversation from
        // someone else's.
        if (state.lookupRunning || !state.lookups.take()) throw new ChatError('not_member');
        state.lookupRunning = true;
        let member: boolean;
        try {
          member = await this.deps.core.isMember(conv, session.user.id);
        } finally {
          state.lookupRunning = false;
        }
        if (!member) throw new ChatError('not_member');
        await this.deps.fanOut.join(session, conv);
      }
    } catch (err) {
      this.fail(session, err, ref, { conv });
      return;
    }
    rememberTyping(state.lastTypingAt, conv, now, this.options.typingIntervalMs);
    const frame: TypingEventFrame = { type: 'typing', conv, user: session.user.id };
    this.deps.bus
      .publish(
        convTopic(conv),
        encodeEvent({ kind: 'typing', user: session.user.id, frame: JSON.stringify(frame) }),
      )
      .catch((err: unknown) => this.deps.log.debug({ err, conv }, 'typing publish failed'));
  }

  /** Coalesces read markers per conversation (latest wins); one store write in flight per session. */
  private read(
    session: Session,
    state: CommandState,
    conv: ConversationId,
    seq: number,
    ref: string | undefined,
  ): void {
    const waiting = state.reads.get(conv);
    if (!waiting || waiting.seq <= seq) state.reads.set(conv, { seq, ref });
    if (state.readsRunning) return;
    state.readsRunning = true;
    void this.storeReads(session, state);
  }

  private async storeReads(session: Session, state: CommandState): Promise<void> {
    for (;;) {
      const next = state.reads.entries().next();
      if (next.done || session.closed) break;
      const [conv, { seq, ref }] = next.value;
      state.reads.delete(conv);
      try {
        await this.deps.core.markRead(conv, session.user.id, seq, session.id);
      } catch (err) {
        this.fail(session, err, ref, { conv });
      }
    }
    state.reads.clear();
    state.readsRunning = false;
  }

  private async auth(session: Session, token: string, ref: string | undefined): Promise<void> {
    try {
      const claims = await this.deps.verify(token);
      if (claims.userId !== session.user.id) {
        session.sendError('unauthorized', 'the token belongs to another user', ref);
        session.closeWith('unauthorized');
        return;
      }
      session.renewToken(sessionTokenOf(token, claims));
    } catch (err) {
      this.fail(session, err, ref);
    }
  }

  private fail(session: Session, err: unknown, ref: string | undefined, context: object = {}): void {
    const error = toServiceError(err);
    if (error.code === 'internal') this.deps.log.error({ err, ...context }, 'command failed');
    this.reply(session, session.sendFailure(error, ref));
  }

  private reply(session: Session, needsFlush: boolean): void {
    if (needsFlush) this.deps.scheduler.schedule(session);
  }
}

/** Records a typing time, keeping the map bounded (entries older than the interval go first). */
function rememberTyping(
  times: Map<ConversationId, number>,
  conv: ConversationId,
  now: number,
  intervalMs: number,
): void {
  times.delete(conv);
  times.set(conv, now);
  if (times.size <= TYPING_MEMORY) return;
  for (const [key, at] of times) {
    if (times.size <= TYPING_MEMORY || now - at < intervalMs) break;
    times.delete(key);
  }
  // Still full of fresh entries: drop the oldest, the throttle only gets more lenient.
  if (times.size > TYPING_MEMORY) times.delete(times.keys().next().value!);
}
