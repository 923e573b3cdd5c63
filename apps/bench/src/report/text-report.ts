import type { LatencySummary } from '../histogram.js';
import { type ConnectSummary, headlinePhase, type PhaseSummary, type RunResult } from '../run-result.js';

/** Thousands separators. */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** A rate in messages/s: whole numbers with separators, up to 3 significant digits below 100. */
export function rate(n: number): string {
  return n >= 100 ? int(n) : String(+n.toPrecision(3));
}

export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** A latency in ms with three significant digits (0.523, 13.7, 112). */
export function ms(value: number): string {
  if (value === 0) return '0';
  if (value >= 100) return value.toFixed(0);
  return String(+value.toPrecision(3));
}

export function latencyLine(l: LatencySummary): string {
  return `p50 ${ms(l.p50)}  p95 ${ms(l.p95)}  p99 ${ms(l.p99)}  p99.9 ${ms(l.p999)}  max ${ms(l.max)}`;
}

function codes(errors: Record<string, number>): string {
  const entries = Object.entries(errors);
  return entries.length === 0 ? 'none' : entries.map(([code, n]) => `${code} ×${int(n)}`).join(', ');
}

/** Renders rows as an aligned two-column table. */
function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

function connectRows(label: string, c: ConnectSummary): [string, string][] {
  const rows: [string, string][] = [
    [
      label,
      `${int(c.ok)} ok, ${int(c.failed)} failed in ${(c.elapsedMs / 1000).toFixed(1)} s → ${int(c.perSec)}/s`,
    ],
    [`${label} latency ms`, latencyLine(c.latencyMs)],
  ];
  if (Object.keys(c.errors).length > 0) rows.push([`${label} errors`, codes(c.errors)]);
  if (c.recovered > 0) rows.push(['recovered from history', int(c.recovered)]);
  if (c.rssPerConnectionBytes !== undefined) {
    rows.push([
      'server RSS per connection',
      `${int(c.rssPerConnectionBytes)} B (${mib(c.serverRssBeforeBytes ?? 0)} → ${mib(c.serverRssAfterBytes ?? 0)})`,
    ]);
  }
  return rows;
}

function phaseRows(p: PhaseSummary): [string, string][] {
  const rows: [string, string][] = [
    [
      'offered',
      `${rate(p.rate)} msg/s × ${int(p.fanout)} receivers = ${int(p.rate * p.fanout)} deliveries/s`,
    ],
    [
      'sent / acked',
      `${int(p.sent)} / ${int(p.acked)} (${(p.sentRatio * 100).toFixed(1)}% of schedule)${p.unacked ? `, ${int(p.unacked)} unacked` : ''}`,
    ],
    ['deliveries/s', `${int(p.deliveriesPerSec)} (${(p.deliveredRatio * 100).toFixed(1)}% of expected)`],
    ['latency ms', latencyLine(p.latencyMs)],
    [
      'lost / dup / out-of-order',
      `${int(p.delivery.lost)} / ${int(p.delivery.duplicated)} / ${int(p.delivery.outOfOrder)}  (checked ${int(p.delivery.expected)} deliveries)`,
    ],
    ['errors', codes(p.errors)],
  ];
  const c = p.changes;
  if (c) {
    rows.push(
      [
        'changes',
        `${int(c.edits)} edits + ${int(c.reactions)} reaction toggles, ${int(c.acked)} acked` +
          (c.noops ? `, ${int(c.noops)} no-op` : '') +
          (c.unacked ? `, ${int(c.unacked)} unacked` : ''),
      ],
      ['change latency ms', latencyLine(c.latencyMs)],
      [
        'change lost / dup / ooo',
        `${int(c.delivery.lost)} / ${int(c.delivery.duplicated)} / ${int(c.delivery.outOfOrder)}  (checked ${int(c.delivery.expected)} change frames${c.untimed ? `, ${int(c.untimed)} untimed` : ''})`,
      ],
    );
  }
  if (Object.keys(p.closes).length > 0) rows.push(['server closes', codes(p.closes)]);
  rows.push([
    'server',
    p.serverRssBytes > 0
      ? `CPU ${p.serverCpuPercent}% (mean), RSS ${mib(p.serverRssBytes)} (peak)`
      : 'remote (not sampled)',
  ]);
  rows.push([
    'generator',
    `CPU ${p.generatorCpuPercent}% (mean, all processes)` +
      (p.generatorCpuShare !== undefined
        ? ` = ${Math.round(p.generatorCpuShare * 100)}% of its ${p.generatorCores ?? '?'} core(s)`
        : ''),
  ]);
  return rows;
}

/** The final table printed on the terminal. */
export function renderText(result: RunResult): string {
  const o = result.options;
  const lines: string[] = [];
  lines.push(
    '',
    `${result.target.label} — ${result.scenario}: ${int(o.users)} users × ${o.devices} device(s)` +
      (result.scenario === 'channel' || result.scenario === 'mixed' ? `, ${o.senders} senders` : '') +
      (result.scenario === 'mixed' ? `, ${o.edits} edits / ${o.reactions} reactions of operations` : '') +
      (result.phases.length > 0
        ? `, ${o.durationSec} s measured after ${o.warmupSec} s warm-up, ${o.messageSize}-char bodies`
        : '') +
      `, ${o.generators} generator process(es)`,
    `load average ${result.loadAverage.start.join(' ')} at start, ${result.loadAverage.end.join(' ')} at end`,
  );
  const rows: [string, string][] = connectRows('connect', result.connect);
  if (result.reconnect) rows.push(...connectRows('reconnect', result.reconnect));
  if (!result.ladder) for (const p of result.phases) rows.push(...phaseRows(p));
  lines.push(table(rows));
  if (result.ladder) {
    const repeats = result.ladder.repeats ?? 1;
    lines.push(
      '',
      `  ladder (p99 bound ${result.ladder.p99BoundMs} ms${repeats > 1 ? `; a rate is sustained after ${repeats} passing steps in a row` : ''}):`,
    );
    lines.push('  step   msg/s  deliveries/s   p50 ms   p99 ms   max ms  lost   gen  verdict');
    result.ladder.steps.forEach((s, i) => {
      const p = result.phases[i]!;
      lines.push(
        `  ${String(i + 1).padStart(4)} ${rate(s.rate).padStart(7)} ${int(p.deliveriesPerSec).padStart(13)} ${ms(p.latencyMs.p50).padStart(8)} ${ms(p.latencyMs.p99).padStart(8)} ${ms(p.latencyMs.max).padStart(8)} ${String(p.delivery.lost).padStart(5)} ${(p.generatorCpuShare === undefined ? '–' : `${Math.round(p.generatorCpuShare * 100)}%`).padStart(5)}  ${s.generatorBound ? `generator-bound, not counted: ${s.reasons.join('; ')}` : s.passed ? 'ok' : s.reasons.join('; ')}`,
      );
    });
    const best = headlinePhase(result);
    lines.push(
      result.ladder.highestSustainedRate !== undefined && best
        ? `  highest sustained: ${rate(best.rate)} msg/s = ${int(best.deliveriesPerSec)} deliveries/s at p99 ${ms(best.latencyMs.p99)} ms`
        : '  no rate was sustained',
    );
    if (result.ladder.generatorBoundRate !== undefined)
      lines.push(
        `  generator-bound at ${rate(result.ladder.generatorBoundRate)} msg/s: the tester was the limit there`,
      );
  }
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
