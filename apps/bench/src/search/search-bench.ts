/**
 * `npm run bench -- search`: message search at scale. Builds the corpus (corpus.ts) into each
 * backend through the store's own append path, then runs random queries of each kind as
 * random users through the same code the route runs (parse, the store's ranked page, the
 * highlight ranges), timing each; reports p50/p95/p99 per kind and backend and the index's
 * size. `--append-cost` also measures what indexing costs appends: this tree's store against
 * the store of the revision before search, alternately, on fresh databases.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  createMessageStore,
  KeyedBudget,
  MessageSearch,
  type MessageStore,
  parseQuery,
} from '@relay-chat/chat';
import { asConversationId, asUserId, type ConversationId, type UserId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { PG_ADMIN_URL, seeded } from '@relay-chat/testkit';
import pg from 'pg';
import { LatencyHistogram, type LatencySummary } from '../histogram.js';
import { BENCH_DIR } from '../machine.js';
import { checkOutRevision } from '../previous-revision.js';
import { Corpus, type CorpusMessage, type CorpusSize } from './corpus.js';

export type Backend = 'sqlite' | 'postgres';
export const QUERY_KINDS = ['word', 'prefix', 'substring', 'cjk', 'phrase', 'filtered'] as const;
export type QueryKind = (typeof QUERY_KINDS)[number];

export interface SearchBenchOptions extends CorpusSize {
  backends: Backend[];
  /** Queries of each kind per backend. */
  queries: number;
  /** Keep the built corpora and use them again when their size and seed match. */
  reuse: boolean;
  /** Measure the append cost of indexing against this revision (none: skip). */
  appendCostAgainst: string | undefined;
  /** Messages appended per measured round of the append-cost comparison. */
  appendCostMessages: number;
  /** Messages per append in the append-cost rounds. */
  appendCostBatch: number;
  /** Where the corpora go (default .bench/search). */
  dir: string;
  log: (line: string) => void;
}

export interface KindResult {
  kind: QueryKind;
  /** Latency, ms. */
  latency: LatencySummary;
  /** Share of queries with at least one hit, and the mean hits on the first page. */
  withHits: number;
  meanHits: number;
}

export interface BackendResult {
  backend: Backend;
  messages: number;
  /** Seconds to store the corpus, and messages per second while doing it (index included). */
  buildSec: number | undefined;
  buildRate: number | undefined;
  /** Bytes of the search index (its tables and indexes), and of the whole database. */
  indexBytes: number;
  databaseBytes: number;
  kinds: KindResult[];
}

export interface AppendCostResult {
  backend: Backend;
  previous: string;
  /** Messages appended per second, each round: with the search index (this tree) and without (previous). */
  withIndex: number[];
  without: number[];
  /**
   * This process's CPU per message, µs, each round (user + system): the whole cost on SQLite,
   * which runs in the process; only the client's share on PostgreSQL.
   */
  withIndexCpuUs: number[];
  withoutCpuUs: number[];
}

export interface SearchBenchResult {
  options: Omit<SearchBenchOptions, 'log'>;
  backends: BackendResult[];
  appendCost: AppendCostResult[];
}

const silent = createLogger({ name: 'search-bench', level: 'silent' });
const APPEND_BATCH = 500;

export async function runSearchBench(options: SearchBenchOptions): Promise<SearchBenchResult> {
  const { log } = options;
  mkdirSync(options.dir, { recursive: true });
  const backends: BackendResult[] = [];
  for (const backend of options.backends) {
    log(`\n== ${backend}: ${options.messages.toLocaleString('en')} messages over ${options.users} users`);
    const corpus = new Corpus(options);
    const opened = await openCorpus(backend, corpus, options);
    try {
      const kinds = await runQueries(opened.store, corpus, opened.convIds, options);
      const size = await indexSize(backend, opened.url);
      backends.push({
        backend,
        messages: options.messages,
        buildSec: opened.buildSec,
        buildRate: opened.buildSec ? options.messages / opened.buildSec : undefined,
        ...size,
        kinds,
      });
    } finally {
      await opened.store.close();
      if (!options.reuse) await opened.drop();
    }
  }
  const appendCost: AppendCostResult[] = [];
  if (options.appendCostAgainst) {
    for (const backend of options.backends) {
      appendCost.push(await measureAppendCost(backend, options.appendCostAgainst, options));
    }
  }
  const { log: _omit, ...rest } = options;
  return { options: rest, backends, appendCost };
}

interface OpenedCorpus {
  store: MessageStore;
  url: string;
  convIds: ConversationId[];
  buildSec: number | undefined;
  drop(): Promise<void>;
}

async function openCorpus(
  backend: Backend,
  corpus: Corpus,
  options: SearchBenchOptions,
): Promise<OpenedCorpus> {
  const name = `search_${options.users}_${options.messages}_${options.seed}`;
  const marker = join(options.dir, `${backend}-${name}.json`);
  const database = backend === 'sqlite' ? sqliteDatabase(options.dir, name) : await postgresDatabase(name);
  if (options.reuse && existsSync(marker) && (await database.exists())) {
    const convIds = (JSON.parse(readFileSync(marker, 'utf8')) as string[]).map(asConversationId);
    const store = createMessageStore(database.url, silent);
    await store.migrate();
    options.log(`using the corpus built before (${marker})`);
    return { store, url: database.url, convIds, buildSec: undefined, drop: database.drop };
  }
  // The marker is written only once the corpus is whole: an interrupted build is not reused.
  rmSync(marker, { force: true });
  await database.drop();
  await database.create();
  const store = createMessageStore(database.url, silent);
  await store.migrate();
  const started = performance.now();
  const convIds = await storeConversations(store, corpus);
  const appendStarted = performance.now();
  let stored = 0;
  let clientId = 0;
  for (const batch of corpus.messages(APPEND_BATCH)) {
    const outcomes = await store.append(
      batch.map((m) => ({
        conv: convIds[m.conv]!,
        sender: userOf(m.sender),
        clientMsgId: `b${clientId++}`,
        body: m.body,
        ts: m.ts,
      })),
    );
    const refused = outcomes.find((o) => 'refused' in o);
    if (refused) throw new Error(`the store refused a corpus message: ${JSON.stringify(refused)}`);
    stored += batch.length;
    if (stored % 100_000 === 0) {
      const rate = stored / ((performance.now() - appendStarted) / 1000);
      options.log(
        `  stored ${stored.toLocaleString('en')} messages (${Math.round(rate).toLocaleString('en')}/s)`,
      );
    }
  }
  const buildSec = (performance.now() - started) / 1000;
  options.log(`  corpus stored in ${buildSec.toFixed(0)} s`);
  // The statistics autovacuum keeps on a live server (it would analyze after this many
  // inserts, but not within the few minutes of a build): the planner needs them.
  if (backend === 'postgres') await analyze(database.url);
  writeFileSync(marker, JSON.stringify(convIds));
  return {
    store,
    url: database.url,
    convIds,
    buildSec,
    drop: async () => {
      await database.drop();
      rmSync(marker, { force: true });
    },
  };
}

const userOf = (i: number): UserId => asUserId(`bu${i}`);

async function storeConversations(store: MessageStore, corpus: Corpus): Promise<ConversationId[]> {
  const ids: ConversationId[] = [];
  const now = Date.UTC(2025, 0, 1);
  for (const [i, c] of corpus.conversations.entries()) {
    const [first, ...rest] = c.members.map(userOf);
    if (c.kind === 'dm') {
      ids.push((await store.getOrCreateDm(first!, rest[0]!, now)).conversation.id);
    } else if (c.kind === 'group') {
      ids.push((await store.createGroup({ name: `group ${i}`, createdBy: first!, members: rest }, now)).id);
    } else {
      const channel = await store.createChannel({ name: `channel-${i}`, createdBy: first! }, now);
      for (const member of rest) await store.addMember(channel.id, member, now);
      ids.push(channel.id);
    }
  }
  return ids;
}

interface Database {
  url: string;
  exists(): Promise<boolean>;
  create(): Promise<void>;
  drop(): Promise<void>;
}

function sqliteDatabase(dir: string, name: string): Database {
  const file = join(dir, `${name}.sqlite`);
  return {
    url: `sqlite:${file}`,
    exists: async () => existsSync(file),
    create: async () => {},
    drop: async () => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
    },
  };
}

async function postgresDatabase(name: string): Promise<Database> {
  const dbName = `relay_bench_${name}`;
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${dbName}`;
  const admin = async <T>(text: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: PG_ADMIN_URL });
    await client.connect();
    try {
      return (await client.query(text)).rows as T[];
    } finally {
      await client.end();
    }
  };
  return {
    url: url.toString(),
    // (int8 may come back as a number: the stores set pg's parser for it.)
    exists: async () =>
      Number(
        (await admin<{ n: unknown }>(`SELECT count(*) AS n FROM pg_database WHERE datname = '${dbName}'`))[0]!
          .n,
      ) === 1,
    create: async () => {
      await admin(`CREATE DATABASE "${dbName}"`);
    },
    drop: async () => {
      await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    },
  };
}

/** A query of `kind` that `user` could type, made from a message they can see. */
export interface BenchQuery {
  kind: QueryKind;
  user: UserId;
  q: string;
  conv?: ConversationId;
  author?: UserId;
  after?: number;
  before?: number;
}

const LATIN_WORD = /[\p{Script=Latin}]{2,}/gu;
const CJK_RUN = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]{2,}/gu;

/**
 * Makes `perKind` queries of each kind: each for a random user, from a random message of a
 * random one of their conversations (so most have hits), drawn from a sample of the corpus.
 */
export function makeQueries(
  corpus: Corpus,
  convIds: ConversationId[],
  perKind: number,
  seed: number,
): BenchQuery[] {
  const random = seeded(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  // A sample of the corpus's messages, per conversation (regenerated: the corpus is seeded).
  const sample = new Map<number, CorpusMessage[]>();
  const every = Math.max(1, Math.floor(corpus.size.messages / 50_000));
  let i = 0;
  for (const batch of new Corpus(corpus.size).messages(10_000)) {
    for (const m of batch) {
      if (i++ % every !== 0) continue;
      const list = sample.get(m.conv) ?? [];
      list.push(m);
      sample.set(m.conv, list);
    }
  }
  const queries: BenchQuery[] = [];
  for (const kind of QUERY_KINDS) {
    let made = 0;
    for (let attempt = 0; made < perKind && attempt < perKind * 200; attempt++) {
      const u = Math.floor(random() * corpus.size.users);
      const convs = corpus.conversationsOf[u]!.filter((c) => sample.has(c));
      if (convs.length === 0) continue;
      const conv = pick(convs);
      const m = pick(sample.get(conv)!);
      const q = queryText(kind, m.body, random);
      if (q === undefined) continue;
      const query: BenchQuery = { kind, user: userOf(u), q };
      if (kind === 'filtered') {
        const filter = Math.floor(random() * 3);
        if (filter === 0) query.conv = convIds[conv]!;
        else if (filter === 1) query.author = userOf(m.sender);
        else {
          query.after = m.ts - 30 * 86_400_000;
          query.before = m.ts + 30 * 86_400_000;
        }
      }
      queries.push(query);
      made++;
    }
    if (made < perKind) throw new Error(`could not make ${perKind} ${kind} queries from the corpus sample`);
  }
  return queries;
}

function queryText(kind: QueryKind, body: string, random: () => number): string | undefined {
  if (kind === 'cjk') {
    const runs = body.match(CJK_RUN);
    if (!runs) return undefined;
    const run = [...runs[Math.floor(random() * runs.length)]!];
    const length = Math.min(run.length, 2 + Math.floor(random() * 2));
    const at = Math.floor(random() * (run.length - length + 1));
    return run.slice(at, at + length).join('');
  }
  const words = (body.match(LATIN_WORD) ?? []).map((w) => w.toLowerCase());
  if (words.length === 0) return undefined;
  const at = Math.floor(random() * words.length);
  const word = words[at]!;
  switch (kind) {
    case 'word':
    case 'filtered':
      return word.length >= 3 ? word : undefined;
    case 'prefix':
      return word.length >= 5 ? word.slice(0, 3 + Math.floor(random() * (word.length - 4))) : undefined;
    case 'substring': {
      if (word.length < 6) return undefined;
      const length = 3 + Math.floor(random() * 2);
      const from = 1 + Math.floor(random() * (word.length - length - 1));
      return word.slice(from, from + length);
    }
    case 'phrase': {
      const next = words[at + 1];
      return next === undefined ? undefined : `"${word} ${next}"`;
    }
  }
}

async function runQueries(
  store: MessageStore,
  corpus: Corpus,
  convIds: ConversationId[],
  options: SearchBenchOptions,
): Promise<KindResult[]> {
  const queries = makeQueries(corpus, convIds, options.queries, options.seed + 1);
  const budget = new KeyedBudget<string>({ ratePerSec: 1e9, burst: 1e9, what: 'bench' });
  const search = new MessageSearch(store, { budget, maxInFlight: 1 });
  const run = async (query: BenchQuery) => {
    const { kind: _kind, user, ...request } = query;
    const started = performance.now();
    const page = await search.search(user, { ...request, limit: 20 });
    return { ms: performance.now() - started, hits: page.hits.length };
  };
  // Warm caches and the JIT on queries of every kind, not measured.
  for (const query of queries.filter((_, i) => i % 20 === 0)) await run(query);
  // Kinds interleaved, so drift in the machine falls on all of them.
  const order = [...queries.keys()];
  const shuffle = seeded(options.seed + 2);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const stats = new Map(
    QUERY_KINDS.map((k) => [k, { histogram: new LatencyHistogram(), withHits: 0, hits: 0 }]),
  );
  let done = 0;
  for (const index of order) {
    const query = queries[index]!;
    const { ms, hits } = await run(query);
    const s = stats.get(query.kind)!;
    s.histogram.record(Math.max(1, Math.round(ms * 1000)));
    if (hits > 0) s.withHits++;
    s.hits += hits;
    if (++done % 1000 === 0) options.log(`  ${done} / ${order.length} queries`);
  }
  budget.stop();
  return QUERY_KINDS.map((kind) => {
    const s = stats.get(kind)!;
    const n = s.histogram.count;
    return { kind, latency: s.histogram.summary(), withHits: s.withHits / n, meanHits: s.hits / n };
  });
}

async function indexSize(
  backend: Backend,
  url: string,
): Promise<{ indexBytes: number; databaseBytes: number }> {
  if (backend === 'sqlite') {
    const file = url.slice('sqlite:'.length);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true });
    try {
      const rows = db
        .prepare(
          `SELECT name, SUM(pgsize) AS bytes FROM dbstat
           WHERE name LIKE 'message_fts%' OR name LIKE 'search_docs%' OR name LIKE '%search%' GROUP BY name`,
        )
        .all() as { name: string; bytes: number }[];
      const total = db
        .prepare('SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()')
        .get() as {
        bytes: number;
      };
      return { indexBytes: rows.reduce((sum, r) => sum + r.bytes, 0), databaseBytes: total.bytes };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const index = await client.query<{ bytes: string }>(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c
       WHERE c.relkind = 'r' AND c.relname LIKE '%search%'`,
    );
    const total = await client.query<{ bytes: string }>(
      'SELECT pg_database_size(current_database()) AS bytes',
    );
    return { indexBytes: Number(index.rows[0]!.bytes), databaseBytes: Number(total.rows[0]!.bytes) };
  } finally {
    await client.end();
  }
}

async function analyze(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('VACUUM ANALYZE');
  } finally {
    await client.end();
  }
}

type StoreFactory = typeof createMessageStore;

/**
 * Appends per second into a fresh database: this tree's store (which indexes every message
 * for search) against the store of `previous` (which does not), alternately, three rounds
 * each. Batches of 100, as the append batcher forms under load.
 */
async function measureAppendCost(
  backend: Backend,
  previous: string,
  options: SearchBenchOptions,
): Promise<AppendCostResult> {
  options.log(`\n== append cost of indexing, ${backend}: this tree against ${previous}`);
  const tree = checkOutRevision(previous, options.log);
  try {
    const factory = (await import(
      pathToFileURL(join(tree.dir, 'services/chat/src/store/factory.ts')).href
    )) as {
      createMessageStore: StoreFactory;
    };
    const corpus = new Corpus({ users: 200, messages: options.appendCostMessages, seed: options.seed + 3 });
    const result: AppendCostResult = {
      backend,
      previous: tree.commit,
      withIndex: [],
      without: [],
      withIndexCpuUs: [],
      withoutCpuUs: [],
    };
    for (let round = 0; round < 3; round++) {
      const order = round % 2 === 0 ? (['with', 'without'] as const) : (['without', 'with'] as const);
      for (const which of order) {
        // This tree's SQLite store in the caller's thread, as the previous one runs: the
        // worker thread's hop per append is not what indexing costs.
        const create: StoreFactory =
          which === 'with'
            ? (url, logger) => createMessageStore(url, logger, { sqliteThread: 'main' })
            : factory.createMessageStore;
        const { rate, cpuUs } = await appendRate(backend, create, corpus, options);
        (which === 'with' ? result.withIndex : result.without).push(rate);
        (which === 'with' ? result.withIndexCpuUs : result.withoutCpuUs).push(cpuUs);
        options.log(
          `  round ${round + 1} ${which} index: ${Math.round(rate).toLocaleString('en')} messages/s, ${cpuUs.toFixed(1)} µs CPU each`,
        );
      }
    }
    return result;
  } finally {
    tree.remove();
  }
}

/**
 * Appends the corpus in batches of `appendCostBatch` and times it up to the moment a search
 * could answer from the index (a search is the last step timed: a store that indexes behind
 * its appends catches up there), in messages/s and this process's CPU µs per message.
 */
async function appendRate(
  backend: Backend,
  create: StoreFactory,
  corpus: Corpus,
  options: SearchBenchOptions,
): Promise<{ rate: number; cpuUs: number }> {
  const database =
    backend === 'sqlite' ? sqliteDatabase(options.dir, 'append-cost') : await postgresDatabase('append_cost');
  await database.drop();
  await database.create();
  const store = create(database.url, silent);
  try {
    await store.migrate();
    const convIds = await storeConversations(store, corpus);
    const batches = [...corpus.messages(options.appendCostBatch)];
    let clientId = 0;
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (const batch of batches) {
      await store.append(
        batch.map((m) => ({
          conv: convIds[m.conv]!,
          sender: userOf(m.sender),
          clientMsgId: `a${clientId++}`,
          body: m.body,
          ts: m.ts,
        })),
      );
    }
    // The store of a revision before search has none.
    await (store as Partial<MessageStore>).search?.({
      userId: userOf(0),
      query: parseQuery('zzzz'),
      limit: 1,
    });
    const used = process.cpuUsage(cpu);
    return {
      rate: corpus.size.messages / ((performance.now() - started) / 1000),
      cpuUs: (used.user + used.system) / corpus.size.messages,
    };
  } finally {
    await store.close();
    await database.drop();
  }
}

export const DEFAULT_SEARCH_DIR = join(BENCH_DIR, 'search');
