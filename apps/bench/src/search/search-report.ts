import type { SearchBenchResult } from './search-bench.js';

const ms = (us: number) => (us / 1000).toFixed(us < 10_000 ? 2 : 1);
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** The search benchmark's results as Markdown tables (latencies in ms). */
export function renderSearchReport(result: SearchBenchResult, command: string): string {
  const { options } = result;
  const lines = [
    `Search at ${options.messages.toLocaleString('en')} messages over ${options.users.toLocaleString('en')} users, ${options.queries.toLocaleString('en')} queries of each kind per backend, seed ${options.seed}: \`${command}\``,
    '',
    '| backend | kind | p50 ms | p95 ms | p99 ms | max ms | queries with hits | mean hits (page of 20) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const b of result.backends) {
    for (const k of b.kinds) {
      lines.push(
        `| ${b.backend} | ${k.kind} | ${ms(k.latency.p50)} | ${ms(k.latency.p95)} | ${ms(k.latency.p99)} | ${ms(k.latency.max)} | ${(k.withHits * 100).toFixed(0)}% | ${k.meanHits.toFixed(1)} |`,
      );
    }
  }
  lines.push(
    '',
    '| backend | search index | whole database | corpus stored in | stored messages/s (index included) |',
  );
  lines.push('|---|---:|---:|---:|---:|');
  for (const b of result.backends) {
    lines.push(
      `| ${b.backend} | ${mib(b.indexBytes)} | ${mib(b.databaseBytes)} | ${b.buildSec === undefined ? 'reused' : `${b.buildSec.toFixed(0)} s`} | ${b.buildRate === undefined ? '—' : Math.round(b.buildRate).toLocaleString('en')} |`,
    );
  }
  if (result.appendCost.length > 0) {
    lines.push(
      '',
      `Append cost of indexing: ${options.appendCostMessages.toLocaleString('en')} messages in batches of ${options.appendCostBatch} into a fresh database, timed until a search can answer, this tree's store against the store of ${result.appendCost[0]!.previous} (before search), alternately, 3 rounds each (CPU: this process's, the whole cost on SQLite, the client's share on PostgreSQL):`,
      '',
      '| backend | with the index, msg/s (rounds) | without, msg/s (rounds) | with / without (medians) | CPU µs per message, with / without (medians) |',
      '|---|---|---|---:|---:|',
    );
    for (const c of result.appendCost) {
      const round = (values: number[]) => values.map((v) => Math.round(v).toLocaleString('en')).join(', ');
      const cpu = `${median(c.withIndexCpuUs).toFixed(1)} / ${median(c.withoutCpuUs).toFixed(1)} = ${(median(c.withIndexCpuUs) / median(c.withoutCpuUs)).toFixed(2)}`;
      lines.push(
        `| ${c.backend} | ${round(c.withIndex)} | ${round(c.without)} | ${(median(c.withIndex) / median(c.without)).toFixed(2)} | ${cpu} |`,
      );
    }
  }
  return lines.join('\n');
}
