/**
 * `npm run bench:compare -- --previous <rev>`: send throughput of this tree against an earlier
 * revision in the same run. Both embedded servers run at once (this tree's and the worktree's
 * of `rev`, see previous-revision.ts), each pinned to its CPUs away from the load generators;
 * with `--against-env K=V` instead, the other server is this tree run with that environment
 * (e.g. SEARCH_INDEX=off: what indexing costs), embedded or, with `--spawn cluster:N`, two
 * clusters on PostgreSQL and Redis;
 * the `channel` and `dm` ladders run against them alternately (A B, then B A, …) so drift in
 * the machine's load falls on both; the report gives each round's ratio and their geometric
 * mean.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { generatorsFor } from './compare-plan.js';
import { generatorCpusOf, pinProcesses, runBench, SERVER_CPUS } from './coordinator.js';
import { type Deployment, startDeployment, type TargetSpec } from './deployment.js';
import { loadAverage, machineInfo } from './machine.js';
import { checkOutRevision, currentRevision } from './previous-revision.js';
import { writeReports } from './report/report-files.js';
import { ms } from './report/text-report.js';
import { headlinePhase, type RunResult } from './run-result.js';
import { defaultOptions, ladderOptions, type ScenarioName, type ScenarioOptions } from './scenario.js';

export interface PreviousCompareOptions {
  /** The other server: revision `previous`'s embedded server, or this tree's with `againstEnv`. */
  previous?: string;
  againstEnv?: Record<string, string>;
  /** What runs for each side (default embedded; a cluster only with againstEnv). */
  target?: TargetSpec;
  /** Alternations (each runs every scenario once against each server). */
  rounds: number;
  users: number;
  /** Seconds measured per ladder step. */
  durationSec: number;
  scenarios: ('channel' | 'dm')[];
  /** Pin servers to CPU 0 and generators to the others (when the machine has ≥ 2 cores). */
  pin: boolean;
  usersDb: string | undefined;
  /** Overrides the ladders' p99 bounds (channel 100 ms, dm 50 ms): on a busy machine latency fails first. */
  p99BoundMs?: number;
  outDir: string;
  log: (line: string) => void;
  progress: (line: string) => void;
}

/** The ladders: as bench:compare's, smaller steps so rounds fit. */
export function previousRuns(
  users: number,
  durationSec: number,
  scenarios: ('channel' | 'dm')[],
  p99BoundMs?: number,
  generators = 2,
): ScenarioOptions[] {
  const step = { durationSec, warmupSec: 2, drainSec: 5, generators, users };
  const ladder = { factor: 2, resolution: 1.3, maxSteps: 6 };
  const run = (scenario: ScenarioName, patch: Partial<ScenarioOptions>): ScenarioOptions => ({
    ...defaultOptions(scenario),
    ...step,
    ...patch,
  });
  const all = {
    channel: run('channel', {
      senders: 10,
      rate: 25,
      // The same fan-out per second as 2,000 members at 25 msg/s.
      ladder: ladderOptions(Math.max(1, Math.round((25 * 2000) / users)), {
        ...ladder,
        p99BoundMs: p99BoundMs ?? 100,
      }),
    }),
    dm: run('dm', { rate: 1000, ladder: ladderOptions(1000, { ...ladder, p99BoundMs: p99BoundMs ?? 50 }) }),
  };
  return scenarios.map((s) => all[s]);
}

/** Which server goes first in round `round` (0-based): current first in even rounds. */
export function alternation<T>(round: number, current: T, previous: T): [T, T] {
  return round % 2 === 0 ? [current, previous] : [previous, current];
}

export interface RoundPair {
  current: number;
  previous: number;
}

/** Per-round ratios current / previous and their geometric mean (rounds with a 0 are left out). */
export function ratios(pairs: readonly RoundPair[]): { each: number[]; geomean: number | undefined } {
  const each = pairs.filter((p) => p.current > 0 && p.previous > 0).map((p) => p.current / p.previous);
  if (each.length === 0) return { each, geomean: undefined };
  const geomean = Math.exp(each.reduce((a, r) => a + Math.log(r), 0) / each.length);
  return { each, geomean };
}

/**
 * Server CPU per delivery, µs, at each offered rate of a run (measured window): a cost that
 * contention on a shared machine moves much less than latency does.
 */
export function cpuPerDelivery(result: RunResult | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const p of result?.phases ?? []) {
    // Only steps that delivered what was offered: an overloaded step's CPU buys a backlog.
    if (p.deliveriesPerSec > 0 && p.serverCpuPercent > 0 && p.deliveredRatio >= 0.99) {
      out.set(p.rate, ((p.serverCpuPercent / 100) * 1e6) / p.deliveriesPerSec);
    }
  }
  return out;
}

/** Ratio (this / previous) of server CPU per delivery over the rates both runs stepped through. */
export function cpuRatio(
  current: RunResult | undefined,
  previous: RunResult | undefined,
): number | undefined {
  const a = cpuPerDelivery(current);
  const b = cpuPerDelivery(previous);
  const pairs: RoundPair[] = [];
  for (const [rate, us] of a) {
    const other = b.get(rate);
    if (other !== undefined) pairs.push({ current: us, previous: other });
  }
  return ratios(pairs).geomean;
}

function sustained(result: RunResult | undefined): number {
  return result?.ladder?.highestSustainedRate ?? 0;
}

/** Markdown of the comparison: one row per scenario, ratios per round. */
export function renderPreviousMarkdown(
  head: { current: string; previous: string; command: string; startedAt: string; finishedAt: string },
  results: Record<string, { current: (RunResult | undefined)[]; previous: (RunResult | undefined)[] }>,
): string {
  const lines = [
    `Measured by \`${head.command}\` (${head.startedAt} → ${head.finishedAt}): this tree \`${head.current}\` against \`${head.previous}\`.`,
    '',
    '| scenario | round | order | this tree: sustained msg/s (p99 ms) | previous: sustained msg/s (p99 ms) | ratio | server CPU per delivery, this / previous (same rates) |',
    '|---|---:|---|---:|---:|---:|---:|',
  ];
  for (const [scenario, r] of Object.entries(results)) {
    const pairs: RoundPair[] = [];
    const cpu: number[] = [];
    r.current.forEach((cur, i) => {
      const prev = r.previous[i];
      const pair = { current: sustained(cur), previous: sustained(prev) };
      pairs.push(pair);
      const cell = (x: RunResult | undefined) => {
        const phase = x ? headlinePhase(x) : undefined;
        return x
          ? `${sustained(x).toLocaleString('en-US')} (${phase ? ms(phase.latencyMs.p99) : '–'})`
          : 'failed';
      };
      const ratio =
        pair.current > 0 && pair.previous > 0 ? `${(pair.current / pair.previous).toFixed(2)}×` : '–';
      const c = cpuRatio(cur, prev);
      if (c !== undefined) cpu.push(c);
      lines.push(
        `| ${scenario} | ${i + 1} | ${i % 2 === 0 ? 'this, previous' : 'previous, this'} | ${cell(cur)} | ${cell(prev)} | ${ratio} | ${c === undefined ? '–' : `${c.toFixed(2)}×`} |`,
      );
    });
    const g = ratios(pairs).geomean;
    const gc = ratios(cpu.map((x) => ({ current: x, previous: 1 }))).geomean;
    const fmt = (x: number | undefined) => (x === undefined ? '–' : `${x.toFixed(2)}×`);
    lines.push(`| **${scenario}** | all | | | | **${fmt(g)}** | **${fmt(gc)}** (geometric means) |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads the results a comparison wrote into `dir` (round<N>-<scenario>-<current|previous>.json). */
export function readPreviousResults(
  dir: string,
): Record<string, { current: (RunResult | undefined)[]; previous: (RunResult | undefined)[] }> {
  const results: Record<string, { current: (RunResult | undefined)[]; previous: (RunResult | undefined)[] }> =
    {};
  const files = readdirSync(dir).filter((f) => /^round\d+-\w+-(current|previous)\.json$/.test(f));
  for (const file of files) {
    const [, round, scenario, which] = /^round(\d+)-(\w+)-(current|previous)\.json$/.exec(file)!;
    results[scenario!] ??= { current: [], previous: [] };
    const entry = results[scenario!]!;
    entry[which as 'current' | 'previous'][Number(round) - 1] = JSON.parse(
      readFileSync(join(dir, file), 'utf8'),
    );
  }
  for (const entry of Object.values(results)) {
    const n = Math.max(entry.current.length, entry.previous.length);
    entry.current.length = n;
    entry.previous.length = n;
  }
  return results;
}

/** Runs the comparison; returns the markdown (also written to outDir/previous.md). */
export async function comparePrevious(o: PreviousCompareOptions): Promise<string> {
  const { log } = o;
  const startedAt = new Date().toISOString();
  const current = currentRevision();
  const target: TargetSpec = o.target ?? { kind: 'embedded' };
  if (o.previous !== undefined && target.kind !== 'embedded') {
    throw new Error('--previous runs embedded servers only; --against-env runs clusters too');
  }
  const tree = o.previous !== undefined ? checkOutRevision(o.previous, log) : undefined;
  const envText = Object.entries(o.againstEnv ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const previousName = tree ? `${o.previous} (${tree.commit})` : `this tree with ${envText}`;
  const deployments: Deployment[] = [];
  const stopAll = async () => {
    for (const d of deployments.splice(0)) await d.stop().catch(() => {});
    tree?.remove();
  };
  const onSignal = () => {
    log('\ninterrupted: stopping…');
    void stopAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const cores = cpus().length;
  const pin = o.pin && cores >= 2;
  const generatorCpus = pin ? generatorCpusOf(cores) : undefined;
  const runs = previousRuns(
    o.users,
    o.durationSec,
    o.scenarios,
    o.p99BoundMs,
    pin ? generatorsFor(cores - 1) : 2,
  );
  const results: Record<string, { current: (RunResult | undefined)[]; previous: (RunResult | undefined)[] }> =
    Object.fromEntries(runs.map((r) => [r.scenario, { current: [], previous: [] }]));
  mkdirSync(o.outDir, { recursive: true });
  try {
    const common = { log, ...(o.usersDb ? { usersDatabaseUrl: o.usersDb } : {}) };
    const label = {
      current: `this tree ${current}`,
      previous: tree ? `${o.previous} ${tree.commit}` : `this tree with ${envText}`,
    };
    const start = (options: Parameters<typeof startDeployment>[1]) =>
      startDeployment(target, { ...common, ...options }).then((d) => {
        deployments.push(d);
        return d;
      });
    const servers = {
      current: await start({}),
      previous: await start(
        tree ? { sourceRoot: { dir: tree.dir, label: label.previous } } : { serverEnv: o.againstEnv ?? {} },
      ),
    };
    servers.current.label = `${servers.current.label} (${label.current})`;
    if (!tree) servers.previous.label = `${servers.previous.label} (${label.previous})`;
    if (pin) {
      for (const d of deployments)
        pinProcesses(
          d.processes.map((p) => p.pid),
          SERVER_CPUS,
          log,
        );
      log(`servers pinned to CPU ${SERVER_CPUS}, load generators to CPUs ${generatorCpus}`);
    }
    for (let round = 0; round < o.rounds; round++) {
      for (const options of runs) {
        for (const which of alternation(round, 'current' as const, 'previous' as const)) {
          const deployment = servers[which];
          log(`\n=== round ${round + 1}/${o.rounds}: ${options.scenario} against ${deployment.label} ===`);
          let result: RunResult | undefined;
          try {
            result = await runBench({
              deployment,
              options,
              command: `npm run bench:compare -- ${process.argv.slice(2).join(' ')}`,
              log,
              progress: o.progress,
              ...(generatorCpus ? { generatorCpus } : {}),
            });
            writeReports(result, o.outDir, `round${round + 1}-${options.scenario}-${which}`);
            const best = sustained(result);
            log(`${options.scenario} ${which}: sustained ${best} msg/s (load ${loadAverage().join(' ')})`);
          } catch (err) {
            log(
              `${options.scenario} against ${which} failed: ${err instanceof Error ? err.message : String(err)}`,
            );
          }
          results[options.scenario]![which].push(result);
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
  const m = machineInfo();
  const markdown =
    renderPreviousMarkdown(
      {
        current,
        previous: previousName,
        command: `npm run bench:compare -- ${process.argv.slice(2).join(' ')}`,
        startedAt,
        finishedAt: new Date().toISOString(),
      },
      results,
    ) +
    `\n${m.cpuModel}, ${m.cores} cores, Node ${m.node}; ${pin ? `servers on CPU 0, generators on CPUs ${generatorCpus}` : 'not pinned'}; ` +
    `${o.users} users, ${o.durationSec} s per step, load average at the end ${loadAverage().join(' ')}.\n`;
  writeFileSync(join(o.outDir, 'previous.md'), markdown);
  return markdown;
}
