import { ChatError, type ConversationId, type UserId } from '@relay-chat/protocol';
import type { AnyBulkWriteOperation, Filter, IndexDescription } from 'mongodb';
import { type ParsedQuery, searchText } from '../search/search-text.js';
import { pageLimit } from './conversation-keys.js';
import type { SearchCursor, SearchPage } from './message-store.js';
import { type MessageDoc, toStoredMessage } from './mongo-messages.js';

/**
 * Message search on MongoDB (schema 6, issue 14): the pure part — the index, the filters a
 * query runs as, the paging over the two tiers, the documents' search fields and the
 * upgrade's writes. `mongo.ts` runs them. NOT RUN AGAINST A SERVER: no MongoDB can run on
 * the machines this was written on; this file is unit-tested (`mongo-search.test.ts`, the
 * filters evaluated in memory), the rest only type-checked. Run mongo.test.ts (the search
 * contract) and mongo-upgrade.test.ts with MONGO_URL, and check the plan with explain(),
 * before relying on it.
 *
 * How it works:
 * - every live message holds `searchText` = searchText(body) (search/search-text.ts), set
 *   by the insert or the edit that sets its body and removed by the delete, in the same
 *   write; and `searchId`, its place in storage order (a global counter taken by each
 *   append batch; an edit keeps it), which orders results and is the cursor's position;
 * - one compound index `{conv: 1, searchId: -1, searchText: 1}`, partial on
 *   `searchText` existing (tombstones are left out): for the searcher's conversations
 *   (`conv` $in) it yields messages newest first per conversation, merged across them
 *   (a SORT_MERGE: no in-memory sort), and each term's pattern is tested on the index key
 *   — MongoDB matches a case-sensitive regular expression against the values in the index
 *   (the $regex manual, "Index Use") — so only hits are fetched, and the scan stops at
 *   `limit` hits;
 * - each term is an escaped, case-sensitive $regex substring of `searchText` (the normal
 *   form is lower case already): tier 0 every term's `word`, tier 1 every term's `match`
 *   and not every `word`.
 * No `$text` index: a query may hold one `$text`, which then must use the text index
 *   (no hint, no ordered scan: "text indexes cannot improve performance for sort
 *   operations"), its terms are ORed and it takes at most one phrase, and its tokenizer
 *   treats some emoji (Pattern_Syntax symbols such as ✅ ⭐) as delimiters — so it would not
 *   even be a safe superset of tier 0, and a common word would fetch and sort every
 *   message holding it before the first page.
 */

/** The search index (see above). `searchText` existing is restated in every query, so the planner may use it. */
export const SEARCH_INDEX: IndexDescription = {
  key: { conv: 1, searchId: -1, searchText: 1 },
  name: 'conv_search',
  partialFilterExpression: { searchText: { $exists: true } },
};

/** Ids of the `chat_counters` documents: the next searchId of new messages, and of the upgrade's backfill. */
export const SEARCH_ID_COUNTER = 'searchId';
export const SEARCH_BACKFILL_COUNTER = 'searchBackfill';

/**
 * `text` as a PCRE pattern that matches exactly `text`: every ASCII character other than a
 * letter or digit is escaped (PCRE: a backslash before a non-alphanumeric character takes
 * away any special meaning), which covers every metacharacter whatever the options; other
 * characters are literals. The normal form holds only letters, digits, emoji and spaces,
 * so this is belt and braces.
 */
export function escapePattern(text: string): string {
  return text.replace(/[^A-Za-z0-9\u0080-\uffff]/g, '\\$&');
}

/** The searcher's scope: their conversations now (narrowed to `conv` when asked), and the filters. */
export interface SearchScope {
  convs: ConversationId[];
  author?: UserId;
  before?: number;
  after?: number;
}

/** The conversations to search: the member ones, or only `conv` when given and a member one. */
export function scopeConversations(
  memberOf: readonly ConversationId[],
  conv?: ConversationId,
): ConversationId[] {
  if (conv === undefined) return [...new Set(memberOf)];
  return memberOf.includes(conv) ? [conv] : [];
}

/** Where a page starts: a tier, and in it the position results continue below (none: the top). */
export interface SearchStart {
  tier: 0 | 1;
  below?: number;
}

/** Reads a cursor the store gave out (a safe whole number in a string); else `validation_failed` on /cursor. */
export function parseSearchCursor(cursor: SearchCursor | undefined): SearchStart {
  if (cursor === undefined) return { tier: 0 };
  const position = /^-?[0-9]{1,16}$/.test(cursor.position) ? Number(cursor.position) : Number.NaN;
  if ((cursor.tier !== 0 && cursor.tier !== 1) || !Number.isSafeInteger(position)) {
    throw new ChatError('validation_failed', 'not a search cursor', {
      fields: [{ field: '/cursor', message: 'not a cursor this search returned' }],
    });
  }
  return { tier: cursor.tier, below: position };
}

/**
 * The filter of one tier, below `below` when given; undefined when the tier cannot hold
 * anything (tier 1 when every term's `match` is its `word`: a CJK character or emoji).
 * Messages without a `searchId` (stored by the code before schema 6 and not backfilled
 * yet) are left out by the bound on it.
 */
export function tierFilter(
  scope: SearchScope,
  query: ParsedQuery,
  tier: 0 | 1,
  below?: number,
): Filter<MessageDoc> | undefined {
  const patterns: Filter<MessageDoc>[] = [];
  if (tier === 0) {
    for (const term of query.terms) patterns.push({ searchText: { $regex: escapePattern(term.word) } });
  } else {
    for (const term of query.terms) patterns.push({ searchText: { $regex: escapePattern(term.match) } });
    // Not every term as a word: some term whose `word` is missing (a term whose `match`
    // is its `word` has it whenever it matches).
    const missing: Filter<MessageDoc>[] = query.terms
      .filter((term) => term.match !== term.word)
      .map((term) => ({ searchText: { $not: { $regex: escapePattern(term.word) } } }));
    if (missing.length === 0) return undefined;
    patterns.push(missing.length === 1 ? missing[0]! : { $or: missing });
  }
  const filter: Filter<MessageDoc> = {
    conv: scope.convs.length === 1 ? scope.convs[0]! : { $in: scope.convs },
    searchId: { $lt: below ?? Number.MAX_SAFE_INTEGER },
    // The partial index's condition (a tombstone has no searchText), and the contract's.
    searchText: { $exists: true },
    deleted: { $ne: true },
    $and: patterns,
  };
  if (scope.author !== undefined) filter.sender = scope.author;
  if (scope.before !== undefined || scope.after !== undefined) {
    const ts: { $gte?: number; $lt?: number } = {};
    if (scope.after !== undefined) ts.$gte = scope.after;
    if (scope.before !== undefined) ts.$lt = scope.before;
    filter.ts = ts;
  }
  return filter;
}

/** Runs a filter: matching messages by `searchId` descending, at most `limit` (≥ 1) of them. */
export type FindNewestFirst = (filter: Filter<MessageDoc>, limit: number) => Promise<MessageDoc[]>;

/**
 * One page of a search: tier 0 from the start (the cursor's position, else the top), then,
 * while the page is short, tier 1 from the top. `next` is where the page ended when it is
 * full, else null (both tiers ran out).
 */
export async function searchPage(
  scope: SearchScope,
  query: ParsedQuery,
  limit: number,
  start: SearchStart,
  find: FindNewestFirst,
): Promise<SearchPage> {
  const n = pageLimit(limit);
  // limit(0) would mean "no limit" to MongoDB.
  if (n === 0 || scope.convs.length === 0) return { hits: [], next: null };
  const docs: MessageDoc[] = [];
  for (const tier of [0, 1] as const) {
    if (tier < start.tier) continue;
    const filter = tierFilter(scope, query, tier, tier === start.tier ? start.below : undefined);
    if (!filter) continue;
    const want = n - docs.length;
    const found = await find(filter, want);
    docs.push(...found.slice(0, want));
    if (found.length >= want) {
      const last = docs[docs.length - 1]!;
      if (typeof last.searchId !== 'number') throw new Error(`search hit ${last._id} has no searchId`);
      return { hits: docs.map(toStoredMessage), next: { tier, position: String(last.searchId) } };
    }
  }
  return { hits: docs.map(toStoredMessage), next: null };
}

/** A new message's document with its search fields: the normal form of its body and its place. */
export function withSearchFields(doc: MessageDoc, searchId: number): MessageDoc {
  return { ...doc, searchId, searchText: searchText(doc.body) };
}

/**
 * The upgrade's writes for a batch of messages without a `searchId`, newest first, given
 * the lowest id of the block taken for it (`$inc` of the backfill counter by minus the
 * batch's size): the newest gets the block's highest id. Backfilled ids are below 0 and
 * count down, so every message stored before schema 6 ranks below every message stored
 * after it, whenever a replica running the new code stored it. Each write applies only
 * if the message is still as it was read (no searchId yet; same body, not deleted since):
 * one changed meanwhile is left for the next pass.
 */
export function backfillWrites(
  batch: readonly Pick<MessageDoc, '_id' | 'body' | 'deleted'>[],
  lowest: number,
): AnyBulkWriteOperation<MessageDoc>[] {
  const highest = lowest + batch.length - 1;
  return batch.map((doc, i): AnyBulkWriteOperation<MessageDoc> => {
    const searchId = highest - i;
    if (doc.deleted === true) {
      return {
        updateOne: {
          filter: { _id: doc._id, searchId: { $exists: false }, deleted: true },
          update: { $set: { searchId } },
        },
      };
    }
    return {
      updateOne: {
        filter: { _id: doc._id, searchId: { $exists: false }, deleted: { $ne: true }, body: doc.body },
        update: { $set: { searchId, searchText: searchText(doc.body) } },
      },
    };
  });
}
