import { describe, expect, it } from 'vitest';
import * as ws from 'ws';
import { textFrame } from './ws-frame.js';

// ws ships its frame parser (it is exported at run time, though its types do not declare it).
interface FrameReceiver {
  on(event: 'message', listener: (data: Buffer) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReceiver };

/** Parses frames with the ws library's own receiver (client side: frames are unmasked). */
function parse(frame: Buffer): string[] {
  const receiver = new Receiver({ isServer: false });
  const messages: string[] = [];
  receiver.on('message', (data: Buffer) => messages.push(data.toString()));
  receiver.write(frame);
  return messages;
}

describe('textFrame', () => {
  it.each([0, 1, 125, 126, 1000, 65_535, 65_536, 200_000])(
    'encodes a %d-byte payload that ws parses back',
    (n) => {
      const payload = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2);
      expect(parse(textFrame(payload))).toEqual([payload]);
    },
  );

  it('concatenated frames parse as separate messages', () => {
    expect(parse(Buffer.concat([textFrame('{"a":1}'), textFrame('{"b":2}')]))).toEqual([
      '{"a":1}',
      '{"b":2}',
    ]);
  });
});
