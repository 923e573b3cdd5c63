/**
 * The one normal form message search works on, shared by every store and by the code that
 * turns a hit into highlighted ranges. Each store indexes `searchText(body)` with its own
 * engine (SQLite FTS5's trigram tokenizer, PostgreSQL's pg_trgm, MongoDB's text index) and
 * asks for the `SearchTerm`s of a parsed query as substrings of it.
 *
 * The normal form:
 * - case folded and accents removed (NFKD, combining marks dropped, lower case): `Café`,
 *   `CAFE` and `café` are all `cafe`; full-width forms fold to their usual letters;
 * - words (runs of letters and digits) separated by exactly one space, everything else
 *   (punctuation, symbols, other spacing) a separator: `don't` is `don t`;
 * - every CJK character (Han, kana, Hangul) and every emoji a word of its own: `東京タワー`
 *   is `東 京 タ ワ ー`, so a CJK query of any length is a phrase of single characters,
 *   found wherever it occurs (CJK text has no spaces to split words on);
 * - one space before the first word and after the last.
 * So a word-prefix match is the substring `' ' + term`, a whole-word match
 * `' ' + term + ' '`, and every such pattern of a CJK or emoji term is at least three
 * characters long: the shortest a trigram index can look up.
 */

/** Characters that stand alone as words: CJK ideographs, kana, Hangul, emoji. */
const STANDALONE =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\p{Extended_Pictographic}]/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;
const COMBINING = /\p{M}/gu;
const NON_ASCII = /[^\p{ASCII}]/u;

/** The normal form of `text`. */
export function searchText(text: string): string {
  if (!NON_ASCII.test(text)) {
    const words = text.toLowerCase().split(/[^a-z0-9]+/);
    let out = ' ';
    for (const w of words) if (w !== '') out += `${w} `;
    return out;
  }
  return normalize(text).text;
}

/**
 * The normal form with, for each of its characters, the range of `text` (UTF-16 offsets)
 * it came from; the added spaces map to empty ranges at the separator that made them.
 */
export function normalize(text: string): { text: string; start: number[]; end: number[] } {
  let out = ' ';
  const start = [0];
  const end = [0];
  let inWord = false;
  let i = 0;
  for (const ch of text) {
    const from = i;
    i += ch.length;
    const folded = fold(ch);
    for (const c of folded) {
      if (STANDALONE.test(c)) {
        if (inWord) pushSpace(from);
        pushChar(c, from, i);
        pushSpace(i);
        inWord = false;
      } else if (WORD_CHAR.test(c)) {
        pushChar(c, from, i);
        inWord = true;
      } else if (inWord) {
        pushSpace(from);
        inWord = false;
      }
    }
  }
  if (inWord) pushSpace(i);
  return { text: out, start, end };

  // One entry per UTF-16 unit of the output, so that indexOf's offsets index them.
  function pushChar(c: string, from: number, to: number) {
    out += c;
    for (let k = 0; k < c.length; k++) {
      start.push(from);
      end.push(to);
    }
  }

  function pushSpace(at: number) {
    out += ' ';
    start.push(at);
    end.push(at);
  }
}

const foldCache = new Map<string, string>();

/** One character's folded form: NFKD without combining marks, recomposed (Hangul), lower case. */
function fold(ch: string): string {
  let folded = foldCache.get(ch);
  if (folded === undefined) {
    folded = ch.normalize('NFKD').replace(COMBINING, '').normalize('NFC').toLowerCase();
    if (foldCache.size < 50_000) foldCache.set(ch, folded);
  }
  return folded;
}

/**
 * One term of a query, in normal form without the outer spaces (`don t`, `東 京`).
 * - `match`: the substring a message's normal form must contain (at least 3 characters);
 * - `word`: the substring that makes it a whole-word (or whole-phrase) match.
 */
export interface SearchTerm {
  text: string;
  match: string;
  word: string;
  /** It was quoted. */
  phrase: boolean;
}

/** A parsed query: every term must match (AND). */
export interface ParsedQuery {
  terms: SearchTerm[];
}

/** Longest query, in UTF-16 code units. */
export const MAX_QUERY_CHARS = 256;
/** Most terms one query may have. */
export const MAX_QUERY_TERMS = 8;

/** Why a query cannot be searched; the route answers `validation_failed` with it. */
export class QueryProblem extends Error {}

/**
 * Parses what a user typed: words, and "quoted phrases" (an unbalanced quote quotes the
 * rest). Every term must occur. A term shorter than three characters in normal form
 * matches as a word prefix (`hi` finds `hi`, `high`, not `this`); a single letter or digit
 * is too short to search and is left out (a query of nothing else is a QueryProblem).
 * Punctuation and symbols do not match anything on their own.
 */
export function parseQuery(q: string): ParsedQuery {
  if (q.length > MAX_QUERY_CHARS) throw new QueryProblem(`at most ${MAX_QUERY_CHARS} characters`);
  const terms: SearchTerm[] = [];
  const seen = new Set<string>();
  const parts = q.split('"');
  for (let p = 0; p < parts.length; p++) {
    const part = parts[p]!;
    const quoted = p % 2 === 1;
    const pieces = quoted ? [part] : part.split(/\s+/);
    for (const piece of pieces) {
      const text = searchText(piece).trim();
      if (text === '' || seen.has(text)) continue;
      const term = toTerm(text, quoted);
      if (!term) continue;
      seen.add(text);
      terms.push(term);
    }
  }
  if (terms.length === 0) throw new QueryProblem('nothing to search: give a word of at least two letters');
  if (terms.length > MAX_QUERY_TERMS) throw new QueryProblem(`at most ${MAX_QUERY_TERMS} words or phrases`);
  return { terms };
}

function toTerm(text: string, phrase: boolean): SearchTerm | undefined {
  // Lengths in code points: what a trigram index counts.
  const length = [...text].length;
  const word = ` ${text} `;
  if (STANDALONE.test(firstChar(text))) {
    // A CJK or emoji term starts a word of its own: ' X' is always a word start, and a
    // single character is looked up with both its spaces (' X ', three characters).
    return { text, match: length >= 3 ? text : length === 1 ? word : ` ${text}`, word, phrase };
  }
  if (length >= 3) return { text, match: text, word, phrase };
  if (length === 2) return { text, match: ` ${text}`, word, phrase };
  return undefined;
}

function firstChar(text: string): string {
  return String.fromCodePoint(text.codePointAt(0)!);
}

/**
 * Where the terms occur in `body`: sorted, merged [start, end) UTF-16 ranges for
 * highlighting. Each term is looked for by its `match` pattern (so a short term is
 * highlighted where it starts a word).
 */
export function matchRanges(body: string, query: ParsedQuery): [number, number][] {
  const norm = normalize(body);
  const ranges: [number, number][] = [];
  for (const term of query.terms) {
    const pattern = term.match;
    // The pattern's own outer spaces are not highlighted.
    const lead = pattern.length - pattern.trimStart().length;
    const core = pattern.trim();
    let from = 0;
    for (;;) {
      const at = norm.text.indexOf(pattern, from);
      if (at < 0) break;
      const first = at + lead;
      const last = first + core.length - 1;
      ranges.push([norm.start[first]!, norm.end[last]!]);
      from = at + 1;
    }
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const prev = merged[merged.length - 1];
    if (prev && r[0] <= prev[1]) prev[1] = Math.max(prev[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/** Whether `body` matches every term (what an index lookup must agree with). */
export function matchesAll(body: string, query: ParsedQuery): boolean {
  const text = searchText(body);
  return query.terms.every((t) => text.includes(t.match));
}

/** Whether every term matches `body` as a whole word or phrase: the first rank of results. */
export function matchesAllWords(body: string, query: ParsedQuery): boolean {
  const text = searchText(body);
  return query.terms.every((t) => text.includes(t.word));
}
