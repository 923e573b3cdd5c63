import type { PercentilePoint } from '../histogram.js';
import type { RunResult } from '../run-result.js';
import { lineChart, NINES_TICKS, ninesOf, type Series } from './svg-chart.js';
import { renderText } from './text-report.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Distribution series (x on the nines axis, y in ms). */
export function distributionSeries(name: string, color: string, points: PercentilePoint[]): Series {
  return { name, color, points: points.map((p) => [ninesOf(p.percentile), p.valueUs / 1000]) };
}

/** Stage bands (warm-up, drain …) of the timeline, for shading. */
function bands(result: RunResult): [number, number, string][] {
  const out: [number, number, string][] = [];
  let start: number | undefined;
  let stage = '';
  for (const p of result.timeline) {
    if (p.stage !== stage) {
      if (start !== undefined && stage !== 'measure') out.push([start, p.t, stage]);
      start = p.t;
      stage = p.stage;
    }
  }
  const last = result.timeline.at(-1);
  if (start !== undefined && last && stage !== 'measure') out.push([start, last.t, stage]);
  return out;
}

/** A self-contained HTML report of one run: tables, and inline SVG plots readable offline. */
export function renderHtml(result: RunResult): string {
  const tl = result.timeline;
  const charts: string[] = [];
  const stageBands = bands(result);
  if (result.phases.length > 0) {
    charts.push(
      lineChart({
        title: 'Latency over time (per second, arrival − intended send)',
        xLabel: 'time (s)',
        yLabel: 'latency (ms, log)',
        logY: true,
        bands: stageBands,
        series: [
          {
            name: 'p50',
            color: COLORS[0]!,
            points: tl.filter((p) => p.p50Ms > 0).map((p) => [p.t, p.p50Ms]),
          },
          {
            name: 'p99',
            color: COLORS[1]!,
            points: tl.filter((p) => p.p99Ms > 0).map((p) => [p.t, p.p99Ms]),
          },
          {
            name: 'max',
            color: COLORS[3]!,
            points: tl.filter((p) => p.maxMs > 0).map((p) => [p.t, p.maxMs]),
          },
        ],
      }),
      lineChart({
        title: 'Latency distribution (measured window)',
        xLabel: 'percentile',
        yLabel: 'latency (ms, log)',
        logY: true,
        xTicks: NINES_TICKS,
        series: result.phases.map((p, i) =>
          distributionSeries(
            result.ladder ? `${p.rate} msg/s` : 'latency',
            COLORS[i % COLORS.length]!,
            p.distribution,
          ),
        ),
      }),
      lineChart({
        title: 'Throughput',
        xLabel: 'time (s)',
        yLabel: 'per second',
        bands: stageBands,
        series: [
          { name: 'deliveries/s', color: COLORS[2]!, points: tl.map((p) => [p.t, p.deliveriesPerSec]) },
          { name: 'sent/s', color: COLORS[4]!, points: tl.map((p) => [p.t, p.sentPerSec]) },
        ],
      }),
    );
  }
  const withChanges = result.phases.filter((p) => p.changes && p.changes.distribution.length > 0);
  if (withChanges.length > 0) {
    charts.push(
      lineChart({
        title:
          'mixed: message and change latency distributions (send → message, change → change frame at the other members)',
        xLabel: 'percentile',
        yLabel: 'latency (ms, log)',
        logY: true,
        xTicks: NINES_TICKS,
        series: withChanges.flatMap((p, i) => [
          distributionSeries(
            result.ladder ? `messages ${p.rate}/s` : 'messages',
            COLORS[(2 * i) % COLORS.length]!,
            p.distribution,
          ),
          distributionSeries(
            result.ladder ? `changes ${p.rate}/s` : 'changes',
            COLORS[(2 * i + 1) % COLORS.length]!,
            p.changes!.distribution,
          ),
        ]),
      }),
    );
  }
  if (result.connect.distribution.length > 0) {
    charts.push(
      lineChart({
        title: 'Connect latency distribution (attempt → ready)',
        xLabel: 'percentile',
        yLabel: 'ms (log)',
        logY: true,
        xTicks: NINES_TICKS,
        series: [
          distributionSeries('connect', COLORS[0]!, result.connect.distribution),
          ...(result.reconnect
            ? [distributionSeries('reconnect (drop → ready)', COLORS[1]!, result.reconnect.distribution)]
            : []),
        ],
      }),
    );
  }
  charts.push(
    lineChart({
      title: 'CPU (percent of one core)',
      xLabel: 'time (s)',
      yLabel: '%',
      bands: stageBands,
      series: [
        { name: 'server', color: COLORS[1]!, points: tl.map((p) => [p.t, p.serverCpuPercent]) },
        { name: 'generator', color: COLORS[0]!, points: tl.map((p) => [p.t, p.generatorCpuPercent]) },
      ],
    }),
  );
  if (result.ladder) {
    charts.push(
      lineChart({
        title: `Ladder: p99 by offered rate (bound ${result.ladder.p99BoundMs} ms)`,
        xLabel: 'deliveries/s offered',
        yLabel: 'p99 (ms, log)',
        logY: true,
        series: [
          {
            name: 'p99',
            color: COLORS[1]!,
            points: result.phases
              .map((p) => [p.rate * p.fanout, Math.max(p.latencyMs.p99, 0.001)] as [number, number])
              .sort((a, b) => a[0] - b[0]),
          },
          {
            name: `bound ${result.ladder.p99BoundMs} ms`,
            color: '#999',
            points: [
              [Math.min(...result.phases.map((p) => p.rate * p.fanout)), result.ladder.p99BoundMs],
              [Math.max(...result.phases.map((p) => p.rate * p.fanout)), result.ladder.p99BoundMs],
            ],
          },
        ],
      }),
    );
  }
  const title = `${result.scenario} — ${result.target.label}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;margin:24px;max-width:980px;color:#222}pre{background:#f7f7f7;padding:12px;overflow-x:auto;font-size:12px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}svg{display:block;margin:12px 0}</style></head>
<body>
<h1>${esc(title)}</h1>
<p>${esc(result.target.description)}. Started ${esc(result.startedAt)} on ${esc(result.machine.cpuModel)} (${result.machine.cores} cores,
${(result.machine.memoryBytes / 2 ** 30).toFixed(1)} GiB), Node ${esc(result.machine.node)}.</p>
<pre>${esc(result.command)}</pre>
<h2>Summary</h2>
<pre>${esc(renderText(result))}</pre>
<h2>Plots</h2>
${charts.join('\n')}
<h2>Processes</h2>
<pre>${esc(result.processes.map((p) => `${p.name.padEnd(14)} ${p.role.padEnd(10)} mean CPU ${p.meanCpuPercent}%  peak RSS ${(p.peakRssBytes / 2 ** 20).toFixed(0)} MiB`).join('\n'))}</pre>
<p>Latency is measured from each message's intended send time (carried in its body) to its arrival, so
queueing in the load generator counts (no coordinated omission). Raw data: the JSON file next to this report.</p>
</body></html>
`;
}
