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
 * The index changes in the transaction that appends (one multi-row insert per table per
 * batch), edits (the row's text replaced, same rowid: the message keeps its place) or
 * deletes (both rows removed) the message.
 */

export const SEARCH_MIGRATION: Migration = {
  async up(db: Kysely<unknown>) {
    await sql`CREATE TABLE search_docs (
      id INTEGER PRIMARY KEY,
      conv TEXT NOT NULL,
      seq INTEGER NOT NULL,
      UNIQUE (conv, seq)
    )`.execute(db);
    // (conv, id): a conversation's index rows newest first, for the member-driven plan.
    await sql`CREATE INDEX search_docs_conv ON search_docs (conv)`.execute(db);
    await sql`CREATE VIRTUAL TABLE message_fts USING fts5(
      t, tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1
    )`.execute(db);
    // Existing live messages, in the order they were sent (ts; conv, seq break ties).
    await sql`INSERT INTO search_docs (conv, seq)
      SELECT conv, seq FROM messages WHERE deleted = 0 ORDER BY ts, conv, seq`.execute(db);
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
 * Above this many messages (sum of `last_seq`) in the conversations searched, the index
 * drives the query (newest matches first, each checked for membership); at or below it the
 * user's own messages do (newest first, each looked up in the index by rowid). See `plan`.
 */
export const MEMBER_DRIVEN_MAX = 5000;

type Row = MessagesTable & { search_id: number };

interface Params {
  q: string;
  user: string;
  conv: string | null;
  author: string | null;
  after: number;
  before: number;
  pos: number;
  limit: number;
}

const FILTERS = `m.deleted = 0 AND (@author IS NULL OR m.sender = @author)
  AND m.ts >= @after AND m.ts < @before`;

export function prepareSearch(db: Database.Database, messageColumns: readonly string[]) {
  const columns = messageColumns.map((c) => `m.${c}`).join(', ');
  // CROSS JOIN fixes the join order (SQLite's planner has no statistics to choose by).
  const indexDriven = db.prepare<Params, Row>(
    `SELECT d.id AS search_id, ${columns}
     FROM message_fts f CROSS JOIN search_docs d CROSS JOIN messages m
     WHERE f.message_fts MATCH @q AND f.rowid < @pos
       AND d.id = f.rowid
       AND d.conv IN (SELECT conv FROM members WHERE user_id = @user)
       AND (@conv IS NULL OR d.conv = @conv)
       AND m.conv = d.conv AND m.seq = d.seq AND ${FILTERS}
     ORDER BY f.rowid DESC LIMIT @limit`,
  );
  const memberDriven = db.prepare<Params, Row>(
    `SELECT d.id AS search_id, ${columns}
     FROM members mb CROSS JOIN search_docs d CROSS JOIN messages m CROSS JOIN message_fts f
     WHERE mb.user_id = @user AND (@conv IS NULL OR mb.conv = @conv)
       AND d.conv = mb.conv AND d.id < @pos
       AND m.conv = d.conv AND m.seq = d.seq AND ${FILTERS}
       AND f.rowid = d.id AND f.message_fts MATCH @q
     ORDER BY d.id DESC LIMIT @limit`,
  );
  const messagesIn = db.prepare<{ user: string; conv: string | null }, { n: number }>(
    `SELECT coalesce(sum(c.last_seq), 0) AS n FROM members mb JOIN conversations c ON c.id = mb.conv
     WHERE mb.user_id = @user AND (@conv IS NULL OR mb.conv = @conv)`,
  );
  const nextId = db.prepare<[], { id: number }>('SELECT coalesce(max(id), 0) + 1 AS id FROM search_docs');
  const insertDocs = db.prepare<[string]>(
    'INSERT INTO search_docs (id, conv, seq) SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?)',
  );
  const insertTexts = db.prepare<[string]>(
    'INSERT INTO message_fts (rowid, t) SELECT value ->> 0, value ->> 3 FROM json_each(?)',
  );
  const docId = db.prepare<[string, number], { id: number }>(
    'SELECT id FROM search_docs WHERE conv = ? AND seq = ?',
  );
  const replaceText = db.prepare<[string, number]>('UPDATE message_fts SET t = ? WHERE rowid = ?');
  const deleteText = db.prepare<[number]>('DELETE FROM message_fts WHERE rowid = ?');
  const deleteDoc = db.prepare<[number]>('DELETE FROM search_docs WHERE id = ?');

  return {
    /** Indexes newly stored messages (inside the append's transaction), in the order given. */
    indexNew(messages: readonly { conv: ConversationId; seq: number; body: string }[]): void {
      if (messages.length === 0) return;
      const first = nextId.get()!.id;
      const docs = JSON.stringify(messages.map((m, i) => [first + i, m.conv, m.seq, searchText(m.body)]));
      insertDocs.run(docs);
      insertTexts.run(docs);
    },

    /** An edited body replaces the message's indexed text; its index row id stays. */
    reindex(conv: ConversationId, seq: number, body: string): void {
      const doc = docId.get(conv, seq);
      if (doc) replaceText.run(searchText(body), doc.id);
      else this.indexNew([{ conv, seq, body }]);
    },

    /** A deleted message leaves the index. */
    unindex(conv: ConversationId, seq: number): void {
      const doc = docId.get(conv, seq);
      if (!doc) return;
      deleteText.run(doc.id);
      deleteDoc.run(doc.id);
    },

    /**
     * One page of hits (run inside a read transaction): tier 0 below the cursor, then tier
     * 1 from the top (or below the cursor when it is in tier 1).
     */
    search(
      input: SearchInput,
      limit: number,
      memberDrivenMax = MEMBER_DRIVEN_MAX,
    ): { rows: Row[]; tiers: (0 | 1)[]; next: SearchCursor | null } {
      const base = {
        user: input.userId,
        conv: input.conv ?? null,
        author: input.author ?? null,
        after: input.after ?? Number.MIN_SAFE_INTEGER,
        before: input.before ?? Number.MAX_SAFE_INTEGER,
      };
      const statement =
        messagesIn.get({ user: base.user, conv: base.conv })!.n > memberDrivenMax
          ? indexDriven
          : memberDriven;
      const expressions = tierExpressions(input.query);
      const rows: Row[] = [];
      const tiers: (0 | 1)[] = [];
      const start = input.cursor;
      const below = start === undefined ? Number.MAX_SAFE_INTEGER : cursorPosition(start.position);
      for (const tier of [0, 1] as const) {
        if ((start && tier < start.tier) || rows.length >= limit) continue;
        const pos = start && tier === start.tier ? below : Number.MAX_SAFE_INTEGER;
        const found = statement.all({ ...base, q: expressions[tier], pos, limit: limit - rows.length });
        rows.push(...found);
        for (const _ of found) tiers.push(tier);
      }
      const next =
        rows.length >= limit && limit > 0
          ? { tier: tiers[tiers.length - 1]!, position: String(rows[rows.length - 1]!.search_id) }
          : null;
      return { rows, tiers, next };
    },
  };
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
