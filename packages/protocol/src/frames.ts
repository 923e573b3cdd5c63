import Type, { type Static } from 'typebox';
import Compile, { type Validator } from 'typebox/compile';
import { LIMITS } from './constants.js';
import type { ErrorCode } from './errors.js';
import {
  type Conversation,
  type ConversationId,
  ConversationIdSchema,
  type Message,
  type MessageId,
  type PresenceStatus,
  type User,
  type UserId,
  UserIdSchema,
} from './models.js';
import { MESSAGE_TEXT_PATTERN } from './text.js';

// ---------------------------------------------------------------------------
// client → server
// ---------------------------------------------------------------------------

/** Optional client-chosen correlation id, echoed in an `error` frame caused by this frame. */
const Ref = Type.Optional(Type.String({ minLength: 1, maxLength: 64 }));
const Strict = { additionalProperties: false } as const;
const Seq = Type.Integer({ minimum: 1 });
const Mentions = Type.Optional(Type.Array(UserIdSchema, { maxItems: LIMITS.maxMentions }));

export const SendFrame = Type.Object(
  {
    type: Type.Literal('send'),
    conv: ConversationIdSchema,
    // Well-formed text only (see text.ts): what cannot be stored exactly is refused here.
    clientMsgId: Type.String({
      minLength: 1,
      maxLength: LIMITS.maxClientMsgIdChars,
      pattern: MESSAGE_TEXT_PATTERN,
    }),
    body: Type.String({ minLength: 1, maxLength: LIMITS.maxBodyChars, pattern: MESSAGE_TEXT_PATTERN }),
    /** v1.2: the seq of the message of this conversation that this one answers. */
    replyTo: Type.Optional(Seq),
    /** v1.2: members mentioned (user ids; each must be a member). */
    mentions: Mentions,
    ref: Ref,
  },
  Strict,
);
/** v1.2: replace the body (and the mentions) of your own message. Answered by `change_ack` (with `ref`) or `error`. */
export const EditFrame = Type.Object(
  {
    type: Type.Literal('edit'),
    conv: ConversationIdSchema,
    seq: Seq,
    body: Type.String({ minLength: 1, maxLength: LIMITS.maxBodyChars, pattern: MESSAGE_TEXT_PATTERN }),
    mentions: Mentions,
    ref: Ref,
  },
  Strict,
);
/** v1.2: delete your own message, or any message of a group or channel you own. */
export const DeleteFrame = Type.Object(
  { type: Type.Literal('delete'), conv: ConversationIdSchema, seq: Seq, ref: Ref },
  Strict,
);
/** v1.2: set (`on: true`) or clear your reaction with one emoji; idempotent either way. */
export const ReactFrame = Type.Object(
  {
    type: Type.Literal('react'),
    conv: ConversationIdSchema,
    seq: Seq,
    emoji: Type.String({ minLength: 1, maxLength: LIMITS.maxEmojiChars }),
    on: Type.Boolean(),
    ref: Ref,
  },
  Strict,
);
export const TypingFrame = Type.Object(
  { type: Type.Literal('typing'), conv: ConversationIdSchema, ref: Ref },
  Strict,
);
export const ReadFrame = Type.Object(
  { type: Type.Literal('read'), conv: ConversationIdSchema, seq: Type.Integer({ minimum: 0 }), ref: Ref },
  Strict,
);
export const AuthFrame = Type.Object(
  { type: Type.Literal('auth'), token: Type.String({ minLength: 1, maxLength: 4096 }), ref: Ref },
  Strict,
);
export const PingFrame = Type.Object({ type: Type.Literal('ping'), ref: Ref }, Strict);

export type SendFrame = Static<typeof SendFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type ReadFrame = Static<typeof ReadFrame>;
export type AuthFrame = Static<typeof AuthFrame>;
export type PingFrame = Static<typeof PingFrame>;
export type EditFrame = Static<typeof EditFrame>;
export type DeleteFrame = Static<typeof DeleteFrame>;
export type ReactFrame = Static<typeof ReactFrame>;

/** Every frame a client may send. */
export type ClientFrame =
  | SendFrame
  | TypingFrame
  | ReadFrame
  | AuthFrame
  | PingFrame
  | EditFrame
  | DeleteFrame
  | ReactFrame;
export type ClientFrameType = ClientFrame['type'];

const clientValidators: Record<ClientFrameType, Validator> = {
  send: Compile(SendFrame),
  typing: Compile(TypingFrame),
  read: Compile(ReadFrame),
  auth: Compile(AuthFrame),
  ping: Compile(PingFrame),
  edit: Compile(EditFrame),
  delete: Compile(DeleteFrame),
  react: Compile(ReactFrame),
};

export type ParseResult =
  | { ok: true; frame: ClientFrame }
  | { ok: false; code: ErrorCode; message: string; ref?: string };

/**
 * Parses and validates one client frame. Never throws: anything malformed comes back as
 * `{ok:false}` with the error code to answer with, and the frame's `ref` when it had one.
 */
export function parseClientFrame(raw: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, code: 'invalid_frame', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'invalid_frame', message: 'frame must be a JSON object' };
  }
  const record = value as Record<string, unknown>;
  // A refused `send` is answered with its clientMsgId as ref, so the sender's outbox can
  // settle that very message.
  const ref = refOf(record.ref) ?? (record.type === 'send' ? refOf(record.clientMsgId) : undefined);
  const withRef = <T extends object>(r: T) => (ref === undefined ? r : { ...r, ref });
  const type = record.type;
  if (typeof type !== 'string') {
    return withRef({
      ok: false as const,
      code: 'invalid_frame' as const,
      message: 'frame needs a string "type"',
    });
  }
  if (!Object.hasOwn(clientValidators, type)) {
    return withRef({
      ok: false as const,
      code: 'unknown_frame_type' as const,
      message: `unknown frame type "${type.slice(0, 32)}"`,
    });
  }
  const validator = clientValidators[type as ClientFrameType];
  if (!validator.Check(value)) {
    return withRef({
      ok: false as const,
      code: 'invalid_frame' as const,
      message: describeErrors(validator, value),
    });
  }
  return { ok: true, frame: value as ClientFrame };
}

function refOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 64 ? value : undefined;
}

function describeErrors(validator: Validator, value: unknown): string {
  const first = validator.Errors(value)[0];
  if (!first) return 'frame is invalid';
  const path = first.instancePath || '/';
  if (first.keyword === 'additionalProperties') {
    const extra = (first.params as { additionalProperties?: string[] }).additionalProperties ?? [];
    return `unexpected field ${extra.map((f) => `"${f.slice(0, 32)}"`).join(', ')}`;
  }
  if (first.keyword === 'pattern') return `${path}: contains a control character or a lone surrogate`;
  return `${path}: ${first.message}`;
}

// ---------------------------------------------------------------------------
// server → client
// ---------------------------------------------------------------------------

export interface ReadyFrame {
  type: 'ready';
  /** Protocol version the server speaks. */
  v: number;
  user: User;
  /** The most recent conversations, most recent activity first (at most one page). */
  conversations: Conversation[];
  /** Cursor of the next page (`GET /api/chat/conversations?cursor=`), or null when that was all. */
  nextCursor: string | null;
  /** Users sharing a conversation with the caller who are online now. */
  online: UserId[];
  /** Server clock, milliseconds since the epoch. */
  serverTime: number;
  /** What this connection may send; a client that stays within it is never refused for its pace. */
  limits?: ConnectionLimits;
}
/** A connection's budgets, as the server enforces them. */
export interface ConnectionLimits {
  /** Frames of any type per second, sustained, and at once. */
  framesPerSec: number;
  framesBurst: number;
  /** Messages per second, sustained, and at once — per user, over all their devices. */
  sendPerSec: number;
  sendBurst: number;
}
export interface MessageFrame extends Message {
  type: 'message';
}
export interface AckFrame {
  type: 'ack';
  clientMsgId: string;
  conv: ConversationId;
  id: MessageId;
  seq: number;
  ts: number;
}
export interface TypingEventFrame {
  type: 'typing';
  conv: ConversationId;
  user: UserId;
}
export interface PresenceFrame {
  type: 'presence';
  user: UserId;
  status: PresenceStatus;
}
export interface ReadEventFrame {
  type: 'read';
  conv: ConversationId;
  seq: number;
}
/**
 * v1.2: a message changed — edited, deleted, a reaction set or cleared, a reply added to its
 * thread. `message` is its whole current state; `changeSeq` (also `message.changeSeq`) is the
 * conversation's change counter after this change. Apply it when `changeSeq` is above the
 * copy you hold; when it is more than one above the last change you applied in this
 * conversation, you missed some: fetch `GET …/changes?after=<last applied>`.
 */
export interface ChangeFrame {
  type: 'change';
  conv: ConversationId;
  changeSeq: number;
  message: Message;
}
/** v1.2: the answer to an `edit`, `delete` or `react` frame that carried a `ref`, once the change is stored. */
export interface ChangeAckFrame {
  type: 'change_ack';
  ref: string;
  conv: ConversationId;
  seq: number;
  /** The change's place in the conversation's change counter; absent when nothing changed (a repeat). */
  changeSeq?: number;
}
export type ConversationEvent = 'created' | 'joined' | 'left' | 'member_joined' | 'member_left' | 'updated';
export interface ConversationFrame {
  type: 'conversation';
  event: ConversationEvent;
  conversation: Conversation;
  /** The member who joined or left, for member_* events. */
  user?: UserId;
}
export interface ErrorFrame {
  type: 'error';
  code: ErrorCode;
  message: string;
  ref?: string;
  /** For `rate_limited`: how long to wait before retrying, ms. */
  retryAfterMs?: number;
}
export interface PongFrame {
  type: 'pong';
  ref?: string;
  serverTime: number;
}

/** Every frame the server may send. */
export type ServerFrame =
  | ReadyFrame
  | MessageFrame
  | AckFrame
  | TypingEventFrame
  | PresenceFrame
  | ReadEventFrame
  | ConversationFrame
  | ErrorFrame
  | PongFrame
  | ChangeFrame
  | ChangeAckFrame;
export type ServerFrameType = ServerFrame['type'];
