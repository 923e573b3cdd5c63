import {
  ChatError,
  type ConversationId,
  type Message,
  type SearchHit,
  type SearchResponse,
  type UserId,
} from '@relay-chat/protocol';
import type { KeyedBudget } from '../limits/keyed-budget.js';
import { shownTo } from '../store/message-changes.js';
import type { MessageStore, SearchCursor } from '../store/message-store.js';
import { matchRanges, parseQuery, QueryProblem } from './search-text.js';

export interface SearchRequest {
  q: string;
  conv?: ConversationId;
  author?: UserId;
  before?: number;
  after?: number;
  limit: number;
  cursor?: string;
}

export interface MessageSearchOptions {
  /** Searches per user, sustained and at once (a user typing makes a few a second). */
  budget: KeyedBudget<string>;
  /**
   * Searches this replica runs at once for everyone together; one more is refused with a
   * retryable `unavailable` rather than queued behind them (default 8).
   */
  maxInFlight: number;
  /** False when the store does not index messages (SEARCH_INDEX=off): every search is `forbidden`. */
  enabled?: boolean;
}

/**
 * Message search as a user asks for it: the query parsed into the normal form's terms, the
 * store's ranked page, and each hit shaped for this user with the ranges to highlight.
 * Bad input (nothing searchable, too long, a cursor this server did not make) is a
 * `validation_failed` naming the field; the per-user budget and the replica's in-flight cap
 * keep one user's searches from slowing everyone's.
 */
export class MessageSearch {
  private inFlight = 0;

  constructor(
    private readonly store: MessageStore,
    private readonly options: MessageSearchOptions,
  ) {}

  async search(userId: UserId, request: SearchRequest): Promise<SearchResponse> {
    if (this.options.enabled === false) {
      throw new ChatError('forbidden', 'message search is turned off on this server');
    }
    const query = parsed(request.q);
    const cursor = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
    if (request.before !== undefined && request.after !== undefined && request.after >= request.before) {
      throw fieldError('/after', 'after must be earlier than before');
    }
    this.options.budget.take(userId);
    if (this.inFlight >= this.options.maxInFlight) {
      throw new ChatError('unavailable', 'too many searches at once; retry shortly', { retryAfterSec: 1 });
    }
    this.inFlight++;
    try {
      const page = await this.store.search({
        userId,
        query,
        limit: request.limit,
        ...(request.conv !== undefined ? { conv: request.conv } : {}),
        ...(request.author !== undefined ? { author: request.author } : {}),
        ...(request.before !== undefined ? { before: request.before } : {}),
        ...(request.after !== undefined ? { after: request.after } : {}),
        ...(cursor ? { cursor } : {}),
      });
      const hits: SearchHit[] = page.hits.map((m) => {
        const message: Message = shownTo(m, userId);
        return { message, matches: matchRanges(m.body, query) };
      });
      return { hits, nextCursor: page.next ? encodeCursor(page.next) : null };
    } finally {
      this.inFlight--;
    }
  }
}

function parsed(q: string) {
  try {
    return parseQuery(q);
  } catch (err) {
    if (err instanceof QueryProblem) throw fieldError('/q', err.message);
    throw err;
  }
}

/** A cursor as the client carries it: opaque, URL-safe. */
export function encodeCursor(cursor: SearchCursor): string {
  return Buffer.from(JSON.stringify({ t: cursor.tier, p: cursor.position })).toString('base64url');
}

/** The store's cursor from the client's string; `validation_failed` for anything this server did not make. */
export function decodeCursor(text: string): SearchCursor {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw fieldError('/cursor', 'not a cursor from a previous page');
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    ((value as { t?: unknown }).t === 0 || (value as { t?: unknown }).t === 1) &&
    typeof (value as { p?: unknown }).p === 'string' &&
    /^[0-9]{1,20}(\.[0-9]{1,20})?$/.test((value as { p: string }).p)
  ) {
    const { t, p } = value as { t: 0 | 1; p: string };
    return { tier: t, position: p };
  }
  throw fieldError('/cursor', 'not a cursor from a previous page');
}

function fieldError(field: string, message: string): ChatError {
  return new ChatError('validation_failed', message, { fields: [{ field, message }] });
}
