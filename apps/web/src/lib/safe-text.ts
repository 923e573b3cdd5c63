/**
 * Turning untrusted text (message bodies, conversation names) into pieces React renders as
 * text. Nothing here produces HTML: links come back as `{kind:'link', href}` segments whose
 * href is an http(s) URL re-serialised by the URL parser; every other scheme stays text.
 */

/** Explicit bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069). */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/**
 * Removes the bidi control characters that could reorder the text around a message (an
 * unterminated RLO flips everything after it). Implicit marks (LRM/RLM) are kept: they
 * cannot leak past the `<bdi>` the message is rendered in.
 */
export function neutraliseBidi(text: string): string {
  return text.replace(BIDI_CONTROLS, '');
}

/** Whether the text carried any bidi control character (shown as a hint next to the message). */
export function hasBidiControls(text: string): boolean {
  BIDI_CONTROLS.lastIndex = 0;
  const found = BIDI_CONTROLS.test(text);
  BIDI_CONTROLS.lastIndex = 0;
  return found;
}

export type TextSegment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

// A URL candidate starts at a word boundary with http:// or https:// and runs to whitespace
// or a character that never appears unescaped in a URL someone typed.
const URL_CANDIDATE = /\bhttps?:\/\/[^\s<>"'`{}|\\^]+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?*_~]+$/;

/**
 * Splits text into plain and link segments. Only http: and https: URLs become links;
 * `javascript:`, `data:` and every other scheme stay text. Trailing punctuation and an
 * unbalanced closing bracket are left outside the link, as people write "see (https://x.y)."
 */
export function linkify(input: string): TextSegment[] {
  const text = neutraliseBidi(input);
  const segments: TextSegment[] = [];
  let cursor = 0;
  for (const match of text.matchAll(URL_CANDIDATE)) {
    const start = match.index;
    const raw = trimUrl(match[0]);
    const href = safeHref(raw);
    if (href === undefined) continue;
    if (start > cursor) segments.push({ kind: 'text', text: text.slice(cursor, start) });
    segments.push({ kind: 'link', text: raw, href });
    cursor = start + raw.length;
  }
  if (cursor < text.length) segments.push({ kind: 'text', text: text.slice(cursor) });
  return mergeText(segments);
}

/** The normalised href of an http(s) URL, or undefined for anything else. */
export function safeHref(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.hostname === '') return undefined;
  return url.href;
}

function trimUrl(candidate: string): string {
  let url = candidate;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING_PUNCTUATION, '');
    for (const [open, close] of [
      ['(', ')'],
      ['[', ']'],
    ] as const) {
      if (url.endsWith(close) && count(url, close) > count(url, open)) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

function count(text: string, char: string): number {
  let n = 0;
  for (const c of text) if (c === char) n += 1;
  return n;
}

function mergeText(segments: TextSegment[]): TextSegment[] {
  const out: TextSegment[] = [];
  for (const segment of segments) {
    const last = out.at(-1);
    if (segment.kind === 'text' && last?.kind === 'text') last.text += segment.text;
    else out.push(segment);
  }
  return out;
}
