import type { CompareEntry } from '../compare-report.js';
import { headlinePhase } from '../run-result.js';
import { distributionSeries } from './html-report.js';
import { lineChart, NINES_TICKS } from './svg-chart.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * One self-contained page comparing the systems: latency distribution of each at its highest
 * sustained rate, and p99 by offered load over its ladder — per scenario.
 */
export function renderCompareHtml(entries: CompareEntry[], markdown: string): string {
  const charts: string[] = [];
  for (const scenario of ['channel', 'dm'] as const) {
    const withLadder = entries.filter((e) => e.results[scenario]?.ladder);
    charts.push(
      lineChart({
        title: `${scenario}: latency distribution at each system's highest sustained rate`,
        xLabel: 'percentile',
        yLabel: 'latency (ms, log)',
        logY: true,
        xTicks: NINES_TICKS,
        series: withLadder.flatMap((e, i) => {
          const p = headlinePhase(e.results[scenario]!);
          return p && e.results[scenario]!.ladder?.highestSustainedRate !== undefined
            ? [
                distributionSeries(
                  `${e.target.id} (${Math.round(p.deliveriesPerSec).toLocaleString('en-US')}/s)`,
                  COLORS[i % COLORS.length]!,
                  p.distribution,
                ),
              ]
            : [];
        }),
      }),
      lineChart({
        title: `${scenario}: p99 by offered deliveries/s (ladder steps)`,
        xLabel: 'deliveries/s offered',
        yLabel: 'p99 (ms, log)',
        logY: true,
        series: withLadder.map((e, i) => ({
          name: e.target.id,
          color: COLORS[i % COLORS.length]!,
          points: e.results[scenario]!.phases.map(
            (p) => [p.rate * p.fanout, Math.max(p.latencyMs.p99, 0.001)] as [number, number],
          ).sort((a, b) => a[0] - b[0]),
        })),
      }),
    );
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>relay-chat benchmarks</title>
<style>body{font-family:sans-serif;margin:24px;max-width:980px;color:#222}pre{background:#f7f7f7;padding:12px;overflow-x:auto;font-size:12px;white-space:pre-wrap}svg{display:block;margin:12px 0}</style></head>
<body><h1>relay-chat benchmarks</h1>
${charts.join('\n')}
<pre>${esc(markdown)}</pre>
</body></html>
`;
}
