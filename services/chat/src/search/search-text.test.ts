import { describe, expect, it } from 'vitest';
import {
  MAX_QUERY_CHARS,
  MAX_QUERY_TERMS,
  matchesAll,
  matchesAllWords,
  matchRanges,
  normalize,
  parseQuery,
  QueryProblem,
  searchText,
} from './search-text.js';

describe('searchText', () => {
  it('folds case and accents and separates words by one space', () => {
    expect(searchText('The  Café, CRÈME brûlée!')).toBe(' the cafe creme brulee ');
    expect(searchText("don't")).toBe(' don t ');
    expect(searchText('ＦＵＬＬ width')).toBe(' full width ');
    expect(searchText('')).toBe(' ');
    expect(searchText('!!! ???')).toBe(' ');
  });

  it('makes every CJK character and emoji a word of its own', () => {
    expect(searchText('東京タワー')).toBe(' 東 京 タ ワ ー ');
    expect(searchText('학교에 갑니다')).toBe(' 학 교 에 갑 니 다 ');
    expect(searchText('ship🎉it')).toBe(' ship 🎉 it ');
  });

  it('agrees with the general path on ASCII', () => {
    for (const text of ['Hello, World', 'a.b_c-d', 'x\ty\nz', '  100%  done ']) {
      expect(searchText(text)).toBe(normalize(`${text}é`).text.replace(/e $/, '').replace(/ $/, '') + ' ');
    }
  });
});

describe('parseQuery', () => {
  it('turns words into substring terms and short words into word prefixes', () => {
    expect(parseQuery('Deploy go x')).toEqual({
      terms: [
        { text: 'deploy', match: 'deploy', word: ' deploy ', phrase: false },
        { text: 'go', match: ' go', word: ' go ', phrase: false },
      ],
    });
  });

  it('keeps quoted phrases whole, and an unbalanced quote quotes the rest', () => {
    expect(parseQuery('"quick, brown" fox').terms.map((t) => [t.text, t.phrase])).toEqual([
      ['quick brown', true],
      ['fox', false],
    ]);
    expect(parseQuery('the "quick brown').terms.map((t) => t.text)).toEqual(['the', 'quick brown']);
  });

  it('looks CJK and emoji up at any length', () => {
    expect(parseQuery('京').terms[0]!.match).toBe(' 京 ');
    expect(parseQuery('東京').terms[0]!.match).toBe('東 京');
    expect(parseQuery('🎉').terms[0]!.match).toBe(' 🎉 ');
  });

  it('refuses what cannot be searched', () => {
    for (const q of ['', 'a', '!!!', '""', 'x'.repeat(MAX_QUERY_CHARS + 1)]) {
      expect(() => parseQuery(q), q.slice(0, 20)).toThrow(QueryProblem);
    }
    const many = Array.from({ length: MAX_QUERY_TERMS + 1 }, (_, i) => `word${i}`).join(' ');
    expect(() => parseQuery(many)).toThrow(QueryProblem);
    expect(parseQuery('abc abc ABC').terms).toHaveLength(1);
  });
});

describe('matching and highlighting', () => {
  it('finds the ranges of the original text, accents and CJK included', () => {
    const body = 'The Deployment of Café failed at 東京';
    const ranges = matchRanges(body, parseQuery('deploy cafe 東京'));
    expect(ranges.map(([s, e]) => body.slice(s, e))).toEqual(['Deploy', 'Café', '東京']);
  });

  it('merges overlapping ranges and highlights a short term where a word starts', () => {
    const body = 'going ego go';
    expect(matchRanges(body, parseQuery('go')).map(([s, e]) => body.slice(s, e))).toEqual(['go', 'go']);
    const overlap = 'abcdef';
    expect(matchRanges(overlap, parseQuery('abcd cdef'))).toEqual([[0, 6]]);
  });

  it('tells whole-word matches from the rest', () => {
    const q = parseQuery('cat');
    expect([matchesAll('a cat', q), matchesAllWords('a cat', q)]).toEqual([true, true]);
    expect([matchesAll('concatenate', q), matchesAllWords('concatenate', q)]).toEqual([true, false]);
    expect(matchesAll('dog', q)).toBe(false);
  });
});
