import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { KeyedBudget, MessageSearch, createMessageStore } from '@relay-chat/chat';
import { asConversationId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { Corpus } from './src/search/corpus.ts';
import { makeQueries } from './src/search/search-bench.ts';
const backend = process.argv[2] ?? 'postgres';
const url = backend === 'postgres' ? 'postgres://postgres@127.0.0.1:5432/relay_bench_search_1000_1000000_1' : 'sqlite:/work/main/.bench/search/search_1000_1000000_1.sqlite';
const corpus = new Corpus({ users: 1000, messages: 1_000_000, seed: 1 });
const convIds = (JSON.parse(readFileSync(`/work/main/.bench/search/${backend}-search_1000_1000000_1.json`, 'utf8')) as string[]).map(asConversationId);
const store = createMessageStore(url, createLogger({ name: 'x', level: 'silent' }));
await store.migrate();
const search = new MessageSearch(store, { budget: new KeyedBudget({ ratePerSec: 1e9, burst: 1e9, what: 'x' }), maxInFlight: 1 });
const queries = makeQueries(corpus, convIds, Number(process.argv[3] ?? 150), 2);
const times: { ms: number; q: unknown; hits: number }[] = [];
for (const query of queries) {
  const { kind, user, ...req } = query;
  const t = performance.now();
  const page = await search.search(user, { ...req, limit: 20 });
  times.push({ ms: performance.now() - t, q: query, hits: page.hits.length });
}
times.sort((a, b) => b.ms - a.ms);
for (const t of times.slice(0, 25)) console.log(t.ms.toFixed(0), t.hits, JSON.stringify(t.q));
await store.close();
process.exit(0);
