import { randomUUID } from 'node:crypto';
import { asConversationId, asUserId, ChatError } from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppendBatcher } from './append-batcher.js';
import type { AppendInput } from './store/message-store.js';
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
});
