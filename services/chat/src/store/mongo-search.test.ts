import {
  asConversationId,
  asMessageId,
  asUserId,
  ChatError,
  type ConversationId,
} from '@relay-chat/protocol';
import type { Filter } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { matchesAll, matchesAllWords, parseQuery, searchText } from '../search/search-text.js';
import type { MessageDoc } from './mongo-messages.js';
import {
  backfillWrites,
  escapePattern,
  type FindNewestFirst,
  parseSearchCursor,
  SEARCH_INDEX,
  type SearchScope,
  scopeConversations,
  searchPage,
  tierFilter,
  withSearchFields,
} from './mongo-search.js';

/**
 * The pure part of the MongoDB store's search (mongo-search.ts). No MongoDB server runs on
 * the build machines, so the filters are evaluated here by `matches`, a small evaluator of
 * exactly the operators they use (it throws on any other, so a new operator cannot slip
 * by untested); its $regex is JavaScript's, which agrees with PCRE on the escaped literal
 * patterns used. This checks the filters' meaning and the paging, not MongoDB: the search
 * contract in mongo.test.ts does that with MONGO_URL.
 */

const alice = asUserId('alice');
const bob = asUserId('bob');
const c1 = asConversationId('c1');
const c2 = asConversationId('c2');
const c3 = asConversationId('c3');

describe('escapePattern', () => {
  it('escapes every ASCII character but letters and digits, and keeps the rest literal', () => {
    const nasty = '.*+?^$' + '{}()|[]\\/-#& \'"%_<>=!:,;~`@';
    const escaped = escapePattern(nasty);
    expect(escaped).toBe([...nasty].map((c) => `\\${c}`).join(''));
    expect(new RegExp(escaped).test(`x${nasty}y`)).toBe(true);
    expect(new RegExp(`^${escaped}$`).test(nasty)).toBe(true);
    expect(escapePattern(' café 東 京 🎉 x1 ')).toBe('\\ café\\ 東\\ 京\\ 🎉\\ x1\\ ');
  });

  it('makes a pattern that matches its text literally, for random metacharacter soup', () => {
    const alphabet = [...'ab.*+?^$|()[]{}\\ -é東🎉'];
    let seed = 11;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 500; i++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 8) },
        () => alphabet[Math.floor(random() * alphabet.length)]!,
      ).join('');
      const other = Array.from({ length: 12 }, () => alphabet[Math.floor(random() * alphabet.length)]!).join(
        '',
      );
      expect(new RegExp(escapePattern(text)).test(other), `${text} in ${other}`).toBe(other.includes(text));
    }
  });
});

describe('tierFilter', () => {
  const scope: SearchScope = { convs: [c1, c2] };

  it('tier 0: every term as a word, in the searcher’s conversations, live, below the cursor', () => {
    expect(tierFilter(scope, parseQuery('deploy "quick brown"'), 0, 42)).toEqual({
      conv: { $in: [c1, c2] },
      searchId: { $lt: 42 },
      searchText: { $exists: true },
      deleted: { $ne: true },
      $and: [{ searchText: { $regex: '\\ deploy\\ ' } }, { searchText: { $regex: '\\ quick\\ brown\\ ' } }],
    });
  });

  it('tier 1: every term matches and some term is not a word; filters narrow it', () => {
    expect(
      tierFilter({ convs: [c1], author: bob, after: 100, before: 200 }, parseQuery('ploy go'), 1),
    ).toEqual({
      conv: c1,
      searchId: { $lt: Number.MAX_SAFE_INTEGER },
      searchText: { $exists: true },
      deleted: { $ne: true },
      sender: bob,
      ts: { $gte: 100, $lt: 200 },
      $and: [
        { searchText: { $regex: 'ploy' } },
        { searchText: { $regex: '\\ go' } },
        {
          $or: [
            { searchText: { $not: { $regex: '\\ ploy\\ ' } } },
            { searchText: { $not: { $regex: '\\ go\\ ' } } },
          ],
        },
      ],
    });
  });

  it('has no tier 1 when every term’s match is its word (single CJK characters, emoji)', () => {
    expect(tierFilter(scope, parseQuery('京 🎉'), 1)).toBeUndefined();
    expect(tierFilter(scope, parseQuery('京 deploy'), 1)?.$and).toEqual([
      { searchText: { $regex: '\\ 京\\ ' } },
      { searchText: { $regex: 'deploy' } },
      { searchText: { $not: { $regex: '\\ deploy\\ ' } } },
    ]);
  });

  it('restates the search index’s partial filter in every query', () => {
    const filter = tierFilter(scope, parseQuery('deploy'), 1)!;
    expect(filter.searchText).toEqual(SEARCH_INDEX.partialFilterExpression!.searchText);
    expect(SEARCH_INDEX.key).toEqual({ conv: 1, searchId: -1, searchText: 1 });
  });
});

describe('parseSearchCursor and scopeConversations', () => {
  it('reads the cursors searchPage gives out, and refuses anything else', () => {
    expect(parseSearchCursor(undefined)).toEqual({ tier: 0 });
    expect(parseSearchCursor({ tier: 1, position: '17' })).toEqual({ tier: 1, below: 17 });
    expect(parseSearchCursor({ tier: 0, position: '-3' })).toEqual({ tier: 0, below: -3 });
    for (const bad of [
      { tier: 2, position: '1' },
      { tier: 0, position: '' },
      { tier: 0, position: '1.5' },
      { tier: 0, position: '1e3' },
      { tier: 0, position: '99999999999999999' },
      { tier: 0, position: '{"$gt":1}' },
    ]) {
      expect(() => parseSearchCursor(bad as never), JSON.stringify(bad)).toThrow(ChatError);
    }
  });

  it('searches the member conversations, or only the asked one when the searcher is a member', () => {
    expect(scopeConversations([c1, c2, c1])).toEqual([c1, c2]);
    expect(scopeConversations([c1, c2], c2)).toEqual([c2]);
    expect(scopeConversations([c1, c2], c3)).toEqual([]);
  });
});

describe('search documents and the schema-6 backfill', () => {
  const doc = (id: string, body: string, extra: Partial<MessageDoc> = {}): MessageDoc => ({
    _id: asMessageId(id),
    conv: c1,
    seq: 1,
    sender: alice,
    clientMsgId: `k-${id}`,
    body,
    ts: 1,
    ...extra,
  });

  it('gives a new message its normal form and its place', () => {
    expect(withSearchFields(doc('m1', 'Café CRÈME!'), 7)).toEqual({
      ...doc('m1', 'Café CRÈME!'),
      searchId: 7,
      searchText: ' cafe creme ',
    });
  });

  it('numbers a batch newest first from the top of its block, each write conditional on no change', () => {
    const writes = backfillWrites(
      [doc('m3', 'newest'), doc('m2', '', { deleted: true }), doc('m1', 'Oldest one')],
      -3,
    );
    expect(writes).toEqual([
      {
        updateOne: {
          filter: { _id: 'm3', searchId: { $exists: false }, deleted: { $ne: true }, body: 'newest' },
          update: { $set: { searchId: -1, searchText: ' newest ' } },
        },
      },
      {
        updateOne: {
          filter: { _id: 'm2', searchId: { $exists: false }, deleted: true },
          update: { $set: { searchId: -2 } },
        },
      },
      {
        updateOne: {
          filter: { _id: 'm1', searchId: { $exists: false }, deleted: { $ne: true }, body: 'Oldest one' },
          update: { $set: { searchId: -3, searchText: ' oldest one ' } },
        },
      },
    ]);
  });
});

// --- the filters evaluated in memory ------------------------------------------------------

/** Whether `doc` matches `filter`, for the operators search uses (any other throws). */
function matches(doc: MessageDoc, filter: Filter<MessageDoc>): boolean {
  const record = doc as unknown as Record<string, unknown>;
  return Object.entries(filter).every(([key, condition]) => {
    if (key === '$and') return (condition as Filter<MessageDoc>[]).every((f) => matches(doc, f));
    if (key === '$or') return (condition as Filter<MessageDoc>[]).some((f) => matches(doc, f));
    if (key.startsWith('$')) throw new Error(`unmodelled operator ${key}`);
    return holds(record[key], condition);
  });
}

function holds(value: unknown, condition: unknown): boolean {
  if (condition === null || typeof condition !== 'object' || Array.isArray(condition)) {
    return value === condition;
  }
  return Object.entries(condition).every(([op, arg]) => {
    switch (op) {
      case '$in':
        return (arg as unknown[]).includes(value);
      case '$exists':
        return (value !== undefined) === arg;
      case '$ne':
        return value !== arg;
      case '$lt':
        return typeof value === 'number' && value < (arg as number);
      case '$gte':
        return typeof value === 'number' && value >= (arg as number);
      case '$regex':
        return typeof value === 'string' && new RegExp(arg as string).test(value);
      case '$not':
        return !holds(value, arg);
      default:
        throw new Error(`unmodelled operator ${op}`);
    }
  });
}

/** A collection in memory: what `find(filter).sort({searchId: -1}).limit(n)` returns. */
function memoryFind(docs: readonly MessageDoc[]): FindNewestFirst {
  return async (filter, limit) => {
    expect(limit).toBeGreaterThan(0);
    return docs
      .filter((d) => matches(d, filter))
      .sort((a, b) => b.searchId! - a.searchId!)
      .slice(0, limit);
  };
}

/** Every hit of a search, page by page. */
async function searchAll(docs: MessageDoc[], scope: SearchScope, q: string, limit: number) {
  const query = parseQuery(q);
  const hits: string[] = [];
  let cursor: Parameters<typeof parseSearchCursor>[0];
  for (let page = 0; page < 1000; page++) {
    const result = await searchPage(scope, query, limit, parseSearchCursor(cursor), memoryFind(docs));
    // A cursor only after a full page.
    if (result.next) expect(result.hits).toHaveLength(limit);
    else expect(result.hits.length).toBeLessThanOrEqual(limit);
    hits.push(...result.hits.map((h) => h.id as string));
    if (!result.next) return hits;
    cursor = result.next;
  }
  throw new Error('search did not end');
}

describe('searchPage over the filters, in memory', () => {
  /** Messages in storage order; `searchId` as the store gives it (backfilled ones below 0). */
  function store(entries: { conv: ConversationId; body: string; deleted?: boolean; sender?: string }[]) {
    const backfilled = Math.floor(entries.length / 3);
    return entries.map((e, i): MessageDoc => {
      const base: MessageDoc = {
        _id: asMessageId(`m${i}`),
        conv: e.conv,
        seq: i + 1,
        sender: asUserId(e.sender ?? 'alice'),
        clientMsgId: `k${i}`,
        body: e.deleted ? '' : e.body,
        ts: 1000 + i,
      };
      // The first third as the schema-6 upgrade numbers them (-1 the newest of them), the rest from the counter.
      const searchId = i < backfilled ? i - backfilled : i + 1;
      if (e.deleted) return { ...base, deleted: true, searchId };
      return withSearchFields(base, searchId);
    });
  }

  it('ranks whole words first, then the rest, newest first, across every page size', async () => {
    const bodies = ['a cat', 'concatenate', 'cat food', 'catalog', 'the cat'];
    const docs = store(bodies.map((body) => ({ conv: c1, body })));
    for (const limit of [1, 2, 3, 5, 6, 50]) {
      const ids = await searchAll(docs, { convs: [c1] }, 'cat', limit);
      expect(ids.map((id) => docs.find((d) => d._id === id)!.body)).toEqual([
        'the cat',
        'cat food',
        'a cat',
        'catalog',
        'concatenate',
      ]);
    }
  });

  it('ends with next null on a short page, and a full last page leads to an empty one', async () => {
    const docs = store(Array.from({ length: 6 }, (_, i) => ({ conv: c1, body: `report ${i}` })));
    const query = parseQuery('report');
    const find = memoryFind(docs);
    const all = await searchPage({ convs: [c1] }, query, 6, { tier: 0 }, find);
    expect(all.hits).toHaveLength(6);
    expect(all.next).not.toBeNull();
    const after = await searchPage({ convs: [c1] }, query, 5, parseSearchCursor(all.next!), find);
    expect(after).toEqual({ hits: [], next: null });
    expect((await searchPage({ convs: [c1] }, query, 7, { tier: 0 }, find)).next).toBeNull();
    expect(await searchPage({ convs: [c1] }, query, 0, { tier: 0 }, find)).toEqual({ hits: [], next: null });
    expect(await searchPage({ convs: [] }, query, 5, { tier: 0 }, find)).toEqual({ hits: [], next: null });
  });

  it('agrees with a brute-force scan over random bodies, scopes, filters and page sizes', async () => {
    const words = [
      'alpha',
      'alpine',
      'beta',
      'gamma',
      'delta',
      'deltas',
      '東京',
      'café',
      'x1',
      'omega',
      'a.b',
    ];
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const docs = store(
      Array.from({ length: 400 }, () => ({
        conv: pick([c1, c2, c3]),
        body: Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(words)).join(' '),
        deleted: random() < 0.08,
        sender: pick(['alice', 'bob']),
      })),
    );
    let checked = 0;
    for (const q of [
      'alp',
      'delta',
      'gamma beta',
      '東京',
      '京',
      'cafe',
      'x1',
      '"beta gamma"',
      'mega',
      'a.b',
    ]) {
      const query = parseQuery(q);
      for (const scope of [
        { convs: [c1, c2, c3] },
        { convs: [c2] },
        { convs: [c1, c3], author: bob },
        { convs: [c1, c2, c3], after: 1100, before: 1300 },
      ] as SearchScope[]) {
        const inScope = (d: MessageDoc) =>
          scope.convs.includes(d.conv) &&
          d.deleted !== true &&
          (scope.author === undefined || d.sender === scope.author) &&
          (scope.after === undefined || d.ts >= scope.after) &&
          (scope.before === undefined || d.ts < scope.before);
        const newest = (a: MessageDoc, b: MessageDoc) => b.searchId! - a.searchId!;
        const hits = docs.filter((d) => inScope(d) && matchesAll(d.body, query));
        const expected = [
          ...hits.filter((d) => matchesAllWords(d.body, query)).sort(newest),
          ...hits.filter((d) => !matchesAllWords(d.body, query)).sort(newest),
        ].map((d) => d._id as string);
        for (const limit of [3, 7, 500]) {
          expect(await searchAll(docs, scope, q, limit), `${q} ${JSON.stringify(scope)} ${limit}`).toEqual(
            expected,
          );
        }
        checked += expected.length;
      }
    }
    expect(checked).toBeGreaterThan(300);
  });

  it('finds a message by its search text only: a tombstone or a stale body never matches', async () => {
    const docs = [
      withSearchFields(
        { _id: asMessageId('a'), conv: c1, seq: 1, sender: alice, clientMsgId: 'a', body: 'x', ts: 1 },
        1,
      ),
    ];
    // As an edit writes it: the body and its search text together.
    docs[0] = { ...docs[0]!, body: 'receipt attached', searchText: searchText('receipt attached') };
    expect(await searchAll(docs, { convs: [c1] }, 'receipt', 5)).toEqual(['a']);
    // As a delete writes it: no search text.
    const { searchText: _, ...tombstone } = { ...docs[0]!, body: '', deleted: true as const };
    expect(await searchAll([tombstone], { convs: [c1] }, 'receipt', 5)).toEqual([]);
  });
});
