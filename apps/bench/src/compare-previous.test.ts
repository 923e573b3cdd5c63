import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alternation,
  cpuPerDelivery,
  previousRuns,
  ratios,
  readPreviousResults,
  renderPreviousMarkdown,
} from './compare-previous.js';
import { linkNodeModules } from './previous-revision.js';
import type { RunResult } from './run-result.js';

describe('bench:compare --previous', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('alternates which server goes first, round after round', () => {
    expect([0, 1, 2, 3].map((r) => alternation(r, 'this', 'prev')[0])).toEqual([
      'this',
      'prev',
      'this',
      'prev',
    ]);
    expect(alternation(1, 'this', 'prev')).toEqual(['prev', 'this']);
  });

  it('gives per-round ratios and their geometric mean, leaving out rounds where one failed', () => {
    const r = ratios([
      { current: 100, previous: 50 },
      { current: 50, previous: 100 },
      { current: 0, previous: 100 },
    ]);
    expect(r.each).toEqual([2, 0.5]);
    expect(r.geomean).toBeCloseTo(1, 10);
    expect(ratios([{ current: 0, previous: 0 }]).geomean).toBeUndefined();
  });

  it('runs the channel and dm ladders with the same fan-out per second whatever the users', () => {
    const [channel, dm] = previousRuns(500, 3, ['channel', 'dm']);
    expect(channel).toMatchObject({
      scenario: 'channel',
      users: 500,
      durationSec: 3,
      ladder: { startRate: 100 },
    });
    expect(dm).toMatchObject({ scenario: 'dm', users: 500, ladder: { startRate: 1000, p99BoundMs: 50 } });
    expect(previousRuns(2000, 4, ['dm'])).toHaveLength(1);
  });

  it('renders a row per round and the mean ratio', () => {
    // Server CPU per delivery: 10% of a core for 1,000 deliveries/s = 100 µs; 20% = 200 µs.
    const result = (rate: number, p99: number, cpu = 10) =>
      ({
        ladder: { p99BoundMs: 50, steps: [], highestSustainedRate: rate },
        phases: [
          { rate, latencyMs: { p99 }, deliveriesPerSec: 1000, serverCpuPercent: cpu, deliveredRatio: 1 },
        ],
      }) as unknown as RunResult;
    const md = renderPreviousMarkdown(
      { current: 'abc', previous: 'HEAD~1 (def)', command: 'cmd', startedAt: 's', finishedAt: 'f' },
      { dm: { current: [result(1000, 20), result(1200, 30)], previous: [result(1000, 25, 20), undefined] } },
    );
    expect(md).toContain('| dm | 1 | this, previous | 1,000 (20) | 1,000 (25) | 1.00× | 0.50× |');
    expect(md).toContain('| dm | 2 | previous, this | 1,200 (30) | failed | – | – |');
    expect(md).toContain('| **dm** | all | | | | **1.00×** | **0.50×** (geometric means) |');
  });

  it('reads back the results a comparison wrote, by round, and leaves overloaded steps out of the CPU cost', () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-prev-'));
    const run = (rate: number) => ({
      ladder: { highestSustainedRate: rate },
      phases: [
        { rate, deliveriesPerSec: 1000, serverCpuPercent: 10, deliveredRatio: 1 },
        { rate: 2 * rate, deliveriesPerSec: 10, serverCpuPercent: 50, deliveredRatio: 0.01 },
      ],
    });
    writeFileSync(join(dir, 'round1-dm-current.json'), JSON.stringify(run(100)));
    writeFileSync(join(dir, 'round2-dm-previous.json'), JSON.stringify(run(200)));
    writeFileSync(join(dir, 'previous.md'), 'not a result');
    const results = readPreviousResults(dir);
    expect(Object.keys(results)).toEqual(['dm']);
    expect(results.dm!.current.map((r) => r?.ladder?.highestSustainedRate)).toEqual([100, undefined]);
    expect(results.dm!.previous.map((r) => r?.ladder?.highestSustainedRate)).toEqual([undefined, 200]);
    expect([...cpuPerDelivery(results.dm!.current[0]).entries()]).toEqual([[100, 100]]);
  });

  it("links third-party packages to this tree's and workspace packages into the worktree", () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-link-'));
    const from = join(dir, 'repo', 'node_modules');
    mkdirSync(join(from, 'ws'), { recursive: true });
    writeFileSync(join(from, 'ws', 'package.json'), '{}');
    mkdirSync(join(from, '@relay-chat'), { recursive: true });
    symlinkSync('../../packages/protocol', join(from, '@relay-chat', 'protocol'));
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'packages', 'protocol'), { recursive: true });
    linkNodeModules(from, join(tree, 'node_modules'));
    expect(realpathSync(join(tree, 'node_modules', 'ws'))).toBe(realpathSync(join(from, 'ws')));
    expect(readlinkSync(join(tree, 'node_modules', '@relay-chat', 'protocol'))).toBe(
      '../../packages/protocol',
    );
    expect(realpathSync(join(tree, 'node_modules', '@relay-chat', 'protocol'))).toBe(
      realpathSync(join(tree, 'packages', 'protocol')),
    );
    // Idempotent: a second pass leaves what is there.
    linkNodeModules(from, join(tree, 'node_modules'));
    expect(existsSync(join(tree, 'node_modules', 'ws', 'package.json'))).toBe(true);
  });
});
