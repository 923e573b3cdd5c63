import { ChatError } from '@relay-chat/protocol';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type ParsedQuery, searchText } from '../search/search-text.js';
import { escapeLike, pageLimit } from './conversation-keys.js';
import type { SearchCursor, SearchInput } from './message-store.js';

/**
 * Message search on PostgreSQL (issue 14). `message_search` holds one row per live message:
 * its normal form `t = searchText(body)`, and the conversation, sender and time the filters
 * need, so that a candidate is judged from this row alone. `t` is indexed by pg_trgm's GIN
 * trigram index, which answers `t LIKE '%…%'`; PostgreSQL rechecks every candidate against
 * the pattern, so a hit is exactly a row whose text contains the pattern, whatever the
 * trigrams were. The row's `id` (a sequence) is the order of the results and the cursor.
 *
 * The rows are written by the statements that append, edit (in place: same id) and delete
 * messages (see postgres.ts); migration 0006 (`migrateSearch`) indexes the older ones.
 */

/** Messages read and indexed per round trip by the migration. */
const BACKFILL_BATCH = 5000;

/** Migration 0006_search: the table, its indexes, and every live message stored before it. */
export async function migrateSearch(db: Kysely<unknown>): Promise<void> {
  // pg_trgm ships with PostgreSQL (contrib); creating it needs the CREATE privilege on the
  // database (a trusted extension since PostgreSQL 13), which the owner of the chat database has.
  await sql`CREATE EXTENSION IF NOT EXISTS pg_trgm`.execute(db);
  await sql`CREATE TABLE message_search (
    id bigserial PRIMARY KEY,
    conv text NOT NULL,
    seq bigint NOT NULL,
    sender text NOT NULL,
    ts bigint NOT NULL,
    t text NOT NULL,
    CONSTRAINT message_search_message UNIQUE (conv, seq)
  )`.execute(db);
  // The messages stored so far, oldest first (by time: the order they were stored in, as
  // near as the rows tell), read through a cursor of the migration's transaction.
  await sql`DECLARE search_backfill NO SCROLL CURSOR FOR
    SELECT conv, seq, sender, ts, body FROM messages WHERE NOT deleted ORDER BY ts, conv, seq`.execute(db);
  for (;;) {
    const { rows } = await sql<{ conv: string; seq: string; sender: string; ts: string; body: string }>`
      FETCH ${sql.raw(String(BACKFILL_BATCH))} FROM search_backfill`.execute(db);
    if (rows.length === 0) break;
    await sql`
      INSERT INTO message_search (conv, seq, sender, ts, t)
      SELECT conv, seq, sender, ts, t
      FROM unnest(${rows.map((r) => r.conv)}::text[], ${rows.map((r) => r.seq)}::int8[],
        ${rows.map((r) => r.sender)}::text[], ${rows.map((r) => r.ts)}::int8[],
        ${rows.map((r) => searchText(r.body))}::text[]) WITH ORDINALITY AS r(conv, seq, sender, ts, t, i)
      ORDER BY i`.execute(db);
  }
  await sql`CLOSE search_backfill`.execute(db);
  // Built after the backfill: one bulk build instead of a million insertions.
  await sql`CREATE INDEX message_search_text ON message_search USING gin (t gin_trgm_ops)`.execute(db);
  // A conversation's rows newest first: the plan for users who see few messages.
  await sql`CREATE INDEX message_search_conv ON message_search (conv, id)`.execute(db);
}

/**
 * Up to this many messages in the searcher's conversations (their seqs added up), the
 * search walks each conversation's rows newest first (`message_search_conv`) and tests
 * each: cheap and independent of how common the words are. Past it, one query over the
 * whole table, where the planner chooses between the trigram index (rare words) and a walk
 * down the ids (common words).
 */
export const PER_CONVERSATION_MAX = 20_000;

export interface SearchPlan {
  /** Walk the searcher's conversations one by one (few messages) or search the whole table. */
  perConversation: boolean;
}

/** How to search for `input`: undefined when the searcher is in no conversation it allows. */
export async function planSearch<DB>(db: Kysely<DB>, input: SearchInput): Promise<SearchPlan | undefined> {
  const { rows } = await sql<{ n: number; visible: string | null }>`
    SELECT count(*)::int AS n, sum(c.last_seq) AS visible
    FROM members mb JOIN conversations c ON c.id = mb.conv
    WHERE mb.user_id = ${input.userId} ${input.conv === undefined ? sql`` : sql`AND mb.conv = ${input.conv}`}`.execute(
    db,
  );
  const row = rows[0];
  if (!row || row.n === 0) return undefined;
  return { perConversation: Number(row.visible ?? 0) <= PER_CONVERSATION_MAX };
}

/** A cursor's position (an index row id), checked: a whole number, else `validation_failed`. */
export function cursorPosition(cursor: SearchCursor | undefined): string | null {
  if (cursor === undefined) return null;
  const { tier, position } = cursor;
  if ((tier !== 0 && tier !== 1) || typeof position !== 'string' || !/^[0-9]{1,18}$/.test(position)) {
    throw new ChatError('validation_failed', 'bad search cursor', {
      fields: [{ field: '/cursor', message: 'not a cursor this search returned' }],
    });
  }
  return position;
}

/** `pattern` as a LIKE pattern matching it anywhere, bound as a parameter. */
function containing(pattern: string): RawBuilder<unknown> {
  return sql`s.t LIKE ${`%${escapeLike(pattern)}%`} ESCAPE '\\'`;
}

/**
 * The text condition of a tier on `message_search s`: tier 0, every term's `word` occurs
 * (which contains its `match`); tier 1, every `match` occurs but not every `word`.
 */
function tierCondition(query: ParsedQuery, tier: 0 | 1): RawBuilder<unknown> {
  const words = sql.join(
    query.terms.map((t) => containing(t.word)),
    sql` AND `,
  );
  if (tier === 0) return words;
  const matches = sql.join(
    query.terms.map((t) => containing(t.match)),
    sql` AND `,
  );
  return sql`${matches} AND NOT (${words})`;
}

/** The filters of `input` and the cursor's position, on `message_search s`. */
function filters(input: SearchInput, below: string | null): RawBuilder<unknown> {
  const parts: RawBuilder<unknown>[] = [];
  if (below !== null) parts.push(sql`s.id < ${below}::int8`);
  if (input.author !== undefined) parts.push(sql`s.sender = ${input.author}`);
  if (input.before !== undefined) parts.push(sql`s.ts < ${input.before}`);
  if (input.after !== undefined) parts.push(sql`s.ts >= ${input.after}`);
  return parts.length === 0 ? sql`` : sql`AND ${sql.join(parts, sql` AND `)}`;
}

/**
 * The ids and keys of at most `n` hits of one tier, newest first, below `below` (an id)
 * when given: a subquery for `FROM (…) h`, columns `id`, `conv`, `seq`.
 */
export function tierHits(
  input: SearchInput,
  plan: SearchPlan,
  tier: 0 | 1,
  below: string | null,
  n: number,
): RawBuilder<unknown> {
  const text = tierCondition(input.query, tier);
  const more = filters(input, below);
  const mine = sql`mb.user_id = ${input.userId} ${input.conv === undefined ? sql`` : sql`AND mb.conv = ${input.conv}`}`;
  if (plan.perConversation) {
    // Each conversation's newest hits (message_search_conv, backwards), then the newest of all.
    return sql`
      SELECT x.id, x.conv, x.seq FROM members mb
      CROSS JOIN LATERAL (
        SELECT s.id, s.conv, s.seq FROM message_search s
        WHERE s.conv = mb.conv AND ${text} ${more}
        ORDER BY s.id DESC LIMIT ${n}
      ) x
      WHERE ${mine}
      ORDER BY x.id DESC LIMIT ${n}`;
  }
  return sql`
    SELECT s.id, s.conv, s.seq FROM message_search s
    WHERE s.conv IN (SELECT mb.conv FROM members mb WHERE ${mine}) AND ${text} ${more}
    ORDER BY s.id DESC LIMIT ${n}`;
}

/** The number of hits to look for: one past the page, to tell whether there are more. */
export function hitsWanted(limit: number): number {
  return pageLimit(limit) + 1;
}
