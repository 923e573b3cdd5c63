/**
 * The bench's message bodies and the fast path for reading `message` frames.
 *
 * A body is `<intended send time, epoch µs>:<sender>:<n>:` padded with `x` to the message size,
 * so any receiver — in any generator process — computes latency as arrival − intended.
 */

/** Wall-clock time in epoch ms with sub-millisecond resolution, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Smallest body the bench makes (the header must fit). */
export const MIN_BODY_CHARS = 32;

export function makeBody(intendedMs: number, sender: number, n: number, size: number): string {
  const head = `${Math.round(intendedMs * 1000)}:${sender}:${n}:`;
  return head.length >= size ? head : head + 'x'.repeat(size - head.length);
}

/** The intended send time in a bench body, epoch µs; undefined when it is not a bench body. */
export function intendedUsOf(body: string): number | undefined {
  const end = body.indexOf(':');
  if (end <= 0 || end > 20) return undefined;
  const value = Number(body.slice(0, end));
  return Number.isSafeInteger(value) ? value : undefined;
}

/** What the bench reads from a `message` frame. */
export interface MessageFields {
  conv: string;
  seq: number;
  body: string;
}

const MESSAGE_PREFIX = '{"type":"message"';

/**
 * Reads conv, seq and the body's intended time from a `message` frame without a full
 * JSON.parse when the frame has the usual shape (the generator reads hundreds of thousands a
 * second); anything unusual falls back to JSON.parse. Returns undefined for other frames.
 */
export function readMessageFrame(
  text: string,
): { conv: string; seq: number; intendedUs: number } | undefined {
  if (!text.startsWith(MESSAGE_PREFIX)) return undefined;
  const convAt = text.indexOf('"conv":"');
  const seqAt = text.indexOf('"seq":');
  const bodyAt = text.indexOf('"body":"');
  if (convAt > 0 && seqAt > 0 && bodyAt > 0) {
    const convStart = convAt + 8;
    const conv = text.slice(convStart, text.indexOf('"', convStart));
    const seq = parseDigits(text, seqAt + 6);
    const intendedUs = parseDigits(text, bodyAt + 8);
    if (seq > 0 && intendedUs > 0 && text.charCodeAt(bodyAt + 8 + digitsLength(text, bodyAt + 8)) === 58) {
      return { conv, seq, intendedUs };
    }
  }
  try {
    const frame = JSON.parse(text) as Partial<MessageFields>;
    if (typeof frame.conv !== 'string' || typeof frame.seq !== 'number' || typeof frame.body !== 'string') {
      return undefined;
    }
    const intendedUs = intendedUsOf(frame.body);
    return intendedUs === undefined ? undefined : { conv: frame.conv, seq: frame.seq, intendedUs };
  } catch {
    return undefined;
  }
}

function parseDigits(text: string, at: number): number {
  let value = 0;
  let i = at;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return i === at ? -1 : value;
}

function digitsLength(text: string, at: number): number {
  let i = at;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i - at;
}
