import { asConversationId } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { DraftStore, draftsKey } from './drafts.js';

class MemoryStorage {
  readonly map = new Map<string, string>();
  getItem = (k: string) => this.map.get(k) ?? null;
  setItem = (k: string, v: string) => void this.map.set(k, v);
  removeItem = (k: string) => void this.map.delete(k);
}

const c1 = asConversationId('c1');
const c2 = asConversationId('c2');

describe('drafts', () => {
  it('keeps drafts per user and conversation across a new page', () => {
    const storage = new MemoryStorage();
    const ada = new DraftStore(storage, 'ada');
    ada.set(c1, 'half a thought');
    ada.set(c2, 'another');
    new DraftStore(storage, 'bob').set(c1, 'bob’s own');
    const again = new DraftStore(storage, 'ada');
    expect(again.get(c1)).toBe('half a thought');
    expect([...again.all().keys()]).toEqual([c1, c2]);
    expect(new DraftStore(storage, 'bob').get(c1)).toBe('bob’s own');
  });

  it('drops blank drafts and tells subscribers only of changes', () => {
    const storage = new MemoryStorage();
    const drafts = new DraftStore(storage, 'ada');
    let calls = 0;
    drafts.subscribe(() => {
      calls += 1;
    });
    drafts.set(c1, 'x');
    drafts.set(c1, 'x');
    drafts.set(c1, '   ');
    expect(calls).toBe(2);
    expect(drafts.all().size).toBe(0);
    expect(storage.getItem(draftsKey('ada'))).toBeNull();
  });

  it('survives broken storage contents', () => {
    const storage = new MemoryStorage();
    storage.setItem(draftsKey('ada'), '{not json');
    expect(new DraftStore(storage, 'ada').all().size).toBe(0);
    storage.setItem(draftsKey('ada'), JSON.stringify({ c1: 5, c2: 'ok' }));
    expect([...new DraftStore(storage, 'ada').all()]).toEqual([[c2, 'ok']]);
  });
});
