import { ChatError, type ConversationId } from '@relay-chat/protocol';
import type Database from 'better-sqlite3';
import { type Kysely, type Migration, sql } from 'kysely';
import { type ParsedQuery, searchText } from '../search/search-text.js';
import type { SearchCursor, SearchInput } from './message-store.js';
import type { MessagesTable } from './sql-rows.js';

/**
 * Message search of the SQLite store (issue 14): SQLite's own FTS5 index with the trigram
 * tokenizer over each live message's normal form (`searchText(body)`).
 *
 * - `search_docs` gives every live message its index row id (`id`, the FTS rowid), in the
 *   order messages were stored: results are newest first by it, and a cursor is one.
 * - `message_fts` is contentless (`content=''`): the text is not stored a second time, only
 *   its trigrams; `contentless_delete=1` (SQLite >= 3.43) lets an edit replace a row in
 *   place and a delete remove it. `case_sensitive 1`: the normal form is already folded,
 *   so a match is exactly `searchText(body).includes(term.match)`, nothing folded further.
 *
 * The index follows the appends: an append writes nothing for it. The store lists what it
 * stored, once committed, as pending (`queue`, in memory); `catchUp` moves pending messages
 * into `search_docs` and `message_fts`, in the order they were stored, from their current
 * bodies — in transactions of up to 256 behind the appends (sqlite.ts, `indexNow`), and
 * always completely just before a search, which therefore sees every message this process
 * stored before it. Written with each append, as the gateway appends DMs (a message or two
 * at a time), the index cost a DM nearly as much server CPU again: each commit wrote a page
 * of search_docs and of each of its indexes, and FTS5 adds a segment per transaction.
 * (Migration 0007 had appends queue their messages in a table; that row, written and
 * deleted again, cost about a fifth of what indexing costs an append: 0010 drops it.)
 *
 * What a process stored but did not index before it stopped is found again by the first
 * catch-up of the next one (`recover`): per conversation, indexing has covered a prefix of
 * its seqs, so the live messages after the conversation's last indexed seq are the ones
 * left. One probe per conversation, once per process.
 *
 * An edit of an indexed message replaces its text (same rowid: the message keeps its
 * place), a delete removes both rows; a pending message needs neither (the catch-up reads it
 * as it is then).
 */

export const SEARCH_MIGRATION: Migration = {
  async up(db: Kysely<unknown>) {
    // ts_max: the latest ts of the rows up to this one (by id); ts_min: the earliest ts of
    // the rows from this one on. Both only grow with id, so a time filter becomes a range
    // of row ids the FTS scan seeks to (see timeBounds).
    await sql`CREATE TABLE search_docs (
      id INTEGER PRIMARY KEY,
      conv TEXT NOT NULL,
      seq INTEGER NOT NULL,
      ts_max INTEGER NOT NULL,
      ts_min INTEGER NOT NULL,
      UNIQUE (conv, seq)
    )`.execute(db);
    // (conv, id), for the member-driven plan; dropped by 0008 for UNIQUE (conv, seq).
    await sql`CREATE INDEX search_docs_conv ON search_docs (conv)`.execute(db);
    await sql`CREATE INDEX search_docs_ts_max ON search_docs (ts_max)`.execute(db);
    await sql`CREATE INDEX search_docs_ts_min ON search_docs (ts_min)`.execute(db);
    await sql`CREATE VIRTUAL TABLE message_fts USING fts5(
      t, tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1
    )`.execute(db);
    // Existing live messages, in the order they were sent (ts; conv, seq break ties).
    await sql`INSERT INTO search_docs (conv, seq, ts_max, ts_min)
      SELECT conv, seq, ts, ts FROM messages WHERE deleted = 0 ORDER BY ts, conv, seq`.execute(db);
    let last = 0;
    for (;;) {
      const { rows } = await sql<{ id: number; body: string }>`
        SELECT d.id, m.body FROM search_docs d JOIN messages m ON m.conv = d.conv AND m.seq = d.seq
        WHERE d.id > ${last} ORDER BY d.id LIMIT ${MIGRATION_BATCH}`.execute(db);
      if (rows.length === 0) break;
      const docs = JSON.stringify(rows.map((r) => [r.id, searchText(r.body)]));
      await sql`INSERT INTO message_fts (rowid, t) SELECT value ->> 0, value ->> 1 FROM json_each(${docs})`.execute(
        db,
      );
      last = rows[rows.length - 1]!.id;
    }
  },
};

const MIGRATION_BATCH = 2000;

/**
 * Migration 0007_search_deferred: the queue of messages stored but not yet indexed. An
 * append added one row per message to this table alone (its b-tree grows at one end), and
 * the catch-up moved them into search_docs and message_fts in batches. Dropped by 0010.
 */
export const SEARCH_DEFERRED_MIGRATION: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`CREATE TABLE search_queue (
      id INTEGER PRIMARY KEY,
      conv TEXT NOT NULL,
      seq INTEGER NOT NULL
    )`.execute(db);
  },
};

/**
 * Migration 0008_search_docs_one_conv_index: drops `search_docs (conv)`. The member-driven
 * plan reads a conversation's rows through `UNIQUE (conv, seq)` instead (its entries carry
 * the row id the plan filters on), so each catch-up writes one conversation-keyed b-tree
 * rather than two: each of those lands every message on a random page.
 */
export const SEARCH_ONE_CONV_INDEX_MIGRATION: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`DROP INDEX search_docs_conv`.execute(db);
  },
};

/**
 * FTS5's merge settings for `message_fts` (migration 0009_search_merge_settings): a level is
 * merged once it holds 8 segments (default 4), and a whole level at once only at 64 (default
 * 16). Each catch-up step writes a new segment at its commit, and with the defaults the merges
 * that followed made a step take up to a few hundred ms now and then, while appends waited on
 * the writer (after 300,000 messages, 60,000 more in batches of 32 on disk: largest step
 * 175–336 ms in five runs; with these settings 49–61 ms in three).
 */
export const FTS_AUTOMERGE = 8;
export const FTS_CRISISMERGE = 64;

export const SEARCH_MERGE_SETTINGS_MIGRATION: Migration = {
  // FTS5 takes a setting's value as a literal: a bound parameter is a "SQL logic error".
  async up(db: Kysely<unknown>) {
    await sql`INSERT INTO message_fts (message_fts, rank) VALUES ('automerge', ${sql.lit(FTS_AUTOMERGE)})`.execute(
      db,
    );
    await sql`INSERT INTO message_fts (message_fts, rank) VALUES ('crisismerge', ${sql.lit(FTS_CRISISMERGE)})`.execute(
      db,
    );
  },
};

/**
 * Migration 0010_search_pending_in_memory: the pending messages are listed in memory, and
 * those of a process that stopped are found again from the index itself (see `recover`), so
 * appends no longer write and delete a queue row each. What the queue held is found the same
 * way.
 */
export const SEARCH_QUEUE_DROP_MIGRATION: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`DROP TABLE search_queue`.execute(db);
  },
};

/** Counts the live messages not in the index yet (a check for tests and operators). */
export const UNINDEXED_COUNT_SQL = `SELECT count(*) AS n FROM messages m
  WHERE m.deleted = 0 AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.conv = m.conv AND d.seq = m.seq)`;

/**
 * Above this many messages (sum of `last_seq`) in the conversations searched, the index
 * drives the query; at or below it the searcher's own messages do. See `search`.
 */
export const MEMBER_DRIVEN_MAX = 20_000;

type Row = MessagesTable & { search_id: number };

interface Filters {
  user: string;
  conv: string | null;
  author: string | null;
  after: number;
  before: number;
  /** Row ids the time filter allows: low <= id <= high. */
  low: number;
  high: number;
}

const FILTERS = `m.deleted = 0 AND (@author IS NULL OR m.sender = @author)
  AND m.ts >= @after AND m.ts < @before`;

export function prepareSearch(db: Database.Database, messageColumns: readonly string[]) {
  const columns = messageColumns.map((c) => `m.${c}`).join(', ');
  // CROSS JOIN fixes the join order (SQLite's planner has no statistics to choose by): the
  // FTS index yields matches newest first (rowid DESC), each kept when its conversation is
  // one of the searcher's (a set built once) and the message passes the filters. Row ids are
  // bound as integers: FTS5 ignores a MATCH's `rowid =` constraint given a REAL value.
  const indexDriven = db.prepare<Filters & { q: string; pos: number; limit: number }, Row>(
    `SELECT d.id AS search_id, ${columns}
     FROM message_fts f CROSS JOIN search_docs d CROSS JOIN messages m
     WHERE f.message_fts MATCH @q AND f.rowid < CAST(@pos AS INTEGER)
       AND f.rowid >= CAST(@low AS INTEGER) AND f.rowid <= CAST(@high AS INTEGER)
       AND d.id = f.rowid
       AND d.conv IN (SELECT conv FROM members WHERE user_id = @user)
       AND (@conv IS NULL OR d.conv = @conv)
       AND m.conv = d.conv AND m.seq = d.seq AND ${FILTERS}
     ORDER BY f.rowid DESC LIMIT @limit`,
  );
  // Every indexed message of the searcher's conversations that passes the filters, with its
  // body: the text is matched here (an FTS5 lookup by rowid reads each term's whole doclist,
  // milliseconds per row).
  const candidates = db
    .prepare<Filters, [number, string]>(
      `SELECT d.id, m.body
       FROM members mb CROSS JOIN search_docs d CROSS JOIN messages m
       WHERE mb.user_id = @user AND (@conv IS NULL OR mb.conv = @conv)
         AND d.conv = mb.conv AND d.id BETWEEN @low AND @high
         AND m.conv = d.conv AND m.seq = d.seq AND ${FILTERS}`,
    )
    .raw();
  // The same for one author's messages, through their (sender, client_msg_id) index.
  const authorCandidates = db
    .prepare<Filters, [number, string]>(
      `SELECT d.id, m.body
       FROM messages m CROSS JOIN search_docs d
       WHERE m.sender = @author AND (@conv IS NULL OR m.conv = @conv)
         AND m.conv IN (SELECT conv FROM members WHERE user_id = @user)
         AND ${FILTERS}
         AND d.conv = m.conv AND d.seq = m.seq AND d.id BETWEEN @low AND @high`,
    )
    .raw();
  /** The author's messages, counted up to a cap. */
  const authored = db.prepare<[string, number], { n: number }>(
    'SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE sender = ? LIMIT ?)',
  );
  const lowestAfter = db.prepare<[number], { id: number }>(
    'SELECT id FROM search_docs WHERE ts_max >= ? ORDER BY ts_max, id LIMIT 1',
  );
  const highestBefore = db.prepare<[number], { id: number }>(
    'SELECT id FROM search_docs WHERE ts_min < ? ORDER BY ts_min DESC, id DESC LIMIT 1',
  );
  const lastDoc = db.prepare<[], { id: number; ts_max: number }>(
    'SELECT id, ts_max FROM search_docs ORDER BY id DESC LIMIT 1',
  );
  const lowerTsMin = db.prepare<{ ts: number; first: number }>(
    'UPDATE search_docs SET ts_min = @ts WHERE ts_min > @ts AND id < @first',
  );
  const byIds = db.prepare<[string], Row>(
    `SELECT d.id AS search_id, ${columns}
     FROM search_docs d CROSS JOIN messages m
     WHERE d.id IN (SELECT value FROM json_each(?)) AND m.conv = d.conv AND m.seq = d.seq`,
  );
  const messagesIn = db.prepare<{ user: string; conv: string | null }, { n: number }>(
    `SELECT coalesce(sum(c.last_seq), 0) AS n FROM members mb JOIN conversations c ON c.id = mb.conv
     WHERE mb.user_id = @user AND (@conv IS NULL OR mb.conv = @conv)`,
  );
  const insertDocs = db.prepare<[string]>(
    `INSERT INTO search_docs (id, conv, seq, ts_max, ts_min)
     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 FROM json_each(?)`,
  );
  const insertTexts = db.prepare<[string]>(
    'INSERT INTO message_fts (rowid, t) SELECT value ->> 0, value ->> 5 FROM json_each(?)',
  );
  type Indexable = { conv: ConversationId; seq: number; body: string; ts: number };
  // The live ones of the messages given ([conv, seq] pairs), in the order given, that have no
  // index row yet: one indexed by another process (see `recover`) is not indexed twice.
  const unindexedOf = db.prepare<[string], Indexable>(
    `SELECT m.conv, m.seq, m.body, m.ts
     FROM json_each(?) p CROSS JOIN messages m
     WHERE m.conv = p.value ->> 0 AND m.seq = p.value ->> 1 AND m.deleted = 0
       AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.conv = m.conv AND d.seq = m.seq)
     ORDER BY p.key`,
  );
  // Every conversation's live messages after its last indexed one, in the order they were sent.
  const leftOver = db.prepare<[], { conv: ConversationId; seq: number }>(
    `SELECT m.conv, m.seq
     FROM conversations c CROSS JOIN messages m
     WHERE m.conv = c.id AND m.deleted = 0
       AND m.seq > coalesce((SELECT max(d.seq) FROM search_docs d WHERE d.conv = c.id), 0)
     ORDER BY m.ts, m.conv, m.seq`,
  );

  /** Indexes messages (docs and text), in the order given, after every doc there is. */
  function indexNew(
    messages: readonly { conv: ConversationId; seq: number; body: string; ts: number }[],
  ): void {
    if (messages.length === 0) return;
    const last = lastDoc.get();
    const first = (last?.id ?? 0) + 1;
    // Running max from the front, running min from the back; earlier rows' ts_min drop to
    // the batch's earliest ts (none do while clocks run forward).
    let tsMax = last?.ts_max ?? Number.MIN_SAFE_INTEGER;
    const maxes = messages.map((m) => (tsMax = Math.max(tsMax, m.ts)));
    let tsMin = Number.MAX_SAFE_INTEGER;
    const mins = messages.map((m) => m.ts);
    for (let i = mins.length - 1; i >= 0; i--) mins[i] = tsMin = Math.min(tsMin, mins[i]!);
    if (last) lowerTsMin.run({ ts: tsMin, first });
    const docs = JSON.stringify(
      messages.map((m, i) => [first + i, m.conv, m.seq, maxes[i], mins[i], searchText(m.body)]),
    );
    insertDocs.run(docs);
    insertTexts.run(docs);
  }
  const docId = db.prepare<[string, number], { id: number }>(
    'SELECT id FROM search_docs WHERE conv = ? AND seq = ?',
  );
  const replaceText = db.prepare<[string, number]>(
    'UPDATE message_fts SET t = ? WHERE rowid = CAST(? AS INTEGER)',
  );
  const deleteText = db.prepare<[number]>('DELETE FROM message_fts WHERE rowid = CAST(? AS INTEGER)');
  const deleteDoc = db.prepare<[number]>('DELETE FROM search_docs WHERE id = ?');

  /** Messages stored and not indexed yet, in the order they were stored, from `head` on. */
  let pending: { conv: ConversationId; seq: number }[] = [];
  let head = 0;
  /** Whether this process has looked for messages an earlier one left unindexed. */
  let recovered = false;

  /**
   * Lists as pending every live message after its conversation's last indexed one: what an
   * earlier process stored and did not index, and what this one queued so far (committed).
   */
  function recover(): void {
    pending = leftOver.all();
    head = 0;
    recovered = true;
  }

  return {
    /** Lists committed new messages as pending for the index, in the order they were stored. */
    queue(messages: readonly { conv: ConversationId; seq: number }[]): void {
      for (const m of messages) pending.push({ conv: m.conv, seq: m.seq });
    },

    /** Whether a catch-up may have work: messages pending, or an earlier process's left to find. */
    get behind(): boolean {
      return !recovered || pending.length > head;
    },

    /** How many messages are pending (after `recover`, perhaps more). */
    get pending(): number {
      return pending.length - head;
    },

    /**
     * Indexes up to `max` pending messages (all by default), in the order they were stored,
     * from their current bodies (a deleted one not at all): run inside a write transaction,
     * and once it has committed, `caughtUp` with what this returned. The first call of a
     * process also lists what an earlier one left (`recover`).
     */
    catchUp(max = Number.POSITIVE_INFINITY): number {
      if (!recovered) recover();
      const end = Math.min(pending.length, head + max);
      for (let from = head; from < end; from += MIGRATION_BATCH) {
        const part = pending.slice(from, Math.min(end, from + MIGRATION_BATCH));
        indexNew(unindexedOf.all(JSON.stringify(part.map((m) => [m.conv, m.seq]))));
      }
      return end - head;
    },

    /** Takes the `count` messages the last `catchUp` indexed off the pending list. */
    caughtUp(count: number): void {
      head += count;
      if (head === pending.length) {
        pending = [];
        head = 0;
      } else if (head > 4096 && head * 2 > pending.length) {
        pending = pending.slice(head);
        head = 0;
      }
    },

    /** An edited body replaces the message's indexed text; its index row id stays. A pending
     * message needs nothing: the catch-up reads its body as it is then. */
    reindex(conv: ConversationId, seq: number, body: string): void {
      const doc = docId.get(conv, seq);
      if (doc) replaceText.run(searchText(body), doc.id);
    },

    /** A deleted message leaves the index (a pending one is skipped by the catch-up). */
    unindex(conv: ConversationId, seq: number): void {
      const doc = docId.get(conv, seq);
      if (!doc) return;
      deleteText.run(doc.id);
      deleteDoc.run(doc.id);
    },

    /**
     * One page of hits (run inside a read transaction): tier 0 below the cursor, then tier
     * 1 from the top (or below the cursor when it is in tier 1).
     *
     * Three plans, chosen by how many messages each would read:
     * - author-driven, when `author` has at most `memberDrivenMax` messages: theirs (sender
     *   index), in the searcher's conversations, each body's normal form tested in JS;
     * - member-driven, when the conversations searched hold at most that many: all their
     *   messages, tested the same way;
     * - index-driven otherwise: each tier's MATCH expression newest first (within the time
     *   filter's row id range), each match kept when its conversation is one of the
     *   searcher's (a set built once) and it passes the filters — cheap when their
     *   conversations hold a fair share of the matches, a scan of every match if not.
     * The JS test is the index's own rule (a trigram phrase match on the normal form is a
     * substring match), so every plan returns the same hits.
     */
    search(
      input: SearchInput,
      limit: number,
      memberDrivenMax = MEMBER_DRIVEN_MAX,
    ): { rows: Row[]; next: SearchCursor | null } {
      const after = input.after ?? Number.MIN_SAFE_INTEGER;
      const before = input.before ?? Number.MAX_SAFE_INTEGER;
      const filters: Filters = {
        user: input.userId,
        conv: input.conv ?? null,
        author: input.author ?? null,
        after,
        before,
        low: input.after === undefined ? 0 : (lowestAfter.get(after)?.id ?? Number.MAX_SAFE_INTEGER),
        high: input.before === undefined ? Number.MAX_SAFE_INTEGER : (highestBefore.get(before)?.id ?? -1),
      };
      const start: Start = input.cursor && {
        tier: input.cursor.tier === 1 ? 1 : 0,
        position: cursorPosition(input.cursor.position),
      };
      let hits: Hit[];
      if (filters.low > filters.high) hits = [];
      else if (
        filters.author !== null &&
        authored.get(filters.author, memberDrivenMax + 1)!.n <= memberDrivenMax
      ) {
        hits = scan(authorCandidates, input.query, filters, start, limit);
      } else if (messagesIn.get({ user: filters.user, conv: filters.conv })!.n <= memberDrivenMax) {
        hits = scan(candidates, input.query, filters, start, limit);
      } else hits = byIndex(input.query, filters, start, limit);
      const last = hits[hits.length - 1];
      const next =
        last && hits.length >= limit ? { tier: last.tier, position: String(last.row.search_id) } : null;
      return { rows: hits.map((h) => h.row), next };
    },
  };

  type Hit = { row: Row; tier: 0 | 1 };
  type Start = { tier: 0 | 1; position: number } | undefined;

  function byIndex(query: ParsedQuery, filters: Filters, start: Start, limit: number): Hit[] {
    const expressions = tierExpressions(query);
    const hits: Hit[] = [];
    for (const tier of [0, 1] as const) {
      if ((start && tier < start.tier) || hits.length >= limit) continue;
      const pos = start && tier === start.tier ? start.position : Number.MAX_SAFE_INTEGER;
      for (const row of indexDriven.all({
        ...filters,
        q: expressions[tier],
        pos,
        limit: limit - hits.length,
      })) {
        hits.push({ row, tier });
      }
    }
    return hits;
  }

  function scan(
    statement: Database.Statement<Filters, [number, string]>,
    query: ParsedQuery,
    filters: Filters,
    start: Start,
    limit: number,
  ): Hit[] {
    const found: { id: number; tier: 0 | 1 }[] = [];
    for (const [id, body] of statement.iterate(filters)) {
      const text = searchText(body);
      if (!query.terms.every((t) => text.includes(t.match))) continue;
      const tier = query.terms.every((t) => text.includes(t.word)) ? 0 : 1;
      if (start && (tier < start.tier || (tier === start.tier && id >= start.position))) continue;
      found.push({ id, tier });
    }
    found.sort((a, b) => a.tier - b.tier || b.id - a.id);
    const page = found.slice(0, limit);
    const rows = new Map(byIds.all(JSON.stringify(page.map((h) => h.id))).map((r) => [r.search_id, r]));
    return page.map((h) => ({ row: rows.get(h.id)!, tier: h.tier }));
  }
}

/** A cursor's position: an index row id, as this store returned it; else `validation_failed`. */
function cursorPosition(position: string): number {
  const pos = /^[0-9]{1,15}$/.test(position) ? Number(position) : Number.NaN;
  if (!Number.isSafeInteger(pos))
    throw new ChatError('validation_failed', 'not a search cursor of this store');
  return pos;
}

/** An FTS5 string: the text in double quotes, its own double quotes doubled. */
function ftsString(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/**
 * The MATCH expressions of the two tiers: 0 — every term's whole-word pattern; 1 — every
 * term's match pattern, but not every whole-word one.
 */
export function tierExpressions(query: ParsedQuery): [string, string] {
  const words = query.terms.map((t) => ftsString(t.word)).join(' AND ');
  const matches = query.terms.map((t) => ftsString(t.match)).join(' AND ');
  return [words, `(${matches}) NOT (${words})`];
}
