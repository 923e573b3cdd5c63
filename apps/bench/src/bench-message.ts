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

/** What the bench reads from one `message` frame. */
export interface BenchDelivery {
  conv: string;
  seq: number;
  /** Intended send time from the body, epoch µs. */
  intendedUs: number;
}

const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
const HEAD = bytes('{"type":"message"');
const CONV = bytes(',"conv":"');
const SEQ = bytes(',"seq":');
const BODY = bytes('"body":"');

function matchAt(buf: Buffer, at: number, end: number, pattern: Uint8Array): boolean {
  if (at + pattern.length > end) return false;
  for (let i = 0; i < pattern.length; i++) if (buf[at + i] !== pattern[i]) return false;
  return true;
}

/**
 * Reads conv, seq and the body's intended time from `message` frames straight from the bytes,
 * without decoding to a string or JSON-parsing (the generator reads hundreds of thousands a
 * second), for the field order relay-chat and the baselines write; any other shape falls
 * back to JSON.parse. The result is left in the fields (no object per frame), and the conv
 * string is reused while frames name the same conversation.
 */
export class MessageFrameReader {
  conv = '';
  seq = 0;
  intendedUs = 0;
  private convBytes = new Uint8Array(0);

  /** 1: a bench message, read into the fields; 0: not a `message` frame; -1: a message that is not the bench's. */
  read(buf: Buffer, start: number, end: number): 1 | 0 | -1 {
    if (!matchAt(buf, start, end, HEAD)) return 0;
    const fast = this.readFast(buf, start + HEAD.length, end);
    if (fast) return 1;
    const slow = readMessageFrame(buf.toString('utf8', start, end));
    if (!slow) return -1;
    this.conv = slow.conv;
    this.seq = slow.seq;
    this.intendedUs = slow.intendedUs;
    return 1;
  }

  private readFast(buf: Buffer, at: number, end: number): boolean {
    if (!matchAt(buf, at, end, CONV)) return false;
    const convStart = at + CONV.length;
    let i = convStart;
    while (i < end && buf[i] !== 34) i++;
    if (i >= end) return false;
    this.setConv(buf, convStart, i);
    if (!matchAt(buf, i + 1, end, SEQ)) return false;
    i += 1 + SEQ.length;
    let seq = 0;
    const seqStart = i;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) break;
      seq = seq * 10 + (c - 48);
    }
    if (i === seqStart) return false;
    // id and from come next: scan for the body.
    const last = end - BODY.length;
    while (i <= last && !(buf[i] === 34 && buf[i + 1] === 98 && matchAt(buf, i, end, BODY))) i++;
    if (i > last) return false;
    i += BODY.length;
    let intended = 0;
    const bodyStart = i;
    for (; i < end; i++) {
      const c = buf[i]!;
      if (c < 48 || c > 57) break;
      intended = intended * 10 + (c - 48);
    }
    if (i === bodyStart || buf[i] !== 58) return false;
    this.seq = seq;
    this.intendedUs = intended;
    return true;
  }

  private setConv(buf: Buffer, from: number, to: number): void {
    const cached = this.convBytes;
    if (cached.length === to - from) {
      let same = true;
      for (let k = 0; k < cached.length; k++) {
        if (cached[k] !== buf[from + k]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    this.convBytes = Uint8Array.from(buf.subarray(from, to));
    this.conv = buf.toString('latin1', from, to);
  }
}

/** One-off form of MessageFrameReader.read (tests, rare paths). */
export function readMessageBytes(buf: Buffer, start: number, end: number): BenchDelivery | null | undefined {
  const reader = new MessageFrameReader();
  const kind = reader.read(buf, start, end);
  if (kind === 0) return undefined;
  if (kind === -1) return null;
  return { conv: reader.conv, seq: reader.seq, intendedUs: reader.intendedUs };
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
