import { randomBytes } from 'node:crypto';

/**
 * The few pieces of RFC 6455 a bench client needs, on raw bytes: a frame reader that hands
 * out complete messages as (buffer, start, end) without copying when a frame sits whole in
 * one TCP chunk, and masked client frames. The load generator reads hundreds of thousands
 * of frames a second; per-frame events and string decoding would make it the bottleneck.
 */

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface FrameHandler {
  /** A complete text or binary message, in `buf[start, end)` (valid only during the call). */
  onMessage(buf: Buffer, start: number, end: number): void;
  onPing(payload: Buffer): void;
  onClose(code: number, reason: string): void;
  /** The peer broke the protocol (masked server frame, oversized frame …). */
  onProtocolError(reason: string): void;
}

/** Largest message the reader accepts, bytes. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export class FrameReader {
  private pending: Buffer | undefined;
  /** Fragments of a message split over several frames (opcode 0 continuations). */
  private fragments: Buffer[] = [];
  private failed = false;

  constructor(private readonly handler: FrameHandler) {}

  /** Reads the frames in `chunk`; the chunk is not kept (it may be a reused buffer). */
  push(chunk: Buffer): void {
    if (this.failed) return;
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let at = 0;
    while (at < buf.length) {
      const consumed = this.readFrame(buf, at);
      if (consumed === 0) break;
      if (this.failed) return;
      at += consumed;
    }
    // Chunks may live in a reused read buffer: keep a copy of an incomplete frame.
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  /** Reads one frame at `at`; returns the bytes it used, 0 when the frame is not complete yet. */
  private readFrame(buf: Buffer, at: number): number {
    if (buf.length - at < 2) return 0;
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if ((b1 & 0x80) !== 0) return this.fail('server frames must not be masked');
    let length = b1 & 0x7f;
    let header = 2;
    if (length === 126) {
      if (buf.length - at < 4) return 0;
      length = buf.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      if (buf.length - at < 10) return 0;
      const high = buf.readUInt32BE(at + 2);
      length = high * 2 ** 32 + buf.readUInt32BE(at + 6);
      header = 10;
    }
    if (length > MAX_MESSAGE_BYTES) return this.fail('frame too large');
    if (buf.length - at < header + length) return 0;
    const start = at + header;
    const end = start + length;
    switch (opcode) {
      case OPCODE.text:
      case OPCODE.binary:
        if (fin) this.handler.onMessage(buf, start, end);
        else this.fragments = [Buffer.from(buf.subarray(start, end))];
        break;
      case OPCODE.continuation:
        this.fragments.push(Buffer.from(buf.subarray(start, end)));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = [];
          this.handler.onMessage(whole, 0, whole.length);
        }
        break;
      case OPCODE.ping:
        this.handler.onPing(Buffer.from(buf.subarray(start, end)));
        break;
      case OPCODE.pong:
        break;
      case OPCODE.close: {
        const code = length >= 2 ? buf.readUInt16BE(start) : 1005;
        this.handler.onClose(code, length > 2 ? buf.toString('utf8', start + 2, end) : '');
        break;
      }
      default:
        return this.fail(`unknown opcode ${opcode}`);
    }
    return header + length;
  }

  private fail(reason: string): number {
    this.failed = true;
    this.handler.onProtocolError(reason);
    return 0;
  }
}

/** A masked client frame (clients must mask, RFC 6455 §5.3). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | opcode;
  if (header === 2) {
    frame[1] = 0x80 | length;
  } else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  const mask = randomBytes(4);
  mask.copy(frame, header);
  const body = header + 4;
  for (let i = 0; i < length; i++) frame[body + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** A close frame carrying `code`. */
export function closeFrame(code: number): Buffer {
  const payload = Buffer.alloc(2);
  payload.writeUInt16BE(code, 0);
  return clientFrame(OPCODE.close, payload);
}
