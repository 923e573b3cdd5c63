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

const MESSAGE_HEAD = Buffer.from('{"type":"message"');
const CONV_KEY = '"conv":"';
const SEQ_KEY = '"seq":';
const BODY_KEY = '"body":"';

/** What the bench reads from one `message` frame. */
export interface BenchDelivery {
  conv: string;
  seq: number;
  /** Intended send time from the body, epoch µs. */
  intendedUs: number;
}

/**
 * Reads conv, seq and the body's intended time from a `message` frame in `buf[start, end)`
 * without decoding it to a string or JSON-parsing it (the generator reads hundreds of
 * thousands a second); a frame of unusual shape falls back to JSON.parse.
 * Returns undefined for frames that are not `message` frames, null for a `message` whose
 * body is not a bench body.
 */
export function readMessageBytes(buf: Buffer, start: number, end: number): BenchDelivery | null | undefined {
  if (
    end - start < MESSAGE_HEAD.length ||
    buf.compare(MESSAGE_HEAD, 0, MESSAGE_HEAD.length, start, start + MESSAGE_HEAD.length) !== 0
  ) {
    return undefined;
  }
  const convAt = buf.indexOf(CONV_KEY, start, 'latin1');
  const seqAt = buf.indexOf(SEQ_KEY, start, 'latin1');
  const bodyAt = buf.indexOf(BODY_KEY, start, 'latin1');
  if (convAt > 0 && convAt < end && seqAt > 0 && seqAt < end && bodyAt > 0 && bodyAt < end) {
    const convStart = convAt + CONV_KEY.length;
    const convEnd = buf.indexOf(34, convStart); // closing quote
    const seq = digitsAt(buf, seqAt + SEQ_KEY.length, end);
    const bodyStart = bodyAt + BODY_KEY.length;
    const intended = digitsAt(buf, bodyStart, end);
    if (
      convEnd > convStart &&
      convEnd < end &&
      seq.value > 0 &&
      intended.value > 0 &&
      buf[intended.next] === 58
    ) {
      return { conv: buf.toString('latin1', convStart, convEnd), seq: seq.value, intendedUs: intended.value };
    }
  }
  return readMessageFrame(buf.toString('utf8', start, end)) ?? null;
}

/** The same from a decoded frame (full JSON parse); undefined unless it is a bench `message`. */
export function readMessageFrame(text: string): BenchDelivery | undefined {
  try {
    const frame = JSON.parse(text) as { type?: unknown; conv?: unknown; seq?: unknown; body?: unknown };
    if (frame.type !== 'message' || typeof frame.conv !== 'string' || typeof frame.seq !== 'number')
      return undefined;
    if (typeof frame.body !== 'string') return undefined;
    const intendedUs = intendedUsOf(frame.body);
    return intendedUs === undefined ? undefined : { conv: frame.conv, seq: frame.seq, intendedUs };
  } catch {
    return undefined;
  }
}

function digitsAt(buf: Buffer, at: number, end: number): { value: number; next: number } {
  let value = 0;
  let i = at;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c < 48 || c > 57) break;
    value = value * 10 + (c - 48);
  }
  return { value: i === at ? -1 : value, next: i };
}
