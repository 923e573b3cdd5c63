import type { ConversationId } from '@relay-chat/protocol';
import type { KeyValueStorage } from './outbox-storage.js';

/** Storage key of a user's drafts. */
export function draftsKey(userId: string): string {
  return `relay-chat.drafts.${userId}`;
}

/** Longest draft kept (the composer refuses to send past the body limit anyway). */
const MAX_DRAFT_CHARS = 20_000;

/**
 * Unsent text per conversation, kept across reloads in storage under the user's id, so the
 * composer comes back with it and the conversation list can mark it. Blank drafts are
 * removed. Storage failures (private mode, quota) only lose the reload part.
 */
export class DraftStore {
  readonly #storage: KeyValueStorage;
  readonly #key: string;
  #drafts: ReadonlyMap<ConversationId, string>;
  readonly #listeners = new Set<() => void>();

  constructor(storage: KeyValueStorage, userId: string) {
    this.#storage = storage;
    this.#key = draftsKey(userId);
    this.#drafts = this.#load();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  /** Every draft; a new map after each change (compare by reference). */
  all = (): ReadonlyMap<ConversationId, string> => this.#drafts;

  get(conv: ConversationId): string {
    return this.#drafts.get(conv) ?? '';
  }

  set(conv: ConversationId, text: string): void {
    const value = text.trim().length === 0 ? '' : text.slice(0, MAX_DRAFT_CHARS);
    if ((this.#drafts.get(conv) ?? '') === value) return;
    const next = new Map(this.#drafts);
    if (value) next.set(conv, value);
    else next.delete(conv);
    this.#drafts = next;
    try {
      if (next.size === 0) this.#storage.removeItem(this.#key);
      else this.#storage.setItem(this.#key, JSON.stringify(Object.fromEntries(next)));
    } catch {
      // Kept for this page only.
    }
    for (const listener of [...this.#listeners]) listener();
  }

  #load(): ReadonlyMap<ConversationId, string> {
    try {
      const raw: unknown = JSON.parse(this.#storage.getItem(this.#key) ?? '{}');
      const drafts = new Map<ConversationId, string>();
      if (raw && typeof raw === 'object') {
        for (const [conv, text] of Object.entries(raw)) {
          if (typeof text === 'string' && text.trim()) drafts.set(conv as ConversationId, text);
        }
      }
      return drafts;
    } catch {
      return new Map();
    }
  }
}

const stores = new Map<string, DraftStore>();

/** localStorage, or (outside a browser: server rendering in tests) a page-long map. */
function pageStorage(): KeyValueStorage {
  if (typeof localStorage !== 'undefined') return localStorage;
  const map = new Map<string, string>();
  return {
    getItem: (k) => map.get(k) ?? null,
    setItem: (k, v) => void map.set(k, v),
    removeItem: (k) => void map.delete(k),
  };
}

/** The one draft store of a user in this page. */
export function draftsOf(userId: string, storage: KeyValueStorage = pageStorage()): DraftStore {
  let store = stores.get(userId);
  if (!store) {
    store = new DraftStore(storage, userId);
    stores.set(userId, store);
  }
  return store;
}

/** Forgets a user's drafts (logout on a shared computer). */
export function clearDrafts(userId: string, storage: KeyValueStorage = pageStorage()): void {
  stores.delete(userId);
  try {
    storage.removeItem(draftsKey(userId));
  } catch {
    // Nothing stored.
  }
}
