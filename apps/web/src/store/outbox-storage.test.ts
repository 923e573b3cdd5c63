import { asConversationId, asUserId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { clearOutbox, type KeyValueStorage, loadOutbox, outboxKey, saveOutbox } from './outbox-storage.js';

function memoryStorage(): KeyValueStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return {
    map,
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

describe('outbox storage', () => {
  it('keeps unacknowledged messages per user across a reload', () => {
    const storage = memoryStorage();
    saveOutbox(storage, 'u1', [{ clientMsgId: 'k1', conv: asConversationId('c1'), body: 'hi' }]);
    expect(loadOutbox(storage, 'u1')).toEqual([{ clientMsgId: 'k1', conv: 'c1', body: 'hi' }]);
    expect(loadOutbox(storage, 'u2')).toEqual([]);
  });

  it('keeps what a reply answers and whom it mentions; drops malformed ones', () => {
    const storage = memoryStorage();
    const conv = asConversationId('c1');
    const mentions = [asUserId('u2')];
    saveOutbox(storage, 'u1', [{ clientMsgId: 'k1', conv, body: 'yes @bob', replyTo: 4, mentions }]);
    expect(loadOutbox(storage, 'u1')).toEqual([
      { clientMsgId: 'k1', conv: 'c1', body: 'yes @bob', replyTo: 4, mentions: ['u2'] },
    ]);
    storage.setItem(
      outboxKey('u1'),
      JSON.stringify([{ clientMsgId: 'k', conv: 'c', body: 'b', replyTo: 0 }]),
    );
    expect(loadOutbox(storage, 'u1')).toEqual([]);
  });

  it('stores only what is needed to send again', () => {
    const storage = memoryStorage();
    const entry = {
      clientMsgId: 'k1',
      conv: asConversationId('c1'),
      body: 'hi',
      status: 'pending',
      attempts: 3,
    };
    saveOutbox(storage, 'u1', [entry]);
    expect(JSON.parse(storage.map.get(outboxKey('u1'))!)).toEqual([
      { clientMsgId: 'k1', conv: 'c1', body: 'hi' },
    ]);
  });

  it('removes the key when the outbox empties, and on clear', () => {
    const storage = memoryStorage();
    saveOutbox(storage, 'u1', [{ clientMsgId: 'k1', conv: asConversationId('c1'), body: 'hi' }]);
    saveOutbox(storage, 'u1', []);
    expect(storage.map.size).toBe(0);
    saveOutbox(storage, 'u1', [{ clientMsgId: 'k1', conv: asConversationId('c1'), body: 'hi' }]);
    clearOutbox(storage, 'u1');
    expect(storage.map.size).toBe(0);
  });

  it('ignores malformed storage', () => {
    const storage = memoryStorage();
    storage.setItem(outboxKey('u1'), '{not json');
    expect(loadOutbox(storage, 'u1')).toEqual([]);
    storage.setItem(
      outboxKey('u1'),
      JSON.stringify([{ clientMsgId: 1 }, null, { clientMsgId: 'k', conv: 'c', body: 'b' }]),
    );
    expect(loadOutbox(storage, 'u1')).toEqual([{ clientMsgId: 'k', conv: 'c', body: 'b' }]);
  });

  it('survives a storage that throws', () => {
    const throwing: KeyValueStorage = {
      getItem: () => {
        throw new Error('denied');
      },
      setItem: () => {
        throw new Error('quota');
      },
      removeItem: () => {
        throw new Error('denied');
      },
    };
    expect(() =>
      saveOutbox(throwing, 'u1', [{ clientMsgId: 'k', conv: asConversationId('c'), body: 'b' }]),
    ).not.toThrow();
    expect(loadOutbox(throwing, 'u1')).toEqual([]);
    expect(() => clearOutbox(throwing, 'u1')).not.toThrow();
  });
});
