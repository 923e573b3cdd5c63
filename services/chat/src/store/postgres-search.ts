import { ChatError } from '@relay-chat/protocol';
import type { Logger } from '@relay-chat/service-kit';
import { type Kysely, type QueryExecutorProvider, type RawBuilder, sql } from 'kysely';
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
    -- Finds the row of an edited or deleted message, and a conversation's rows: the plan for
    -- searchers who see few messages.
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
  // Built after the backfill: one bulk build instead of a million insertions, with more
  // memory than the default 64 MB for this transaction only (a third faster at 200,000 rows).
  await sql`SET LOCAL maintenance_work_mem = '256MB'`.execute(db);
  await sql`CREATE INDEX message_search_text ON message_search USING gin (t gin_trgm_ops)`.execute(db);
  // An author's rows newest first: the recent window of an author-filtered search.
  await sql`CREATE INDEX message_search_sender ON message_search (sender, id)`.execute(db);
  // Newest first by time: the order of a time-filtered search (see byTime).
  await sql`CREATE INDEX message_search_ts ON message_search (ts, id)`.execute(db);
}

/**
 * Indexes the live messages stored while appends were not indexed (SEARCH_INDEX=off), run
 * by `migrate()` with indexing on after a start with it off (see markSearchGap). Appends index in their own statement and edits and
 * deletes only touch existing rows, so each conversation's indexed messages are a prefix of
 * its seqs (over one period without indexing): the messages left are those after its last
 * indexed seq, found with one probe of `(conv, seq)` per conversation, oldest first so that
 * ids keep following time. A replica that indexed them at the same moment wins the row.
 */
async function indexLeftOver<DB>(db: Kysely<DB>): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await sql`DECLARE search_left_over NO SCROLL CURSOR FOR
      SELECT m.conv, m.seq, m.sender, m.ts, m.body
      FROM conversations c JOIN messages m ON m.conv = c.id
      WHERE NOT m.deleted
        AND m.seq > coalesce((SELECT max(s.seq) FROM message_search s WHERE s.conv = c.id), 0)
      ORDER BY m.ts, m.conv, m.seq`.execute(trx);
    let indexed = 0;
    for (;;) {
      const { rows } = await sql<{ conv: string; seq: string; sender: string; ts: string; body: string }>`
        FETCH ${sql.raw(String(BACKFILL_BATCH))} FROM search_left_over`.execute(trx);
      if (rows.length === 0) break;
      const texts = rows.map((r) => searchText(r.body));
      await sql`
        INSERT INTO message_search (conv, seq, sender, ts, t, pairs)
        SELECT conv, seq, sender, ts, t, string_to_array(pairs, ' ')
        FROM unnest(${rows.map((r) => r.conv)}::text[], ${rows.map((r) => r.seq)}::int8[],
          ${rows.map((r) => r.sender)}::text[], ${rows.map((r) => r.ts)}::int8[], ${texts}::text[],
          ${texts.map(pairsColumn)}::text[]) WITH ORDINALITY AS r(conv, seq, sender, ts, t, pairs, i)
        ORDER BY i
        ON CONFLICT ON CONSTRAINT message_search_message DO NOTHING`.execute(trx);
      indexed += rows.length;
    }
    await sql`CLOSE search_left_over`.execute(trx);
    return indexed;
  });
}

/**
 * At start: with indexing off, records that appends go unindexed from now on (a row in
 * `search_gap`); with it on, indexes what was stored while it was off, if anything, and
 * clears the record. Every replica of one database is expected to run with one setting.
 */
export async function markSearchGap<DB>(
  db: Kysely<DB>,
  searchIndex: boolean,
  logger?: Pick<Logger, 'info'>,
): Promise<void> {
  if (!searchIndex) {
    await sql`INSERT INTO search_gap (since) SELECT ${Date.now()}
      WHERE NOT EXISTS (SELECT 1 FROM search_gap)`.execute(db);
    return;
  }
  const { rows } = await sql<{ since: string }>`SELECT since FROM search_gap LIMIT 1`.execute(db);
  if (rows.length === 0) return;
  const indexed = await indexLeftOver(db);
  await sql`DELETE FROM search_gap`.execute(db);
  logger?.info(
    { indexed, since: Number(rows[0]!.since) },
    'indexed the messages stored while search was off',
  );
}

/**
 * Migration 0007_search_pairs: \`message_search.pairs\`, the pairs of adjacent CJK characters
 * (and emoji) of each message, with a GIN index, so that a CJK term of two characters or
 * more is looked up by its pairs.
 *
 * pg_trgm takes its trigrams word by word, and in the normal form every CJK character is a
 * word of its own: the trigrams of \` 東 京\` are only those of \`東\` and of \`京\` alone, so the
 * trigram index found every message holding both characters anywhere, and a common pair of
 * characters cost PostgreSQL a recheck of tens of thousands of rows (p95 124 ms at a million
 * messages). A pair (\`東京\`) is what a bigram index of CJK text looks up (pg_bigm, Lucene's
 * CJK analyzer); here it is an element of an array, indexed by GIN's own array operators.
 * The column is null when a message has no pairs (Latin text never has any: accents are
 * folded away), and the partial index holds only the messages that have some.
 *
 * Both text indexes keep new entries in their pending list (GIN's fast update) up to 64 MB,
 * so that no append is the one that merges a full pending list into the index (a second or
 * more, past the statement timeout); \`cleanPendingLists\` merges them in the background.
 */
export async function migrateSearchPairs(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE message_search ADD COLUMN pairs text[]`.execute(db);
  let last = 0;
  for (;;) {
    const { rows } = await sql<{ id: number; t: string }>`
      SELECT id, t FROM message_search WHERE id > ${last} AND t ~ '[^ -~] [^ -~] '
      ORDER BY id LIMIT ${BACKFILL_BATCH}`.execute(db);
    if (rows.length === 0) break;
    await sql`
      UPDATE message_search s SET pairs = string_to_array(x.pairs, ' ')
      FROM unnest(${rows.map((r) => r.id)}::int8[], ${rows.map((r) => pairsColumn(r.t))}::text[]) AS x(id, pairs)
      WHERE s.id = x.id AND x.pairs IS NOT NULL`.execute(db);
    last = rows[rows.length - 1]!.id;
  }
  await sql`SET LOCAL maintenance_work_mem = '256MB'`.execute(db);
  await sql`CREATE INDEX message_search_pairs ON message_search USING gin (pairs)
    WITH (gin_pending_list_limit = ${sql.lit(PENDING_LIST_KB)}) WHERE pairs IS NOT NULL`.execute(db);
  await sql`ALTER INDEX message_search_text SET (gin_pending_list_limit = ${sql.lit(PENDING_LIST_KB)})`.execute(
    db,
  );
}

/** Largest pending list of the text indexes, in kB (PostgreSQL's default is 4 MB). */
const PENDING_LIST_KB = 65_536;

/** The GIN indexes whose pending lists \`cleanPendingLists\` merges. */
const TEXT_INDEXES = ['message_search_text', 'message_search_pairs'] as const;

/** An advisory lock key: one cleaner at a time across the replicas sharing the database. */
const CLEANER_LOCK = 0x5eac4_0007;

/**
 * Merges the text indexes' pending lists into the indexes, unless another connection is
 * already doing it; run every second or so by each replica's store. A search reads the
 * pending entries too, so it is exact whatever is still pending; merging keeps the pending
 * list, which every search reads in full, short.
 */
export async function cleanPendingLists(db: Kysely<unknown>): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`
      SELECT pg_try_advisory_xact_lock(${CLEANER_LOCK}) AS locked`.execute(trx);
    if (!rows[0]?.locked) return;
    for (const index of TEXT_INDEXES) {
      await sql`SELECT gin_clean_pending_list(${index}::regclass)`.execute(trx);
    }
  });
}

/** The \`pairs\` column of a normal form, as bound by the statements: space-separated, or null. */
export function pairsColumn(text: string): string | null {
  const pairs = pairsOf(text);
  return pairs.length === 0 ? null : pairs.join(' ');
}

/** The pairs of adjacent one-character non-ASCII words of a normal form (\` 東 京 タ \`: \`東京\`, \`京タ\`). */
export function pairsOf(text: string): string[] {
  const words = text.split(' ');
  const pairs = new Set<string>();
  for (let i = 0; i + 1 < words.length; i++) {
    const a = words[i]!;
    const b = words[i + 1]!;
    if (standaloneNonAscii(a) && standaloneNonAscii(b)) pairs.add(a + b);
  }
  return [...pairs];
}

function standaloneNonAscii(word: string): boolean {
  const cp = word.codePointAt(0);
  return cp !== undefined && cp > 0x7e && word.length === (cp > 0xffff ? 2 : 1);
}

/**
 * Whether a search runs newest first by time (ts, then id) rather than by id: when it has a
 * time filter, so that its window starts at \`before\` through message_search_ts instead of
 * walking past every newer row. Both orders are the order messages were stored in (the
 * row's ts is its server time of acceptance); a cursor holds \`ts.id\` in this order.
 */
export function byTime(input: SearchInput): boolean {
  return input.after !== undefined || input.before !== undefined;
}

/** A position in \`ORDER BY\` terms: the id, or (ts, id) when searching by time. */
function position(input: SearchInput, alias: string): RawBuilder<unknown> {
  return byTime(input)
    ? sql`${sql.ref(`${alias}.ts`)}::text || '.' || ${sql.ref(`${alias}.id`)}::text`
    : sql`${sql.ref(`${alias}.id`)}::text`;
}

function order(input: SearchInput): RawBuilder<unknown> {
  return byTime(input) ? sql`s.ts DESC, s.id DESC` : sql`s.id DESC`;
}

/** The conversations a search looks in: the searcher's (those the `conv` filter allows). */
export interface SearchPlan {
  convs: string[];
}

/**
 * The conversations to search for `input`: undefined when there are none. Run in the
 * search's transaction (one snapshot), so membership is the membership when the search's
 * queries run. They go to the queries as a list of values, not a join: the planner then
 * estimates from message_search's statistics of `conv` how many rows they hold (a big
 * channel's share is among the most common values), and so chooses between the trigram
 * index (rare words), the conversations' rows (message_search_message: few messages) and a
 * walk down the ids that stops at the page's last hit (common words in many messages).
 * Through a join it guessed a user's share of the table from the number of conversations,
 * and intersected the trigram index with each conversation's rows even for a user who
 * sees a few hundred messages.
 */
export async function planSearch(
  db: QueryExecutorProvider,
  input: SearchInput,
): Promise<SearchPlan | undefined> {
  const { rows } = await sql<{ conv: string }>`
    SELECT mb.conv FROM members mb
    WHERE mb.user_id = ${input.userId} ${input.conv === undefined ? sql`` : sql`AND mb.conv = ${input.conv}`}`.execute(
    db,
  );
  return rows.length === 0 ? undefined : { convs: rows.map((r) => r.conv) };
}

/** A cursor's position (an index row id, or \`ts.id\` by time), checked: else \`validation_failed\`. */
export function cursorPosition(cursor: SearchCursor | undefined, input: SearchInput): string | null {
  if (cursor === undefined) return null;
  const { tier, position } = cursor;
  const shape = byTime(input) ? /^[0-9]{1,18}\.[0-9]{1,18}$/ : /^[0-9]{1,18}$/;
  if ((tier !== 0 && tier !== 1) || typeof position !== 'string' || !shape.test(position)) {
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
  if (below !== null) {
    const [ts, id] = below.split('.');
    parts.push(id === undefined ? sql`s.id < ${ts}::int8` : sql`(s.ts, s.id) < (${ts}::int8, ${id}::int8)`);
  }
  if (input.author !== undefined) parts.push(sql`s.sender = ${input.author}`);
  if (input.before !== undefined) parts.push(sql`s.ts < ${input.before}`);
  if (input.after !== undefined) parts.push(sql`s.ts >= ${input.after}`);
  return parts.length === 0 ? sql`` : sql`AND ${sql.join(parts, sql` AND `)}`;
}

/**
 * How many of the searcher's newest rows (after the filters) a search reads and tests
 * first. The planner cannot tell a common word from a rare one (pg_trgm estimates every
 * LIKE pattern as rare), so it sends common words to the trigram index, which then fetches
 * and sorts every row holding them: 17,000 rows and 400 ms for "there" at a million
 * messages. Reading the newest rows first finds a page of a common word at once; a word
 * that does not fill a page there is rare enough for the trigram index, which then looks
 * only below the window.
 */
export const RECENT_WINDOW = 5000;

/**
 * The hits of `tiers` (at most `n` of each) in the searcher's newest `window` rows
 * below `below` (a position), read once for all of them: columns `tier`, `pos` (the hit's
 * position), `conv`, `seq` (null when none), with on every row `low`, the position of the
 * window's last row when it is full, and `scanned`, how many rows it read (fewer than the
 * window: it read every row there is).
 */
export function recentHits(
  input: SearchInput,
  plan: SearchPlan,
  tiers: readonly (0 | 1)[],
  below: string | null,
  n: number,
  window = RECENT_WINDOW,
): RawBuilder<unknown> {
  const perTier = tiers.map(
    (tier) => sql`(SELECT ${sql.lit(tier)}::int AS tier, ${position(input, 's')} AS pos, s.conv, s.seq
      FROM w s WHERE ${tierCondition(input.query, tier)}
      ORDER BY ${order(input)} LIMIT ${n})`,
  );
  return sql`
    WITH w AS MATERIALIZED (
      SELECT s.id, s.ts, s.conv, s.seq, s.t FROM message_search s
      WHERE s.conv = ANY(${plan.convs}::text[]) ${filters(input, below)}
      ORDER BY ${order(input)} LIMIT ${window}
    )
    SELECT h.tier, h.pos, h.conv, h.seq, x.low, x.scanned
    FROM (
      SELECT (SELECT ${position(input, 's')} FROM w s ORDER BY ${order(input)} OFFSET ${window - 1}) AS low,
        (SELECT count(*)::int FROM w) AS scanned
    ) x
    LEFT JOIN LATERAL (${sql.join(perTier, sql` UNION ALL `)}) h ON true`;
}

/**
 * The ids and keys of at most `n` hits of one tier, newest first, below `below` (an id)
 * when given, found through the trigram index: a subquery for `FROM (…) h`, columns `id`,
 * `conv`, `seq`.
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
  // Every pair of a CJK term must be among the message's (whichever tier).
  const pairs = input.query.terms.flatMap((t) => pairsOf(t.match));
  const paired = pairs.length === 0 ? sql`` : sql`AND s.pairs @> ${pairs}::text[]`;
  return sql`
    SELECT ${position(input, 's')} AS pos, s.conv, s.seq FROM message_search s
    WHERE s.conv = ANY(${plan.convs}::text[]) AND ${text} ${paired} ${more}
    ORDER BY ${order(input)} LIMIT ${n}`;
}

/** The number of hits to look for: one past the page, to tell whether there are more. */
export function hitsWanted(limit: number): number {
  return pageLimit(limit) + 1;
}
