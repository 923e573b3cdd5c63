import { isErrorCode, type ServerFrame, type ServerFrameType } from '@relay-chat/protocol';

/** The outcome of reading one server frame. */
export type ReadResult =
  | { kind: 'frame'; frame: ServerFrame }
  /** A well-formed frame of a type this SDK does not know (a newer server): ignore it. */
  | { kind: 'unknown'; type: string }
  | { kind: 'invalid'; reason: string };

type Fields = Record<string, unknown>;

const isString = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown, min: number): v is number => Number.isInteger(v) && (v as number) >= min;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null && !Array.isArray(v);

// Checks only what the SDK relies on; the server is trusted for the rest of each shape.
const checks: Record<ServerFrameType, (f: Fields) => boolean> = {
  ready: (f) =>
    isObject(f.user) &&
    isString(f.user.id) &&
    Array.isArray(f.conversations) &&
    f.conversations.every(
      (c) =>
        isObject(c) &&
        isString(c.id) &&
        isInt(c.lastSeq, 0) &&
        (c.lastChangeSeq === undefined || isInt(c.lastChangeSeq, 0)),
    ) &&
    (f.online === undefined || (Array.isArray(f.online) && f.online.every(isString))) &&
    isNumber(f.serverTime),
  message: (f) =>
    isString(f.conv) &&
    isInt(f.seq, 1) &&
    isString(f.id) &&
    isString(f.from) &&
    isString(f.body) &&
    isNumber(f.ts),
  ack: (f) =>
    isString(f.clientMsgId) && isString(f.conv) && isString(f.id) && isInt(f.seq, 1) && isNumber(f.ts),
  typing: (f) => isString(f.conv) && isString(f.user),
  presence: (f) => isString(f.user) && (f.status === 'online' || f.status === 'offline'),
  read: (f) => isString(f.conv) && isInt(f.seq, 0),
  conversation: (f) =>
    isString(f.event) &&
    isObject(f.conversation) &&
    isString(f.conversation.id) &&
    isInt(f.conversation.lastSeq, 0),
  error: (f) => isString(f.code) && isString(f.message) && (f.ref === undefined || isString(f.ref)),
  pong: (f) => f.ref === undefined || isString(f.ref),
  change: (f) =>
    isString(f.conv) &&
    isInt(f.changeSeq, 1) &&
    isObject(f.message) &&
    f.message.conv === f.conv &&
    isInt(f.message.seq, 1) &&
    isString(f.message.id) &&
    isString(f.message.from) &&
    isString(f.message.body) &&
    isNumber(f.message.ts) &&
    // The message's own changeSeq, when given, is the frame's (the state after this change).
    (f.message.changeSeq === undefined || f.message.changeSeq === f.changeSeq),
  change_ack: (f) =>
    isString(f.ref) &&
    isString(f.conv) &&
    isInt(f.seq, 1) &&
    (f.changeSeq === undefined || isInt(f.changeSeq, 1)),
};

function decode(data: unknown): string | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(data);
  if (ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return undefined;
}

/** Parses and checks one frame received from the server. Never throws. */
export function readServerFrame(data: unknown): ReadResult {
  const text = decode(data);
  if (text === undefined) return { kind: 'invalid', reason: 'frame is not text' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'invalid', reason: 'frame is not valid JSON' };
  }
  if (!isObject(value)) return { kind: 'invalid', reason: 'frame is not a JSON object' };
  const type = value.type;
  if (!isString(type)) return { kind: 'invalid', reason: 'frame has no string "type"' };
  if (!Object.hasOwn(checks, type)) return { kind: 'unknown', type: type.slice(0, 32) };
  if (!checks[type as ServerFrameType](value))
    return { kind: 'invalid', reason: `malformed "${type}" frame` };
  if (type === 'error' && !isErrorCode(value.code)) {
    // A code from a newer server: keep the frame as a non-retryable failure, so an outbox
    // entry fails visibly instead of being retried forever.
    value = { ...value, code: 'bad_request' };
  }
  const fields = value as Fields;
  if (type === 'change' && isObject(fields.message) && fields.message.changeSeq === undefined) {
    value = { ...fields, message: { ...fields.message, changeSeq: fields.changeSeq } };
  }
  return { kind: 'frame', frame: value as unknown as ServerFrame };
}
