import { intendedUsOf } from './bench-message.js';

/** History pages fetched per conversation and resume at most (200 messages each). */
export const MAX_RESUME_PAGES = 10;
const PAGE = 200;

/**
 * What an SDK client does after a reconnect: fetch a conversation's messages after the last
 * seq it has, up to the `lastSeq` that `ready` announced (later ones arrive live on the new
 * socket). Calls `onMessage` for each bench message in seq order; returns the last seq
 * covered. Bounded: a gap longer than MAX_RESUME_PAGES pages stays a gap (counted as lost).
 * Throws `history_<status>` when the server refuses.
 */
export async function fetchMissed(
  baseUrl: string,
  token: string,
  conv: string,
  after: number,
  lastSeq: number,
  onMessage: (seq: number, intendedUs: number | undefined) => void,
): Promise<number> {
  let covered = after;
  for (let page = 0; page < MAX_RESUME_PAGES && covered < lastSeq; page++) {
    const url = `${baseUrl}/api/chat/conversations/${encodeURIComponent(conv)}/messages?after=${covered}&limit=${PAGE}`;
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    if (!response.ok) throw `history_${response.status}`;
    const { messages } = (await response.json()) as { messages: { seq: number; body: string }[] };
    for (const m of messages) {
      if (m.seq > lastSeq) return lastSeq;
      covered = Math.max(covered, m.seq);
      onMessage(m.seq, intendedUsOf(m.body));
    }
    if (messages.length < PAGE) break;
  }
  return covered;
}
