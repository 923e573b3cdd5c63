import type { ConversationId, UserId } from '@relay-chat/protocol';

/** An unacknowledged message as kept across reloads. */
export interface StoredOutboxEntry {
  clientMsgId: string;
  conv: ConversationId;
  body: string;
  /** v1.2: the message it answers. */
  replyTo?: number;
  /** v1.2: the members it mentions. */
  mentions?: readonly UserId[];
}

/** The part of Web Storage used here (localStorage in the browser, a Map in tests). */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Storage key of a user's outbox. */
export function outboxKey(userId: string): string {
  return `relay-chat.outbox.${userId}`;
}

/**
 * Keeps the SDK's in-memory outbox across reloads: what was written but not yet acknowledged
 * is queued again (same clientMsgId, so the server stores it at most once) after the page
 * comes back. Storage failures (private mode, quota) only lose that convenience.
 */
export function saveOutbox(
  storage: KeyValueStorage,
  userId: string,
  entries: readonly StoredOutboxEntry[],
): void {
  try {
    if (entries.length === 0) storage.removeItem(outboxKey(userId));
    else {
      const plain = entries.map(({ clientMsgId, conv, body, replyTo, mentions }) => ({
        clientMsgId,
        conv,
        body,
        ...(replyTo !== undefined ? { replyTo } : {}),
        ...(mentions && mentions.length > 0 ? { mentions } : {}),
      }));
      storage.setItem(outboxKey(userId), JSON.stringify(plain));
    }
  } catch {
    // Best effort.
  }
}

/** The stored outbox of a user; malformed entries are dropped. */
export function loadOutbox(storage: KeyValueStorage, userId: string): StoredOutboxEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(storage.getItem(outboxKey(userId)) ?? '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(
    (e): e is StoredOutboxEntry =>
      typeof e === 'object' &&
      e !== null &&
      typeof (e as StoredOutboxEntry).clientMsgId === 'string' &&
      typeof (e as StoredOutboxEntry).conv === 'string' &&
      typeof (e as StoredOutboxEntry).body === 'string' &&
      (e.replyTo === undefined || (Number.isInteger(e.replyTo) && e.replyTo >= 1)) &&
      (e.mentions === undefined ||
        (Array.isArray(e.mentions) && e.mentions.every((m: unknown) => typeof m === 'string'))),
  );
}

export function clearOutbox(storage: KeyValueStorage, userId: string): void {
  try {
    storage.removeItem(outboxKey(userId));
  } catch {
    // Best effort.
  }
}
