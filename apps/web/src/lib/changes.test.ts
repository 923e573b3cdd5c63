import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import {
  applyChanges,
  canDelete,
  canEdit,
  lastEditable,
  newerCopy,
  PICKER_EMOJI,
  pickerEmoji,
  reactionTooltip,
  replyCountLabel,
  snippet,
} from './changes.js';
import { mergeBySeq } from './history.js';

const ada = asUserId('ada');
const bob = asUserId('bob');
const msg = (seq: number, over: Partial<Message> = {}): Message => ({
  conv: asConversationId('c'),
  seq,
  id: asMessageId(`m${seq}`),
  from: ada,
  body: `m${seq}`,
  ts: seq,
  ...over,
});

describe('messages that change: pure helpers', () => {
  it('picks the copy with the higher changeSeq; ties keep the known one', () => {
    const a = msg(1, { changeSeq: 2, body: 'a' });
    const b = msg(1, { changeSeq: 3, body: 'b' });
    expect(newerCopy(a, b)).toBe(b);
    expect(newerCopy(b, a)).toBe(b);
    expect(newerCopy(a, msg(1, { changeSeq: 2, body: 'same' }))).toBe(a);
    expect(newerCopy(msg(1), a)).toBe(a);
    // Our own ack-made copy gives way to the server's fuller one of the same state.
    const server = msg(1, { replyTo: 1, threadRoot: 1, clientMsgId: 'k' });
    expect(newerCopy(msg(1, { replyTo: 1, clientMsgId: 'k' }), server)).toBe(server);
  });

  it('applies changes in place, returning the same array when nothing is newer', () => {
    const list = [msg(1), msg(2, { changeSeq: 5 }), msg(3)];
    expect(applyChanges(list, [msg(2, { changeSeq: 4 })])).toBe(list);
    expect(applyChanges(list, [msg(7, { changeSeq: 9 })])).toBe(list);
    const next = applyChanges(list, [
      msg(2, { changeSeq: 6, body: 'x' }),
      msg(2, { changeSeq: 7, body: 'y' }),
    ]);
    expect(next.map((m) => m.body)).toEqual(['m1', 'y', 'm3']);
    // mergeBySeq follows the same rule for history pages.
    expect(mergeBySeq(next, [msg(2, { changeSeq: 6, body: 'x' })])).toBe(next);
    expect(mergeBySeq(next, [msg(2, { changeSeq: 8, body: 'z' })]).map((m) => m.body)).toEqual([
      'm1',
      'z',
      'm3',
    ]);
  });

  it('allows editing own live messages, and deleting own or, for a group/channel owner, anyone’s', () => {
    const group = { kind: 'group', createdBy: ada };
    const dm = { kind: 'dm', createdBy: ada };
    expect(canEdit(msg(1), ada)).toBe(true);
    expect(canEdit(msg(1), bob)).toBe(false);
    expect(canEdit(msg(1, { deleted: true, body: '' }), ada)).toBe(false);
    expect(canDelete(msg(1, { from: bob }), ada, group)).toBe(true);
    expect(canDelete(msg(1, { from: bob }), ada, dm)).toBe(false);
    expect(canDelete(msg(1), bob, group)).toBe(false);
    expect(canDelete(msg(1, { from: bob }), bob, dm)).toBe(true);
    expect(canDelete(msg(1, { deleted: true }), ada, group)).toBe(false);
    expect(lastEditable([msg(1), msg(2, { from: bob }), msg(3, { deleted: true })], ada)?.seq).toBe(1);
  });

  it('says who reacted, "you" included, with the ones not listed counted', () => {
    const names = (id: string) => (id === 'bob' ? 'bob' : 'cy');
    expect(reactionTooltip({ emoji: '👍', count: 1, users: [bob] }, names, ada)).toBe('Bob reacted with 👍');
    expect(reactionTooltip({ emoji: '👍', count: 2, users: [ada, bob] }, names, ada)).toBe(
      'You and bob reacted with 👍',
    );
    expect(reactionTooltip({ emoji: '🎉', count: 5, users: [bob, asUserId('cy')] }, names, ada)).toBe(
      'Bob, cy and 3 others reacted with 🎉',
    );
  });

  it('lists the curated emoji then the ones already on the message', () => {
    expect(pickerEmoji(undefined)).toEqual([...PICKER_EMOJI]);
    expect(
      pickerEmoji([
        { emoji: '🦄', count: 1, users: [] },
        { emoji: '👍', count: 1, users: [] },
      ]).at(-1),
    ).toBe('🦄');
  });

  it('makes one-line snippets and reply counts', () => {
    expect(snippet({ body: 'a\n\n b', deleted: undefined })).toBe('a b');
    expect(snippet({ body: '', deleted: true })).toBe('Message deleted');
    expect(snippet({ body: 'x'.repeat(20) }, 10)).toBe(`${'x'.repeat(9)}…`);
    expect(replyCountLabel(1)).toBe('1 reply');
    expect(replyCountLabel(4)).toBe('4 replies');
  });
});
