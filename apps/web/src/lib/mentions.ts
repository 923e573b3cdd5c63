import { LIMITS, type User, type UserId } from '@relay-chat/protocol';

/** Characters a username is made of (the auth service's rule: letters, digits, `_`, `-`, `.`). */
const NAME_CHAR = /[\p{L}\p{N}_.-]/u;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The members an outgoing body mentions: each `@username` of a member written as a word of
 * its own (case-insensitive), as user ids, deduplicated, in order of first mention, without
 * the sender (the server drops them too), at most LIMITS.maxMentions.
 */
export function mentionsIn(body: string, members: readonly User[], me: UserId | undefined): UserId[] {
  const found: Array<{ at: number; id: UserId }> = [];
  // Longest names first, so "@ann" does not claim the start of "@anna".
  for (const member of [...members].sort((a, b) => b.username.length - a.username.length)) {
    if (member.id === me) continue;
    const re = new RegExp(
      `(^|[^\\p{L}\\p{N}_@.-])@${escapeRegExp(member.username)}(?![\\p{L}\\p{N}_-])`,
      'giu',
    );
    const match = re.exec(body);
    if (match) found.push({ at: match.index + match[1]!.length, id: member.id });
  }
  found.sort((a, b) => a.at - b.at);
  const ids: UserId[] = [];
  for (const { id } of found) if (!ids.includes(id)) ids.push(id);
  return ids.slice(0, LIMITS.maxMentions);
}

/** The `@query` being typed at the caret, if any: where its `@` is and what follows it. */
export function mentionQueryAt(text: string, caret: number): { start: number; query: string } | undefined {
  let i = caret;
  while (i > 0 && NAME_CHAR.test(text[i - 1]!)) i -= 1;
  if (i === 0 || text[i - 1] !== '@') return undefined;
  const at = i - 1;
  // The @ starts a word: start of text, or after a space or an opening punctuation.
  if (at > 0 && !/[\s([{"'“‘]/u.test(text[at - 1]!)) return undefined;
  const query = text.slice(i, caret);
  if (query.length > 32) return undefined;
  return { start: at, query };
}

/** Members matching a query, names starting with it first, then containing it; at most `max`. */
export function mentionCandidates(
  members: readonly User[],
  query: string,
  me: UserId | undefined,
  max = 8,
): User[] {
  const q = query.toLowerCase();
  const others = members.filter((m) => m.id !== me && m.username !== 'unknown');
  const starts = others.filter((m) => m.username.toLowerCase().startsWith(q));
  const contains = others.filter((m) => !starts.includes(m) && m.username.toLowerCase().includes(q));
  const byName = (a: User, b: User) => a.username.localeCompare(b.username);
  return [...starts.sort(byName), ...contains.sort(byName)].slice(0, max);
}

/** The text with `@query` at `start` replaced by `@username `, and where the caret goes. */
export function completeMention(
  text: string,
  start: number,
  caret: number,
  username: string,
): { text: string; caret: number } {
  const insert = `@${username} `;
  const rest = text.slice(caret).replace(/^ /, '');
  return { text: text.slice(0, start) + insert + rest, caret: start + insert.length };
}

export type MentionPiece = { kind: 'text'; text: string } | { kind: 'mention'; text: string; id: UserId };

/**
 * Splits a text into plain runs and `@username` mentions of the given users (the ones the
 * message mentions by id: a name typed without a mention stays text).
 */
export function splitMentions(text: string, mentioned: ReadonlyMap<string, UserId>): MentionPiece[] {
  if (mentioned.size === 0 || !text.includes('@')) return [{ kind: 'text', text }];
  const names = [...mentioned.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const re = new RegExp(`(^|[^\\p{L}\\p{N}_@.-])@(${names.join('|')})(?![\\p{L}\\p{N}_-])`, 'giu');
  const pieces: MentionPiece[] = [];
  let last = 0;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    const at = match.index + match[1]!.length;
    const name = match[2]!;
    const id = mentioned.get(name.toLowerCase());
    if (id === undefined) continue;
    if (at > last) pieces.push({ kind: 'text', text: text.slice(last, at) });
    pieces.push({ kind: 'mention', text: `@${name}`, id });
    last = at + 1 + name.length;
    re.lastIndex = last;
  }
  if (last < text.length) pieces.push({ kind: 'text', text: text.slice(last) });
  return pieces.length > 0 ? pieces : [{ kind: 'text', text }];
}

/** Conversation mention state after the read marker moved to `seq` (markers only move forward). */
export function mentionsAfterRead(
  state: { unreadMentions?: number | undefined; mentionSeqs?: number[] | undefined },
  seq: number,
  lastSeq: number,
): { unreadMentions: number; mentionSeqs: number[] } {
  const seqs = state.mentionSeqs ?? [];
  const total = state.unreadMentions ?? seqs.length;
  const left = seqs.filter((s) => s > seq);
  // The listed seqs are the newest ones: those not listed are older than all of them.
  const unlisted = Math.max(0, total - seqs.length);
  const oldestListed = seqs[0];
  const unlistedLeft = seq >= lastSeq || (oldestListed !== undefined && seq >= oldestListed) ? 0 : unlisted;
  return { unreadMentions: left.length + unlistedLeft, mentionSeqs: left };
}
