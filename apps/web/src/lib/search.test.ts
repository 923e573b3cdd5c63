import { asConversationId, asMessageId, asUserId, ChatError, type SearchHit } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import {
  groupHits,
  normaliseMatches,
  relativeTime,
  searchable,
  searchErrorText,
  snippetParts,
} from './search.js';

const hit = (conv: string, seq: number, body = 'x', matches: Array<[number, number]> = []): SearchHit => ({
  message: {
    conv: asConversationId(conv),
    seq,
    id: asMessageId(`${conv}-${seq}`),
    from: asUserId('u1'),
    body,
    ts: 1,
  },
  matches,
});

const render = (parts: { text: string; mark: boolean }[]) =>
  parts.map((p) => (p.mark ? `[${p.text}]` : p.text)).join('');

describe('search matches', () => {
  it('keeps ranges inside the body, sorted, merged, and drops empty or malformed ones', () => {
    expect(
      normaliseMatches(10, [
        [6, 8],
        [0, 2],
        [1, 3],
        [3, 4],
        [5, 5],
        [9, 40],
        [-3, 1],
        [Number.NaN, 2] as unknown as [number, number],
      ]),
    ).toEqual([
      [0, 4],
      [6, 8],
      [9, 10],
    ]);
    expect(normaliseMatches(3, undefined)).toEqual([]);
  });

  it('marks the matched ranges of a short body, as text pieces', () => {
    expect(
      render(
        snippetParts('Redeployed the café', [
          [2, 6],
          [15, 19],
        ]),
      ),
    ).toBe('Re[depl]oyed the [café]');
    expect(snippetParts('<b>x</b>', [[0, 3]])).toEqual([
      { text: '<b>', mark: true },
      { text: 'x</b>', mark: false },
    ]);
  });

  it('flattens lines and strips bidi controls without moving the highlights', () => {
    // U+202E (RLO) before the match: removed, and the match still lands on "word".
    expect(render(snippetParts('a\u202E\n\n  word end', [[6, 10]]))).toBe('a [word] end');
  });

  it('highlights UTF-16 ranges over emoji and CJK', () => {
    const body = 'ok 🎉 東京タワー';
    const party = body.indexOf('🎉');
    const tokyo = body.indexOf('東京');
    expect(
      render(
        snippetParts(body, [
          [party, party + 2],
          [tokyo, tokyo + 2],
        ]),
      ),
    ).toBe('ok [🎉] [東京]タワー');
  });

  it('cuts a long body around the first match, with ellipses, never inside a match', () => {
    const body = `${'lorem ipsum '.repeat(30)}zanzibar ${'dolor sit '.repeat(30)}`;
    const at = body.indexOf('zanzibar');
    const parts = snippetParts(body, [[at, at + 8]], 80);
    const text = render(parts);
    expect(text.startsWith('…')).toBe(true);
    expect(text.endsWith('…')).toBe(true);
    expect(text).toContain('[zanzibar]');
    expect(text.length).toBeLessThanOrEqual(84);
    // Starts at a word, not in the middle of one.
    expect(text.slice(1, 7)).toMatch(/^(lorem|ipsum)/);
    const long = `${'a'.repeat(70)} ${'b'.repeat(40)}`;
    expect(render(snippetParts(long, [[60, 111]], 50))).toContain(`[${'a'.repeat(10)} ${'b'.repeat(40)}]`);
  });

  it('shows the start of a long body with no match', () => {
    expect(render(snippetParts('word '.repeat(100), [], 20))).toBe('word word word word…');
  });
});

describe('search results', () => {
  it('groups hits by conversation in the order of each group’s best hit, once each', () => {
    const groups = groupHits([hit('a', 5), hit('b', 9), hit('a', 2), hit('b', 9), hit('c', 1)]);
    expect(groups.map((g) => [g.conv, g.hits.map((h) => h.message.seq)])).toEqual([
      ['a', [5, 2]],
      ['b', [9]],
      ['c', [1]],
    ]);
  });

  it('asks the server from two characters on', () => {
    expect(searchable(' a ')).toBe(false);
    expect(searchable('go')).toBe(true);
    expect(searchable('🎉')).toBe(false);
    expect(searchable('東京')).toBe(true);
  });

  it('says when a hit was sent relative to now', () => {
    const now = Date.UTC(2025, 5, 15, 12);
    expect(relativeTime(now - 5_000, now)).toBe('just now');
    expect(relativeTime(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe('3 h ago');
    expect(relativeTime(now - 30 * 3_600_000, now)).toBe('Yesterday');
    expect(relativeTime(now - 4 * 86_400_000, now)).toBe('4 days ago');
    expect(relativeTime(now - 40 * 86_400_000, now, 'en-GB')).toBe('6 May');
  });
  it('tells the reader why a search failed', () => {
    expect(searchErrorText(new ChatError('validation_failed', 'bad q'))).toMatch(/two letters or more/);
    expect(searchErrorText(new ChatError('rate_limited'))).toMatch(/Too many searches/);
    expect(searchErrorText(new ChatError('unavailable'))).toMatch(/Too many searches/);
    expect(searchErrorText(new ChatError('forbidden'))).toBe('Message search is turned off on this server.');
    expect(searchErrorText(new ChatError('internal', 'boom'))).toBe('Search failed: boom');
  });
});
