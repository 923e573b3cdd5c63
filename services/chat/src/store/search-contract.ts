import { randomUUID } from 'node:crypto';
import { asUserId, type ConversationId, type UserId } from '@relay-chat/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { matchesAll, matchesAllWords, parseQuery, QueryProblem } from '../search/search-text.js';
import type { AppendOutcome, MessageStore, SearchInput, StoredMessage } from './message-store.js';

/**
 * The search cases of the MessageStore contract (called from contract.ts with its store,
 * already migrated). Every test uses its own users, so results never mix between tests.
 */
export function describeSearch(getStore: () => MessageStore): void {
  describe('search', () => {
    let store: MessageStore;
    beforeAll(() => {
      store = getStore();
    });

    const user = (): UserId => asUserId(`s-${randomUUID()}`);
    let clock = 1_750_000_000_000;
    const now = () => (clock += 1000);
    const group = async (...members: UserId[]) => {
      const [createdBy, ...rest] = members;
      return (
        await store.createGroup(
          { name: `g-${randomUUID().slice(0, 8)}`, createdBy: createdBy!, members: rest },
          now(),
        )
      ).id;
    };
    /** Appends bodies one batch each (so storage order is the given order); returns their seqs. */
    const say = async (conv: ConversationId, sender: UserId, ...bodies: string[]) => {
      const seqs: number[] = [];
      for (const body of bodies) {
        const [outcome] = await store.append([{ conv, sender, clientMsgId: randomUUID(), body, ts: now() }]);
        seqs.push(stored(outcome!).seq);
      }
      return seqs;
    };
    /** Every hit of a search, following the cursor page by page. */
    const searchAll = async (input: Omit<SearchInput, 'query' | 'limit'> & { q: string; limit?: number }) => {
      const { q, limit = 50, ...rest } = input;
      const hits: StoredMessage[] = [];
      let cursor: SearchInput['cursor'];
      for (let page = 0; page < 100; page++) {
        const result = await store.search({
          ...rest,
          query: parseQuery(q),
          limit,
          ...(cursor ? { cursor } : {}),
        });
        hits.push(...result.hits);
        if (!result.next) return hits;
        cursor = result.next;
      }
      throw new Error('search did not end');
    };
    const bodies = async (input: Parameters<typeof searchAll>[0]) =>
      (await searchAll(input)).map((m) => m.body);

    it('finds whole words, word prefixes and substrings inside words, ignoring case and accents', async () => {
      const a = user();
      const g = await group(a, user());
      await say(
        g,
        a,
        'The Deployment failed',
        'we deploy on Fridays',
        'redeployed it',
        'Café crème',
        'nothing here',
      );
      expect(await bodies({ userId: a, q: 'deploy' })).toEqual([
        'we deploy on Fridays',
        'redeployed it',
        'The Deployment failed',
      ]);
      expect(await bodies({ userId: a, q: 'DEPLOYM' })).toEqual(['The Deployment failed']);
      expect(await bodies({ userId: a, q: 'ploy' })).toEqual([
        'redeployed it',
        'we deploy on Fridays',
        'The Deployment failed',
      ]);
      expect(await bodies({ userId: a, q: 'cafe CREME' })).toEqual(['Café crème']);
      expect(await bodies({ userId: a, q: 'crème' })).toEqual(['Café crème']);
    });

    it('matches two-letter words as word prefixes', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, 'go home', 'going out', 'ego trip', 'no');
      expect(await bodies({ userId: a, q: 'go' })).toEqual(['go home', 'going out']);
    });

    it('finds Chinese, Japanese and Korean text of any length inside longer runs', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, '我们明天在东京见面', '東京タワーに行きました', '학교에 갑니다', '京都は美しい');
      expect(await bodies({ userId: a, q: '东京' })).toEqual(['我们明天在东京见面']);
      expect(await bodies({ userId: a, q: '東京' })).toEqual(['東京タワーに行きました']);
      expect(await bodies({ userId: a, q: 'タワー' })).toEqual(['東京タワーに行きました']);
      expect(await bodies({ userId: a, q: '학교' })).toEqual(['학교에 갑니다']);
      // 京 is the same character in both scripts' 东京 / 東京.
      expect(await bodies({ userId: a, q: '京' })).toEqual([
        '京都は美しい',
        '東京タワーに行きました',
        '我们明天在东京见面',
      ]);
    });

    it('matches quoted phrases as phrases, and every term of a query', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, 'the quick brown fox', 'brown and quick', 'quick, brown!');
      expect(await bodies({ userId: a, q: '"quick brown"' })).toEqual([
        'quick, brown!',
        'the quick brown fox',
      ]);
      expect(await bodies({ userId: a, q: 'brown quick' })).toEqual([
        'quick, brown!',
        'brown and quick',
        'the quick brown fox',
      ]);
      expect(await bodies({ userId: a, q: 'brown fox zebra' })).toEqual([]);
      // An unbalanced quote quotes the rest.
      expect(await bodies({ userId: a, q: 'the "quick brown' })).toEqual(['the quick brown fox']);
    });

    it('finds emoji', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, 'shipped 🎉', 'no party', '🎉🎉 twice', '🚀 launch');
      expect(await bodies({ userId: a, q: '🎉' })).toEqual(['🎉🎉 twice', 'shipped 🎉']);
      expect(await bodies({ userId: a, q: '🚀 launch' })).toEqual(['🚀 launch']);
    });

    it('ranks whole-word matches first, then the rest, newest first within each', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, 'a cat', 'concatenate', 'cat food', 'catalog', 'the cat');
      expect(await bodies({ userId: a, q: 'cat' })).toEqual([
        'the cat',
        'cat food',
        'a cat',
        'catalog',
        'concatenate',
      ]);
    });

    it('pages with the cursor through every hit exactly once, across both tiers', async () => {
      const a = user();
      const g = await group(a, user());
      const texts = Array.from({ length: 23 }, (_, i) => (i % 3 === 0 ? `report ${i}` : `reporting ${i}`));
      await say(g, a, ...texts);
      const paged = await bodies({ userId: a, q: 'report', limit: 4 });
      const whole = await bodies({ userId: a, q: 'report', limit: 50 });
      expect(paged).toEqual(whole);
      expect(new Set(paged).size).toBe(23);
      const words = texts.filter((t) => t.startsWith('report ')).reverse();
      const rest = texts.filter((t) => t.startsWith('reporting')).reverse();
      expect(paged).toEqual([...words, ...rest]);
      const first = await store.search({ userId: a, query: parseQuery('report'), limit: 23 });
      expect(first.hits).toHaveLength(23);
      if (first.next) {
        expect(
          (await store.search({ userId: a, query: parseQuery('report'), limit: 5, cursor: first.next })).hits,
        ).toEqual([]);
      }
      expect((await store.search({ userId: a, query: parseQuery('report'), limit: 24 })).next).toBeNull();
    });

    it('narrows by conversation, author and time', async () => {
      const [a, b] = [user(), user()];
      const g1 = await group(a, b);
      const g2 = await group(a, b);
      const t0 = clock;
      await say(g1, a, 'budget one');
      await say(g1, b, 'budget two');
      const t1 = clock;
      await say(g2, a, 'budget three');
      await say(g2, b, 'budget four');
      expect(await bodies({ userId: a, q: 'budget', conv: g1 })).toEqual(['budget two', 'budget one']);
      expect(await bodies({ userId: a, q: 'budget', author: b })).toEqual(['budget four', 'budget two']);
      expect(await bodies({ userId: a, q: 'budget', after: t1 + 1 })).toEqual([
        'budget four',
        'budget three',
      ]);
      expect(await bodies({ userId: a, q: 'budget', before: t1 + 1 })).toEqual(['budget two', 'budget one']);
      expect(await bodies({ userId: a, q: 'budget', after: t0, before: t0 + 1001 })).toEqual(['budget one']);
      expect(await bodies({ userId: a, q: 'budget', conv: g2, author: a })).toEqual(['budget three']);
    });

    it('returns only conversations the searcher is a member of now', async () => {
      const [a, b, c] = [user(), user(), user()];
      const mine = await group(a, b);
      const left = await group(a, b);
      const never = await group(b, c);
      await say(mine, b, 'secret plan alpha');
      await say(left, b, 'secret plan beta');
      await say(never, b, 'secret plan gamma');
      expect(await store.removeMember(left, a)).toBe(true);
      expect(await bodies({ userId: a, q: 'secret plan' })).toEqual(['secret plan alpha']);
      expect(await bodies({ userId: a, q: 'secret', conv: never })).toEqual([]);
      expect(await bodies({ userId: c, q: 'secret' })).toEqual(['secret plan gamma']);
      await store.addMember(left, a, now());
      expect(await bodies({ userId: a, q: 'secret' })).toEqual(['secret plan beta', 'secret plan alpha']);
    });

    it('never returns a deleted message, and finds an edited one by its current text only', async () => {
      const [a, b] = [user(), user()];
      const g = await group(a, b);
      const [s1, s2] = await say(g, a, 'invoice draft', 'invoice final');
      await store.deleteMessage(g, s1!, a, now());
      expect(await bodies({ userId: b, q: 'invoice' })).toEqual(['invoice final']);
      await store.editMessage({ conv: g, seq: s2!, actor: a, body: 'receipt attached', now: now() });
      expect(await bodies({ userId: b, q: 'invoice' })).toEqual([]);
      const hits = await searchAll({ userId: b, q: 'receipt' });
      expect(hits.map((m) => [m.seq, m.body, m.editedAt !== undefined])).toEqual([
        [s2, 'receipt attached', true],
      ]);
      // An edit keeps the message's place among the others.
      await say(g, a, 'receipt later');
      await store.editMessage({ conv: g, seq: s2!, actor: a, body: 'receipt attached again', now: now() });
      expect(await bodies({ userId: b, q: 'receipt' })).toEqual(['receipt later', 'receipt attached again']);
    });

    it('treats query text as text: quotes, SQL, LIKE and regex metacharacters', async () => {
      const a = user();
      const g = await group(a, user());
      await say(g, a, "O'Reilly said 100% _done_", 'a.*b (c|d) [e] \\f', "'; DROP TABLE messages; --");
      for (const q of [
        "o'reilly",
        '100%',
        '_done_',
        'a.*b',
        '(c|d)',
        '[e]',
        "'; drop table",
        '\\f',
        'NEAR(a b)',
        'x OR y',
      ]) {
        // A query with nothing left to search ([e]: one letter) is refused before the store.
        if (!searchable(q)) continue;
        const hits = await searchAll({ userId: a, q });
        for (const hit of hits) expect(matchesAll(hit.body, parseQuery(q)), `${q} → ${hit.body}`).toBe(true);
      }
      expect(await bodies({ userId: a, q: "o'reilly" })).toEqual(["O'Reilly said 100% _done_"]);
      expect(await bodies({ userId: a, q: 'drop table' })).toEqual(["'; DROP TABLE messages; --"]);
    });

    it('agrees with a brute-force scan over random memberships, bodies and queries', async () => {
      const users = Array.from({ length: 12 }, () => user());
      const words = ['alpha', 'alpine', 'beta', 'gamma', 'delta', 'deltas', '東京', 'café', 'x1', 'omega'];
      let seed = 7;
      const random = () => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed / 2 ** 31;
      };
      const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
      const convs: ConversationId[] = [];
      for (let i = 0; i < 10; i++) {
        const members = users.filter(() => random() < 0.4);
        if (members.length < 2) members.push(...users.slice(0, 2).filter((u) => !members.includes(u)));
        convs.push(await group(...members));
      }
      const all: { conv: ConversationId; seq: number; body: string }[] = [];
      for (let i = 0; i < 300; i++) {
        const conv = pick(convs);
        const members = await store.listMembers(conv);
        const body = Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(words)).join(' ');
        const inputs = [{ conv, sender: pick(members), clientMsgId: randomUUID(), body, ts: now() }];
        const [outcome] = await store.append(inputs);
        all.push({ conv, seq: stored(outcome!).seq, body });
      }
      // Some messages go (deleted by the group's owner), then some members leave.
      for (let i = 0; i < 20; i++) {
        const m = pick(all);
        const owner = (await store.getConversation(m.conv))!.createdBy;
        await store.deleteMessage(m.conv, m.seq, owner, now());
        m.body = '';
      }
      for (let i = 0; i < 6; i++) {
        const conv = pick(convs);
        const members = await store.listMembers(conv);
        if (members.length > 2) await store.removeMember(conv, pick(members));
      }
      const memberOf = new Map<UserId, Set<ConversationId>>();
      for (const conv of convs)
        for (const u of await store.listMembers(conv)) {
          memberOf.set(u, (memberOf.get(u) ?? new Set()).add(conv));
        }
      const key = (conv: ConversationId, seq: number) => `${conv}/${seq}`;
      let checked = 0;
      for (const u of users) {
        for (const q of ['alp', 'delta', 'gamma beta', '東京', 'cafe', 'x1', '"beta gamma"', 'mega']) {
          const query = parseQuery(q);
          const expected = all
            .filter((m) => m.body !== '' && memberOf.get(u)?.has(m.conv) && matchesAll(m.body, query))
            .map((m) => key(m.conv, m.seq))
            .sort();
          const hits = await searchAll({ userId: u, q, limit: 40 });
          expect(hits.map((m) => key(m.conv, m.seq)).sort(), `${u} ${q}`).toEqual(expected);
          // Tier order: whole-word hits before the rest.
          const tiers = hits.map((m) => (matchesAllWords(m.body, query) ? 0 : 1));
          expect([...tiers].sort(), `${q} tiers`).toEqual(tiers);
          checked += expected.length;
        }
      }
      expect(checked).toBeGreaterThan(500);
    });
  });
}

function searchable(q: string): boolean {
  try {
    parseQuery(q);
    return true;
  } catch (err) {
    if (err instanceof QueryProblem) return false;
    throw err;
  }
}

function stored(outcome: AppendOutcome): StoredMessage {
  if ('refused' in outcome) throw new Error(`append refused: ${outcome.refused}`);
  return outcome.message;
}

/**
 * SEARCH_INDEX=off and back on, over one database: `open(searchIndex)` opens (and migrates)
 * a store on it. Off, appends are stored but not indexed and a search is `forbidden`, while
 * edits and deletes keep what was indexed true; back on, the store first indexes what was
 * stored meanwhile, and search finds exactly the live messages by their current text.
 */
export function describeSearchIndexSwitch(open: (searchIndex: boolean) => Promise<MessageStore>): void {
  it('indexes nothing with the index off, and catches up when it is back on', async () => {
    const [a, b] = [asUserId(`x-${randomUUID()}`), asUserId(`x-${randomUUID()}`)];
    let clock = 1_760_000_000_000;
    const now = () => (clock += 1000);
    const say = async (store: MessageStore, conv: ConversationId, body: string) => {
      const [outcome] = await store.append([{ conv, sender: a, clientMsgId: randomUUID(), body, ts: now() }]);
      return stored(outcome!).seq;
    };
    const find = async (store: MessageStore, q: string) =>
      (await store.search({ userId: b, query: parseQuery(q), limit: 50 })).hits.map((m) => [m.seq, m.body]);

    const on = await open(true);
    const g = (await on.createGroup({ name: 'switch', createdBy: a, members: [b] }, clock)).id;
    const [kept, deleted] = [await say(on, g, 'kestrel one'), await say(on, g, 'kestrel two')];
    expect(await find(on, 'kestrel')).toEqual([
      [deleted, 'kestrel two'],
      [kept, 'kestrel one'],
    ]);
    await on.close();

    const off = await open(false);
    const later = await say(off, g, 'kestrel three');
    const gone = await say(off, g, 'kestrel four');
    const other = await say(off, g, 'osprey five');
    await off.editMessage({ conv: g, seq: kept, actor: a, body: 'harrier one', now: now() });
    await off.deleteMessage(g, deleted, a, now());
    await off.deleteMessage(g, gone, a, now());
    await expect(find(off, 'kestrel')).rejects.toMatchObject({ code: 'forbidden' });
    await off.close();

    const back = await open(true);
    try {
      expect(await find(back, 'kestrel')).toEqual([[later, 'kestrel three']]);
      expect(await find(back, 'harrier')).toEqual([[kept, 'harrier one']]);
      expect(await find(back, 'osprey')).toEqual([[other, 'osprey five']]);
      const newest = await say(back, g, 'kestrel six');
      expect(await find(back, 'kestrel')).toEqual([
        [newest, 'kestrel six'],
        [later, 'kestrel three'],
      ]);
    } finally {
      await back.close();
    }
  });
}
