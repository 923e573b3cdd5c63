import { type AckFrame, asConversationId, asMessageId, ChatError, LIMITS } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { createClientMsgId, Outbox, type OutboxChange } from './outbox.js';

const ackFor = (clientMsgId: string, seq = 1, conv = 'c1'): AckFrame => ({
  type: 'ack',
  clientMsgId,
  conv: asConversationId(conv),
  id: asMessageId(`m${seq}`),
  seq,
  ts: 1_700_000_000_000,
});

function outboxWithLog() {
  const changes: OutboxChange[] = [];
  const outbox = new Outbox({ onChange: (c) => changes.push(c), now: () => 42 });
  const log = () => changes.map((c) => `${c.entry.clientMsgId}:${c.previous ?? '-'}>${c.entry.status}`);
  return { outbox, changes, log };
}

describe('Outbox', () => {
  it('queues a message as pending and announces it', () => {
    const { outbox, changes, log } = outboxWithLog();
    const handle = outbox.add(asConversationId('c1'), 'hello', 'a');
    expect(handle.clientMsgId).toBe('a');
    expect(log()).toEqual(['a:->pending']);
    expect(changes[0]?.entry).toMatchObject({ conv: 'c1', body: 'hello', createdAt: 42, attempts: 0 });
    expect(outbox.entries().map((e) => e.status)).toEqual(['pending']);
  });

  it('moves pending → sent on its ack, resolves `acked` and forgets the entry', async () => {
    const { outbox, log } = outboxWithLog();
    const { acked } = outbox.add(asConversationId('c1'), 'hello', 'a');
    const ack = ackFor('a', 7);
    expect(outbox.acknowledge(ack)).toMatchObject({ status: 'sent', ack });
    await expect(acked).resolves.toEqual(ack);
    expect(log()).toEqual(['a:->pending', 'a:pending>sent']);
    expect(outbox.get('a')).toBeUndefined();
    expect(outbox.acknowledge(ack)).toBeUndefined();
  });

  it('ignores an ack whose conversation does not match the entry', () => {
    const { outbox } = outboxWithLog();
    outbox.add(asConversationId('c1'), 'hello', 'a');
    expect(outbox.acknowledge(ackFor('a', 1, 'c2'))).toBeUndefined();
    expect(outbox.get('a')?.status).toBe('pending');
  });

  it('moves pending → failed on a non-retryable error and rejects `acked` with it', async () => {
    const { outbox, log } = outboxWithLog();
    const { acked } = outbox.add(asConversationId('c1'), 'hello', 'a');
    const error = new ChatError('not_member');
    expect(outbox.fail('a', error)).toMatchObject({ status: 'failed', error });
    await expect(acked).rejects.toBe(error);
    expect(log()).toEqual(['a:->pending', 'a:pending>failed']);
    expect(outbox.fail('a', error)).toBeUndefined();
  });

  it('never raises an unhandled rejection when nobody awaits a failing send', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { outbox } = outboxWithLog();
      outbox.add(asConversationId('c1'), 'hello', 'a');
      outbox.fail('a', new ChatError('not_member'));
      // Node reports unhandled rejections once the microtask queue has drained, before the
      // next event-loop turn: one turn is enough, no time needs to pass.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('retries a failed entry with the same clientMsgId, a fresh promise, at the back of the queue', async () => {
    const { outbox, log } = outboxWithLog();
    outbox.add(asConversationId('c1'), 'first', 'a');
    outbox.add(asConversationId('c1'), 'second', 'b');
    outbox.markWritten('a', 3);
    outbox.fail('a', new ChatError('not_member'));
    const handle = outbox.retry('a');
    expect(handle.clientMsgId).toBe('a');
    expect(outbox.entries().map((e) => e.clientMsgId)).toEqual(['b', 'a']);
    expect(outbox.get('a')).toMatchObject({ status: 'pending', lastConnectionId: 0 });
    expect(outbox.get('a')?.error).toBeUndefined();
    outbox.acknowledge(ackFor('a'));
    await expect(handle.acked).resolves.toMatchObject({ clientMsgId: 'a' });
    expect(log()).toEqual([
      'a:->pending',
      'b:->pending',
      'a:pending>failed',
      'a:failed>pending',
      'a:pending>sent',
    ]);
  });

  it('refuses to retry an entry that has not failed', () => {
    const { outbox } = outboxWithLog();
    outbox.add(asConversationId('c1'), 'hello', 'a');
    expect(() => outbox.retry('a')).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => outbox.retry('zzz')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });

  it('settles a failed entry as sent when its ack still arrives', async () => {
    const { outbox } = outboxWithLog();
    outbox.add(asConversationId('c1'), 'hello', 'a');
    outbox.fail('a', new ChatError('internal'));
    expect(outbox.acknowledge(ackFor('a'))?.status).toBe('sent');
    expect(outbox.size).toBe(0);
  });

  it('offers each pending entry once per connection, oldest first, and again on the next connection', () => {
    const { outbox } = outboxWithLog();
    outbox.add(asConversationId('c1'), '1', 'a');
    outbox.add(asConversationId('c1'), '2', 'b');
    outbox.add(asConversationId('c1'), '3', 'c');
    expect(outbox.unsentOn(1).map((e) => e.clientMsgId)).toEqual(['a', 'b', 'c']);
    outbox.markWritten('a', 1);
    outbox.markWritten('b', 1);
    expect(outbox.unsentOn(1).map((e) => e.clientMsgId)).toEqual(['c']);
    expect(outbox.unsentOn(2).map((e) => e.clientMsgId)).toEqual(['a', 'b', 'c']);
    outbox.markWritten('a', 2);
    expect(outbox.get('a')?.attempts).toBe(2);
    outbox.markUnwritten('a');
    expect(outbox.unsentOn(2).map((e) => e.clientMsgId)).toEqual(['a', 'b', 'c']);
  });

  it('does not offer failed entries for sending', () => {
    const { outbox } = outboxWithLog();
    outbox.add(asConversationId('c1'), '1', 'a');
    outbox.fail('a', new ChatError('forbidden'));
    expect(outbox.unsentOn(1)).toEqual([]);
  });

  it('returns the existing handle when the same clientMsgId is queued twice', () => {
    const { outbox, changes } = outboxWithLog();
    const first = outbox.add(asConversationId('c1'), 'hello', 'a');
    const second = outbox.add(asConversationId('c1'), 'hello again', 'a');
    expect(second).toBe(first);
    expect(changes).toHaveLength(1);
    expect(outbox.get('a')?.body).toBe('hello');
  });

  it('discards an entry, rejecting a pending one with conflict', async () => {
    const { outbox } = outboxWithLog();
    const { acked } = outbox.add(asConversationId('c1'), 'hello', 'a');
    expect(outbox.discard('a')).toBe(true);
    await expect(acked).rejects.toMatchObject({ code: 'conflict' });
    expect(outbox.discard('a')).toBe(false);
  });

  it.each([
    ['an empty body', 'c1', '', 'a'],
    ['a body over the limit', 'c1', 'x'.repeat(LIMITS.maxBodyChars + 1), 'a'],
    ['an empty conversation id', '', 'hi', 'a'],
    ['an over-long clientMsgId', 'c1', 'hi', 'x'.repeat(LIMITS.maxClientMsgIdChars + 1)],
  ])('rejects %s with validation_failed', (_name, conv, body, id) => {
    const { outbox } = outboxWithLog();
    expect(() => outbox.add(asConversationId(conv), body, id)).toThrow(
      expect.objectContaining({ code: 'validation_failed' }),
    );
    expect(outbox.size).toBe(0);
  });

  it('accepts a body of exactly the limit', () => {
    const { outbox } = outboxWithLog();
    expect(() => outbox.add(asConversationId('c1'), 'x'.repeat(LIMITS.maxBodyChars), 'a')).not.toThrow();
  });

  it('makes a fresh UUID clientMsgId when none is given', () => {
    const { outbox } = outboxWithLog();
    const a = outbox.add(asConversationId('c1'), 'x').clientMsgId;
    const b = outbox.add(asConversationId('c1'), 'y').clientMsgId;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
    expect(createClientMsgId()).toHaveLength(36);
  });

  it('keeps replyTo and deduplicated mentions with the entry, through a failure and a retry', () => {
    const { outbox } = outboxWithLog();
    const u2 = 'u2' as never;
    outbox.add(asConversationId('c1'), 'hi', 'a', { replyTo: 3, mentions: [u2, u2] });
    expect(outbox.get('a')).toMatchObject({ replyTo: 3, mentions: ['u2'] });
    outbox.fail('a', new ChatError('not_member', 'x'));
    outbox.retry('a');
    expect(outbox.get('a')).toMatchObject({ status: 'pending', replyTo: 3, mentions: ['u2'] });
    outbox.add(asConversationId('c1'), 'hi', 'b', { mentions: [] });
    expect(outbox.get('b')).not.toHaveProperty('mentions');
  });

  it('refuses a bad replyTo or too many mentions at once', () => {
    const { outbox } = outboxWithLog();
    expect(() => outbox.add(asConversationId('c1'), 'hi', 'a', { replyTo: 0 })).toThrow(
      expect.objectContaining({
        code: 'validation_failed',
        fields: [expect.objectContaining({ field: '/replyTo' })],
      }),
    );
    const many = Array.from({ length: LIMITS.maxMentions + 1 }, (_, i) => `u${i}` as never);
    expect(() => outbox.add(asConversationId('c1'), 'hi', 'b', { mentions: many })).toThrow(
      expect.objectContaining({ fields: [expect.objectContaining({ field: '/mentions' })] }),
    );
    expect(outbox.size).toBe(0);
  });
});
