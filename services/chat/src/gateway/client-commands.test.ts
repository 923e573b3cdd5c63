/**
 * The client's v1.2 commands (`edit`, `delete`, `react`, and `send` with a reply and
 * mentions) as the gateway runs them: validated, handed to the chat core, answered with
 * `change_ack` when they carry a `ref` (or an `error` with it), and counted by the inbound
 * frame budget like every other frame. The session and the core are doubles: what is
 * tested is the routing of frames to the core and of outcomes back to the socket.
 */
import {
  asConversationId,
  asMessageId,
  asUserId,
  ChatError,
  type Message,
  type ServerFrame,
} from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { describe, expect, it, vi } from 'vitest';
import type { RawData } from 'ws';
import type { ChatCore } from '../chat.js';
import { ClientCommands } from './client-commands.js';
import type { FlushScheduler } from './flush-scheduler.js';
import type { LocalFanOut } from './local-fan-out.js';
import type { Session } from './session.js';

const conv = asConversationId('c-1');
const ann = { id: asUserId('u-ann'), username: 'ann' };
const message = (seq: number, fields: Partial<Message> = {}): Message => ({
  conv,
  seq,
  id: asMessageId(`m-${seq}`),
  from: ann.id,
  body: 'hi',
  ts: 1,
  ...fields,
});

function setUp(inbound = { framesPerSec: 100, burst: 100 }) {
  const sent: ServerFrame[] = [];
  const failures: { code: string; ref: string | undefined }[] = [];
  const session = {
    id: 's-1',
    user: ann,
    closed: false,
    ready: true,
    isMember: () => true,
    send: (frame: ServerFrame) => {
      sent.push(frame);
      return true;
    },
    sendError: (code: string, _message: string, ref?: string) => {
      failures.push({ code, ref });
      return true;
    },
    sendFailure: (err: ChatError, ref?: string) => {
      failures.push({ code: err.code, ref });
      return true;
    },
    pauseReading: vi.fn(),
    closeWith: vi.fn(),
  };
  const core = {
    send: vi.fn(async () => ({
      ack: { type: 'ack', clientMsgId: 'cm', conv, id: 'm-1', seq: 1, ts: 1 },
      message: message(1),
      duplicate: false,
    })),
    editMessage: vi.fn(async () => ({ message: message(1, { changeSeq: 3 }), changed: true })),
    deleteMessage: vi.fn(async () => ({
      message: message(1, { changeSeq: 4, deleted: true }),
      changed: true,
    })),
    react: vi.fn(async () => ({ message: message(1, { changeSeq: 2 }), changed: false })),
  };
  const scheduler = { schedule: vi.fn() };
  const commands = new ClientCommands(
    {
      core: core as unknown as ChatCore,
      fanOut: { join: vi.fn(async () => {}) } as unknown as LocalFanOut,
      scheduler: scheduler as unknown as FlushScheduler,
      bus: { publish: vi.fn(async () => {}) },
      verify: vi.fn(),
      log: createLogger({ name: 'client-commands-test', level: 'silent' }),
    },
    {
      inbound: { ...inbound, noticeIntervalMs: 1000 },
      typingIntervalMs: 1000,
      membershipLookupsPerSec: 5,
    },
  );
  let listener: ((data: RawData, isBinary: boolean) => void) | undefined;
  commands.attach(session as unknown as Session, (l) => {
    listener = l;
  });
  const frame = (value: object) => listener!(Buffer.from(JSON.stringify(value)), false);
  const settled = () => new Promise<void>((resolve) => setImmediate(resolve));
  return { sent, failures, core, frame, settled, session };
}

describe('ClientCommands: messages that change', () => {
  it('sends a reply with mentions through the core', async () => {
    const t = setUp();
    t.frame({ type: 'send', conv, clientMsgId: 'cm', body: 'hi', replyTo: 4, mentions: ['u-ben'] });
    await t.settled();
    expect(t.core.send).toHaveBeenCalledWith(conv, ann.id, 'cm', 'hi', { replyTo: 4, mentions: ['u-ben'] });
    expect(t.sent).toEqual([expect.objectContaining({ type: 'ack', seq: 1 })]);
  });

  it('sends a plain message with no options (a v1 client’s frame)', async () => {
    const t = setUp();
    t.frame({ type: 'send', conv, clientMsgId: 'cm', body: 'hi' });
    await t.settled();
    expect(t.core.send).toHaveBeenCalledWith(conv, ann.id, 'cm', 'hi', {});
  });

  it('answers edit, delete and react with change_ack carrying the ref and the changeSeq', async () => {
    const t = setUp();
    t.frame({ type: 'edit', conv, seq: 1, body: 'new', mentions: ['u-ben'], ref: 'e1' });
    await t.settled();
    t.frame({ type: 'delete', conv, seq: 1, ref: 'd1' });
    await t.settled();
    t.frame({ type: 'react', conv, seq: 1, emoji: '👍', on: true, ref: 'r1' });
    await t.settled();
    expect(t.core.editMessage).toHaveBeenCalledWith(conv, ann.id, 1, 'new', ['u-ben']);
    expect(t.core.deleteMessage).toHaveBeenCalledWith(conv, ann.id, 1);
    expect(t.core.react).toHaveBeenCalledWith(conv, ann.id, 1, '👍', true);
    expect(t.sent).toEqual([
      { type: 'change_ack', ref: 'e1', conv, seq: 1, changeSeq: 3 },
      { type: 'change_ack', ref: 'd1', conv, seq: 1, changeSeq: 4 },
      // Nothing changed (a repeat): no changeSeq.
      { type: 'change_ack', ref: 'r1', conv, seq: 1 },
    ]);
  });

  it('sends no change_ack without a ref', async () => {
    const t = setUp();
    t.frame({ type: 'delete', conv, seq: 1 });
    await t.settled();
    expect(t.core.deleteMessage).toHaveBeenCalled();
    expect(t.sent).toEqual([]);
  });

  it('answers a refused change with an error frame carrying its ref', async () => {
    const t = setUp();
    t.core.editMessage.mockRejectedValueOnce(new ChatError('forbidden'));
    t.frame({ type: 'edit', conv, seq: 1, body: 'mine', ref: 'e2' });
    await t.settled();
    expect(t.failures).toEqual([{ code: 'forbidden', ref: 'e2' }]);
    expect(t.sent).toEqual([]);
  });

  it.each([
    { type: 'edit', conv, seq: 0, body: 'x', ref: 'bad' },
    { type: 'edit', conv, seq: 1, body: '', ref: 'bad' },
    { type: 'react', conv, seq: 1, emoji: '👍', ref: 'bad' },
    { type: 'react', conv, seq: 1, emoji: '👍', on: true, extra: 1, ref: 'bad' },
    { type: 'delete', conv, ref: 'bad' },
  ])('refuses the malformed frame %j before the core', async (bad) => {
    const t = setUp();
    t.frame(bad);
    await t.settled();
    expect(t.failures).toEqual([{ code: 'invalid_frame', ref: 'bad' }]);
    expect(t.core.editMessage).not.toHaveBeenCalled();
    expect(t.core.react).not.toHaveBeenCalled();
    expect(t.core.deleteMessage).not.toHaveBeenCalled();
  });

  it('counts change frames against the inbound budget like any frame', async () => {
    const t = setUp({ framesPerSec: 0.001, burst: 2 });
    for (let i = 0; i < 4; i++) t.frame({ type: 'react', conv, seq: 1, emoji: '👍', on: true, ref: `r${i}` });
    await t.settled();
    expect(t.core.react).toHaveBeenCalledTimes(2);
    expect(t.session.pauseReading).toHaveBeenCalled();
  });
});
