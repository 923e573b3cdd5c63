import { describe, expect, it } from 'vitest';
import { COMPARE_TARGETS } from '../compare-plan.js';
import {
  type CompareEntry,
  KEPT_END,
  KEPT_START,
  keptSectionsOf,
  NOTES_END,
  NOTES_START,
  notesOf,
  renderBenchmarksMarkdown,
} from '../compare-report.js';
import { LatencyHistogram } from '../histogram.js';
import { judgeStep, type LadderStep } from '../ladder.js';
import { machineInfo } from '../machine.js';
import type { PhaseSummary, RunResult } from '../run-result.js';
import { headlinePhase, toMs } from '../run-result.js';
import { defaultOptions, ladderOptions } from '../scenario.js';
import { renderCompareHtml } from './compare-html.js';
import { renderHtml } from './html-report.js';
import { renderText } from './text-report.js';

function phase(step: number, rate: number, p99Us: number): PhaseSummary {
  const h = new LatencyHistogram();
  for (let i = 0; i < 1000; i++) h.record(i < 980 ? 1000 : p99Us);
  return {
    step,
    rate,
    durationSec: 4,
    scheduledMeasured: rate * 4,
    sent: rate * 6,
    acked: rate * 6,
    unacked: 0,
    fanout: 2000,
    deliveriesPerSec: rate * 2000,
    deliveredRatio: 1,
    sentRatio: 1,
    latencyMs: toMs(h.summary()),
    distribution: h.distribution(),
    delivery: {
      acked: rate * 6,
      expected: rate * 6 * 2000,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      receiversWithLoss: 0,
    },
    errors: {},
    closes: {},
    serverCpuPercent: 120,
    serverRssBytes: 300 * 2 ** 20,
    generatorCpuPercent: 60,
  };
}

function ladderResult(): RunResult {
  const options = { ...defaultOptions('channel'), ladder: ladderOptions(25) };
  const phases = [phase(1, 25, 5_000), phase(2, 50, 20_000), phase(3, 100, 500_000)];
  const steps = phases.map((p) =>
    judgeStep(
      { rate: p.rate, p99Ms: p.latencyMs.p99, deliveredRatio: 1, sentRatio: 1, lost: 0, serverCloses: 0 },
      options.ladder,
    ),
  );
  return {
    version: 1,
    scenario: 'channel',
    target: { label: 'relay-chat embedded', kind: 'relay-chat', description: 'test <b>', urls: ['http://x'] },
    options,
    command: 'npm run bench -- channel --ladder',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    machine: machineInfo(),
    versions: { ws: '8' },
    loadAverage: { start: [0.5, 0.4, 0.3], end: [1, 0.5, 0.3] },
    connect: {
      ok: 2000,
      failed: 0,
      perSec: 3000,
      elapsedMs: 667,
      latencyMs: toMs(new LatencyHistogram().summary()),
      distribution: [],
      errors: {},
      recovered: 0,
    },
    phases,
    ladder: {
      p99BoundMs: 100,
      steps,
      highestSustainedRate: 50,
      highestSustainedDeliveriesPerSec: 100_000,
    },
    timeline: [0, 1, 2, 3].map((t) => ({
      t,
      stage: t < 2 ? 'warmup' : 'measure',
      step: 1,
      sentPerSec: 25,
      deliveriesPerSec: 50_000,
      p50Ms: 1,
      p99Ms: 5,
      maxMs: 9,
      open: 2000,
      serverCpuPercent: 100,
      serverRssBytes: 1,
      generatorCpuPercent: 50,
    })),
    processes: [{ name: 'relay-chat', role: 'server', meanCpuPercent: 100, peakRssBytes: 1 }],
    warnings: [],
  };
}

describe('reports', () => {
  it('renders the ladder in the terminal table with the highest sustained rate', () => {
    const text = renderText(ladderResult());
    expect(text).toMatch(/highest sustained: 50 msg\/s = 100,000 deliveries\/s/);
    expect(text).toMatch(/p99 50\d\.\d ms > 100 ms/);
  });

  it('writes a self-contained HTML report with latency-over-time and distribution plots', () => {
    const html = renderHtml(ladderResult());
    expect(html).toContain('Latency over time');
    expect(html).toContain('Latency distribution');
    expect(html.match(/<svg/g)?.length).toBeGreaterThanOrEqual(4);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    expect(html).not.toContain('<script');
    expect(html).toContain('test &lt;b&gt;');
  });

  it('writes the benchmarks page with ratios against the baselines and keeps the hand-written notes', () => {
    const entry = (id: string, result: RunResult): CompareEntry => ({
      target: COMPARE_TARGETS.find((t) => t.id === id)!,
      label: id,
      description: '',
      results: { channel: result },
      commands: [`npm run bench -- channel --spawn ${id}`],
      errors: [],
    });
    const slow = ladderResult();
    slow.ladder!.highestSustainedRate = 25;
    const notes = `${NOTES_START}\nprofile says writev\n${NOTES_END}`;
    const entries = [entry('ws', slow), entry('embedded', ladderResult())];
    const md = renderBenchmarksMarkdown(
      entries,
      {
        startedAt: '2026-01-01T00:00:00.000Z',
        finishedAt: '2026-01-01T00:10:00.000Z',
        machine: machineInfo(),
        versions: { ws: '8' },
        services: { Redis: '7' },
        commit: 'abc',
        command: 'npm run bench:compare',
        size: 'full',
        resultsDir: '.bench/compare/x',
        users: 2000,
      },
      notesOf(`# old page\n${notes}\nold table`),
    );
    expect(md).toContain('profile says writev');
    expect(md).toMatch(/\| embedded \| 1 \| 50 \| 100,000 \|.*\| 2\.0× \| – \|/);
    expect(md).toContain('npm run bench -- channel --spawn embedded');
    expect(notesOf(undefined)).toBe(`${NOTES_START}\n${NOTES_END}`);
    const kept = `${KEPT_START}\n## Mixed\nfigures\n${KEPT_END}`;
    expect(keptSectionsOf(`# page\n${kept}\ntext\n${kept.replace('Mixed', 'Previous')}\n## Commands`)).toBe(
      `${kept}\n\n${kept.replace('Mixed', 'Previous')}`,
    );
    expect(keptSectionsOf(undefined)).toBe('');
    const html = renderCompareHtml(entries, md);
    expect(html.match(/<svg/g)).toHaveLength(4);
    expect(html).toContain('embedded (100,000/s)');
  });

  it('shows every repeat of the sustained rate, the worst as the headline, and generator-bound steps', () => {
    const result = ladderResult();
    const ladder = { ...result.options.ladder!, repeats: 3 };
    result.options = { ...result.options, ladder };
    const measured = [
      { ...phase(1, 50, 5_000), generatorCpuShare: 0.4, generatorCores: 1 },
      { ...phase(2, 50, 30_000), generatorCpuShare: 0.5, generatorCores: 1 },
      { ...phase(3, 50, 10_000), generatorCpuShare: 0.45, generatorCores: 1 },
      ...[4, 5, 6].map((i) => ({ ...phase(i, 100, 500_000), generatorCpuShare: 0.97, generatorCores: 1 })),
    ];
    const steps: LadderStep[] = measured.map((p, i) => ({
      ...judgeStep(
        {
          rate: p.rate,
          p99Ms: p.latencyMs.p99,
          deliveredRatio: 1,
          sentRatio: 1,
          lost: 0,
          serverCloses: 0,
          generatorCpuShare: p.generatorCpuShare,
        },
        ladder,
      ),
      repeat: (i % 3) + 1,
    }));
    expect(steps.slice(3).every((s) => s.generatorBound && !s.passed)).toBe(true);
    result.phases = measured;
    result.ladder = { p99BoundMs: 100, repeats: 3, steps, highestSustainedRate: 50, generatorBoundRate: 100 };
    expect(headlinePhase(result)?.step).toBe(2);
    const md = renderBenchmarksMarkdown(
      [
        {
          target: COMPARE_TARGETS.find((t) => t.id === 'embedded')!,
          label: 'embedded',
          description: '',
          results: { channel: result },
          commands: [],
          errors: [],
        },
      ],
      {
        startedAt: '2026-01-01T00:00:00.000Z',
        finishedAt: '2026-01-01T00:10:00.000Z',
        machine: machineInfo(),
        versions: {},
        services: {},
        commit: 'abc',
        command: 'npm run bench:compare',
        size: 'full',
        resultsDir: '.bench/compare/x',
        users: 2000,
        repeats: 3,
        pinning: { serverCpus: '0', generatorCpus: '1' },
      },
      notesOf(undefined),
    );
    const row = md.split('\n').find((l) => l.startsWith('| embedded |'))!;
    expect(row).toMatch(/\| 50 \(generator-bound at 100\) \|/);
    expect(row).toMatch(/\| 5(\.\d+)?, 30(\.\d+)?, 10(\.\d+)? \|/);
    expect(row).toContain('| 50% of 1 |');
    expect(md).toMatch(/100 msg\/s #2 → p99 50\d ms, gen 97% of 1 ⚠ generator-bound, not counted/);
    expect(md).toContain('only when 3 steps at it pass in a row');
    expect(md).toContain('servers pinned to CPU 0, generators to CPU 1');
  });
});
