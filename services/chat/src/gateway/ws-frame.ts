/**
 * A complete, unmasked WebSocket text frame (RFC 6455 §5.2) built once per event and
 * written as-is to every recipient's socket. Server-to-client frames are never masked, so
 * the same bytes are valid on every connection: the per-recipient cost is one reference
 * in a queue, not a header allocation and a copy.
 */
export function textFrame(payload: string | Buffer): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const length = data.length;
  const headerLength = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x81; // FIN + opcode 1 (text)
  if (length < 126) {
    frame[1] = length;
  } else if (length < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  data.copy(frame, headerLength);
  return frame;
}
