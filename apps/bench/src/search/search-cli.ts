import { parseArgs } from 'node:util';
import { intOption } from '../option-numbers.js';
import { type Backend, DEFAULT_SEARCH_DIR, type SearchBenchOptions } from './search-bench.js';

export const SEARCH_USAGE = `npm run bench -- search [options]   message search at scale (see docs/benchmarks.md)
  --backends sqlite,postgres   backends to measure                                 default both
  --messages N                 corpus messages                                     default 1000000
  --users N                    corpus users                                        default 1000
  --queries N                  queries of each kind per backend                    default 1000
  --seed N                     corpus and query seed                               default 1
  --reuse                      keep the corpora (.bench/search) and use them again
  --append-cost REV            also measure appends against the store of REV (before search)
  --append-cost-messages N     messages per append-cost round                      default 100000
  --append-cost-batch N        messages per append in those rounds                 default 100
`;

export function parseSearchOptions(args: string[], log: (line: string) => void): SearchBenchOptions {
  const { values } = parseArgs({
    args,
    options: {
      backends: { type: 'string' },
      messages: { type: 'string' },
      users: { type: 'string' },
      queries: { type: 'string' },
      seed: { type: 'string' },
      reuse: { type: 'boolean' },
      'append-cost': { type: 'string' },
      'append-cost-messages': { type: 'string' },
      'append-cost-batch': { type: 'string' },
    },
  });
  const backends = (values.backends ?? 'sqlite,postgres').split(',').map((b) => b.trim());
  for (const b of backends) {
    if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--backends: unknown backend "${b}"`);
  }
  return {
    backends: backends as Backend[],
    messages: intOption('messages', values.messages) ?? 1_000_000,
    users: intOption('users', values.users) ?? 1000,
    queries: intOption('queries', values.queries) ?? 1000,
    seed: intOption('seed', values.seed) ?? 1,
    reuse: values.reuse ?? false,
    appendCostAgainst: values['append-cost'],
    appendCostMessages: intOption('append-cost-messages', values['append-cost-messages']) ?? 100_000,
    appendCostBatch: intOption('append-cost-batch', values['append-cost-batch']) ?? 100,
    dir: DEFAULT_SEARCH_DIR,
    log,
  };
}
