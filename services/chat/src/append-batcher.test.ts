import { randomUUID } from 'node:crypto';
import { asConversationId, asUserId, ChatError } from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppendBatcher } from './append-batcher.js';
import type { AppendInput, AppendOutcome } from './store/message-store.js';
import { SqliteMessageStore } from './store/sqlite.js';

describe('AppendBatcher', () => {
  let store: SqliteMessageStore;
  beforeEach(async () => {
    store = new SqliteMessageStore('sqlite::memory:');
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
  });

  const input = (conv: string, sender: string, body = 'hi'): AppendInput => ({
    conv: asConversationId(conv),
    sender: asUserId(sender),
    clientMsgId: randomUUID(),
    body,
    ts: Date.now(),
  });
  const codeOf = (outcome: PromiseSettledResult<unknown>) =>
    outcome.status === 'rejected' && outcome.reason instanceof ChatError
      ? outcome.reason.code
      : outcome.status;

  it('writes one batch, resolving members and rejecting a non-member or an unknown conversation', async () => {
    const g = await store.createGroup(
      { name: 'g', createdBy: asUserId('u-a'), members: [asUserId('u-b')] },
      1,
    );
    const batcher = new AppendBatcher(store);
    const append = vi.spyOn(store, 'append');
    const outcomes = await Promise.allSettled([
      batcher.append(input(g.id, 'u-a', 'one')),
      batcher.append(input(g.id, 'u-stranger')),
      batcher.append(input(randomUUID(), 'u-a')),
      batcher.append(input(g.id, 'u-b', 'two')),
    ]);
    expect(outcomes.map(codeOf)).toEqual(['fulfilled', 'not_member', 'not_found', 'fulfilled']);
    const seqs = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.message.seq] : []));
    expect(seqs).toEqual([1, 2]);
    expect(append).toHaveBeenCalledTimes(1);
  });

  it('rejects text no store can keep before it joins a batch, so the others go together', async () => {
    const g = await store.createGroup({ name: 'g', createdBy: asUserId('u-a'), members: [] }, 1);
    const batcher = new AppendBatcher(store);
    const append = vi.spyOn(store, 'append');
    const outcomes = await Promise.allSettled([
      batcher.append(input(g.id, 'u-a')),
      batcher.append(input(g.id, 'u-a', 'nul \u0000')),
      batcher.append(input(g.id, 'u-a')),
    ]);
    expect(outcomes.map(codeOf)).toEqual(['fulfilled', 'validation_failed', 'fulfilled']);
    expect(append).toHaveBeenCalledTimes(1);
    await batcher.drain();
    expect((await store.getConversation(g.id))?.lastSeq).toBe(2);
  });

  describe('when a whole batch fails', () => {
    /**
     * The real store, except that a batch holding a `poison` body fails as a whole with
     * `error` (as a store would for input it cannot take, or for a database error): the
     * stored messages, seqs and refusals all come from SQLite.
     */
    function failingOn(error: Error) {
      const real = store.append.bind(store);
      return vi.spyOn(store, 'append').mockImplementation(async (inputs): Promise<AppendOutcome[]> => {
        if (inputs.some((i) => i.body === 'poison')) throw error;
        return real(inputs);
      });
    }

    it('writes the inputs one by one after a typed, non-retryable failure, so only the bad one fails', async () => {
      const g = await store.createGroup(
        { name: 'g', createdBy: asUserId('u-a'), members: [asUserId('u-b')] },
        1,
      );
      const append = failingOn(new ChatError('validation_failed', 'cannot keep that'));
      const batcher = new AppendBatcher(store);
      const outcomes = await Promise.allSettled([
        batcher.append(input(g.id, 'u-a', 'one')),
        batcher.append(input(g.id, 'u-a', 'poison')),
        batcher.append(input(g.id, 'u-stranger', 'not a member')),
        batcher.append(input(g.id, 'u-b', 'two')),
      ]);
      expect(outcomes.map(codeOf)).toEqual(['fulfilled', 'validation_failed', 'not_member', 'fulfilled']);
      const stored = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value.message] : []));
      expect(stored.map((m) => [m.seq, m.body])).toEqual([
        [1, 'one'],
        [2, 'two'],
      ]);
      // The batch once, then each of the four on its own, in arrival order.
      expect(append.mock.calls.map((call) => call[0].map((i) => i.body))).toEqual([
        ['one', 'poison', 'not a member', 'two'],
        ['one'],
        ['poison'],
        ['not a member'],
        ['two'],
      ]);
      expect((await store.history(g.id, { limit: 10 })).map((m) => m.body)).toEqual(['one', 'two']);
    });

    it.each([
      ['a retryable typed error', new ChatError('unavailable', 'database down')],
      ['an untyped (database) error', new Error('disk I/O error')],
    ])('fails every input of the batch with %s, without writing them one by one', async (_, error) => {
      const g = await store.createGroup({ name: 'g', createdBy: asUserId('u-a'), members: [] }, 1);
      const append = failingOn(error);
      const batcher = new AppendBatcher(store);
      const outcomes = await Promise.allSettled([
        batcher.append(input(g.id, 'u-a', 'one')),
        batcher.append(input(g.id, 'u-a', 'poison')),
        batcher.append(input(g.id, 'u-a', 'two')),
      ]);
      expect(outcomes.map((o) => (o.status === 'rejected' ? o.reason : o.status))).toEqual([
        error,
        error,
        error,
      ]);
      expect(append).toHaveBeenCalledTimes(1);
      expect((await store.getConversation(g.id))?.lastSeq).toBe(0);
    });

    it('fails a batch of one with its typed error at once, without a second attempt', async () => {
      const g = await store.createGroup({ name: 'g', createdBy: asUserId('u-a'), members: [] }, 1);
      const error = new ChatError('validation_failed', 'cannot keep that');
      const append = failingOn(error);
      const batcher = new AppendBatcher(store);
      await expect(batcher.append(input(g.id, 'u-a', 'poison'))).rejects.toBe(error);
      expect(append).toHaveBeenCalledTimes(1);
      // The batcher is not stuck: the next message goes through.
      expect((await batcher.append(input(g.id, 'u-a', 'fine'))).message.seq).toBe(1);
    });
  });

  it('turns a refused reply or mentions into validation_failed naming the field', async () => {
    const g = await store.createGroup({ name: 'g', createdBy: asUserId('u-a'), members: [] }, 1);
    const batcher = new AppendBatcher(store);
    vi.spyOn(store, 'append').mockResolvedValue([{ refused: 'bad_reply' }, { refused: 'bad_mentions' }]);
    const outcomes = await Promise.allSettled([
      batcher.append({ ...input(g.id, 'u-a'), replyTo: 9 }),
      batcher.append({ ...input(g.id, 'u-a'), mentions: [asUserId('u-x')] }),
    ]);
    const errors = outcomes.map((o) => (o.status === 'rejected' ? (o.reason as ChatError) : undefined));
    expect(errors.map((e) => [e?.code, e?.fields?.[0]?.field])).toEqual([
      ['validation_failed', '/replyTo'],
      ['validation_failed', '/mentions'],
    ]);
  });
});
