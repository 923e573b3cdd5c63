import { type ConversationId, type SearchHit, toChatError } from '@relay-chat/protocol';
import { neutraliseBidi } from './safe-text.js';

/** Fewer characters than this (trimmed) ask the server nothing: the switcher only filters names. */
export const MIN_SEARCH_CHARS = 2;
/** Keystrokes closer than this are one search. */
export const SEARCH_DEBOUNCE_MS = 200;
/** A snippet shows about this many characters of a long message. */
export const SNIPPET_CHARS = 160;
/** …of which at most this many come before the first match. */
const SNIPPET_LEAD = 48;

/** A piece of a snippet: text, highlighted (`mark`) or not. Rendered as text, never as HTML. */
export interface SnippetPart {
  text: string;
  mark: boolean;
}

/**
 * The server's `matches` made safe to slice with: inside the body, non-empty, ascending,
 * overlapping or touching ranges merged. A malformed range is dropped, never trusted.
 */
export function normaliseMatches(
  length: number,
  matches: readonly (readonly [number, number])[] | undefined,
): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (const range of matches ?? []) {
    const start = Math.max(0, Math.min(length, Math.trunc(Number(range?.[0]))));
    const end = Math.max(0, Math.min(length, Math.trunc(Number(range?.[1]))));
    if (Number.isFinite(start) && Number.isFinite(end) && end > start) ranges.push([start, end]);
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: Array<[number, number]> = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && range[0] <= last[1]) last[1] = Math.max(last[1], range[1]);
    else merged.push([range[0], range[1]]);
  }
  return merged;
}

/**
 * One line of a message body for a search result, with the matched ranges marked: the whole
 * body when short, else a window of about SNIPPET_CHARS starting a little before the first
 * match (an ellipsis where it is cut). Whitespace runs become one space and bidi controls
 * are removed, piece by piece, so the offsets of the server's ranges stay right.
 */
export function snippetParts(
  body: string,
  matches: readonly (readonly [number, number])[] | undefined,
  maxChars: number = SNIPPET_CHARS,
): SnippetPart[] {
  const ranges = normaliseMatches(body.length, matches);
  let from = 0;
  let to = body.length;
  if (body.length > maxChars) {
    const first = ranges[0]?.[0] ?? 0;
    from = Math.max(0, first - SNIPPET_LEAD);
    // Start at a word when one begins shortly before the cut.
    if (from > 0) {
      const space = body.slice(from, first).search(/\s/);
      if (space >= 0 && space < 16) from += space + 1;
    }
    to = Math.min(body.length, from + maxChars);
    // Never cut a match in two, nor a surrogate pair.
    for (const [start, end] of ranges) if (start < to && end > to) to = end;
    if (isLowSurrogate(body.charCodeAt(from))) from += 1;
    if (to < body.length && isLowSurrogate(body.charCodeAt(to))) to += 1;
  }
  const parts: SnippetPart[] = [];
  const push = (start: number, end: number, mark: boolean) => {
    if (end <= start) return;
    const text = neutraliseBidi(body.slice(start, end)).replace(/\s+/g, ' ');
    if (text === '') return;
    const last = parts.at(-1);
    if (last && last.mark === mark) last.text += text;
    else parts.push({ text, mark });
  };
  let at = from;
  for (const [start, end] of ranges) {
    if (end <= from || start >= to) continue;
    push(at, Math.max(at, start), false);
    push(Math.max(at, start), Math.min(end, to), true);
    at = Math.min(end, to);
  }
  push(at, to, false);
  // Trim the outer whitespace of the line (a body starting with a newline).
  if (parts[0] && !parts[0].mark) parts[0].text = parts[0].text.trimStart();
  const tail = parts.at(-1);
  if (tail && !tail.mark) tail.text = tail.text.trimEnd();
  const kept = parts.filter((p) => p.text !== '');
  if (from > 0) kept.unshift({ text: '…', mark: false });
  if (to < body.length) kept.push({ text: '…', mark: false });
  return mergeAdjacent(kept);
}

function mergeAdjacent(parts: SnippetPart[]): SnippetPart[] {
  const out: SnippetPart[] = [];
  for (const part of parts) {
    const last = out.at(-1);
    if (last && last.mark === part.mark) last.text += part.text;
    else out.push({ ...part });
  }
  return out;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** The hits of one conversation, in the order the server ranked them. */
export interface HitGroup {
  conv: ConversationId;
  hits: SearchHit[];
}

/**
 * Groups hits by conversation: groups in the order of their best hit, hits in server order
 * within a group. A hit seen twice (pages that overlap after a new message) is kept once.
 */
export function groupHits(hits: readonly SearchHit[]): HitGroup[] {
  const groups = new Map<ConversationId, HitGroup>();
  const seen = new Set<string>();
  for (const hit of hits) {
    const key = `${hit.message.conv}\u0000${hit.message.seq}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let group = groups.get(hit.message.conv);
    if (!group) {
      group = { conv: hit.message.conv, hits: [] };
      groups.set(hit.message.conv, group);
    }
    group.hits.push(hit);
  }
  return [...groups.values()];
}

/** Whether the query is long enough to ask the server (the switcher filters names anyway). */
export function searchable(query: string): boolean {
  return [...query.trim()].length >= MIN_SEARCH_CHARS;
}

/** "just now", "5 min ago", "3 h ago", "Yesterday", then a date: when a hit was sent. */
export function relativeTime(ts: number, now: number, locale?: string): string {
  const seconds = Math.round((now - ts) / 1000);
  if (seconds < 60) return 'just now';
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days === 1) return 'Yesterday';
  if (days < 7) return `${days} days ago`;
  const date = new Date(ts);
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(locale, {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}

/** A reader-facing sentence for a failed search. */
export function searchErrorText(err: unknown): string {
  const error = toChatError(err);
  switch (error.code) {
    case 'validation_failed':
      return 'Type a word of two letters or more (at most 256 characters, 8 words).';
    case 'rate_limited':
    case 'unavailable':
      return 'Too many searches right now. Wait a moment and type again.';
    case 'forbidden':
      return 'Message search is turned off on this server.';
    default:
      return `Search failed: ${error.message}`;
  }
}
