import { ChatError, type UserId } from '@relay-chat/protocol';
import type { AppendInput, ConversationPage } from './message-store.js';

/**
 * Keys every backend derives the same way, so that uniqueness means the same thing on
 * SQLite, PostgreSQL and MongoDB.
 */

/** The one key of the DM between two users, independent of argument order. */
export function dmKeyOf(a: UserId, b: UserId): string {
  if (a === b) throw new ChatError('validation_failed', 'a direct conversation needs two distinct users');
  const [first, second] = a < b ? [a, b] : [b, a];
  // Length-prefixed, so no pair of ids can produce another pair's key.
  return `${first.length}:${first}:${second}`;
}

/** Channel names are unique and searched case-insensitively through this key. */
export function channelKeyOf(name: string): string {
  return name.toLowerCase();
}

/** The creator first, then the other members in the order given, each once. */
export function initialMembers(createdBy: UserId, members: readonly UserId[]): UserId[] {
  return [...new Set([createdBy, ...members])];
}

/** Escapes `%`, `_` and `\` for a SQL `LIKE … ESCAPE '\'` pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Escapes a string for use as a literal inside a regular expression. */
export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A history page size the stores accept: a whole number ≥ 0. */
export function pageLimit(limit: number): number {
  return Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : 0;
}

/** A seq cursor or read marker from a caller: a safe integer ≥ 0, else `validation_failed`. */
export function checkSeq(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new ChatError('validation_failed', `${field} must be a whole number ≥ 0`, {
      fields: [{ field: `/${field}`, message: 'must be a whole number ≥ 0' }],
    });
  }
  return value;
}

/** Checks a history page's cursors (see checkSeq). */
export function checkPage(page: { before?: number; after?: number }): void {
  if (page.before !== undefined) checkSeq('before', page.before);
  if (page.after !== undefined) checkSeq('after', page.after);
}

/** Checks a conversation list page's cursor: a time (see checkSeq) and an id (see checkText). */
export function checkConversationPage(page: ConversationPage | undefined): void {
  if (page?.before === undefined) return;
  checkSeq('before/lastActivityAt', page.before.lastActivityAt);
  checkText('before/id', page.before.id);
}

/**
 * Text a store can keep on every backend: PostgreSQL `text` cannot hold U+0000, so it is
 * refused everywhere (`validation_failed`) rather than failing one backend's whole batch.
 */
export function checkText(field: string, value: string): string {
  if (value.includes('\u0000')) {
    throw new ChatError('validation_failed', `${field} must not contain U+0000`, {
      fields: [{ field: `/${field}`, message: 'must not contain U+0000' }],
    });
  }
  return value;
}

/** Checks every text field of an append batch (see checkText). */
export function checkAppendInputs(inputs: readonly AppendInput[]): void {
  for (const input of inputs) {
    checkText('conv', input.conv);
    checkText('sender', input.sender);
    checkText('clientMsgId', input.clientMsgId);
    checkText('body', input.body);
    for (const user of input.mentions ?? []) checkText('mentions', user);
    if (input.replyTo !== undefined && (!Number.isSafeInteger(input.replyTo) || input.replyTo < 1)) {
      throw new ChatError('validation_failed', 'replyTo must be a whole number ≥ 1', {
        fields: [{ field: '/replyTo', message: 'must be a whole number ≥ 1' }],
      });
    }
  }
}
