/**
 * `npm run bench:compare [-- --quick] [--only ws,embedded,…] [--repeats N] [--no-pin] [--no-docs] [--out DIR]`:
 * runs the connect, channel and dm scenarios against the baselines (bare ws broadcast, batched
 * ws — the limit —, ws over Redis, Socket.IO + redis-adapter), relay-chat embedded and
 * relay-chat with 2 chat replicas + Redis + PostgreSQL, one system at a time, and writes
 * docs/benchmarks.md (the table, the machine, the versions, the exact commands).
 *
 * A ladder rate is sustained when `--repeats` steps at it (default 3) pass in a row. Server
 * processes run on CPU 0 and the load generators on the other CPUs (taskset) unless `--no-pin`;
 * a step where the generators were the bottleneck is marked and not counted (see ladder.ts).
 *
 * `npm run bench:compare -- --previous <rev> [--rounds N] [--users N] [--duration S]
 * [--scenarios channel,dm] [--no-pin]`: this tree's embedded server against revision <rev>'s,
 * alternately, in the same run (see compare-previous.ts); writes previous.md under --out.
 * `--against-env K=V[,K=V] [--spawn embedded|cluster:N]` compares the same way against this
 * tree run with that environment (e.g. SEARCH_INDEX=off).
 * `--report-from DIR` re-renders that table from the JSON results in DIR.
 *
 * Bounded: every run is a bounded ladder with timeouts; only 127.0.0.1; every process it
 * starts is stopped, the cluster's database dropped and its Redis prefix cleaned.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import {
  COMPARE_REPEATS,
  COMPARE_TARGETS,
  type CompareSize,
  compareRuns,
  equivalentCommand,
  generatorsFor,
  TAIL_STEPS,
  TAIL_TARGETS,
  tailRun,
} from './compare-plan.js';
import { comparePrevious, readPreviousResults, renderPreviousMarkdown } from './compare-previous.js';
import { type CompareEntry, keptSectionsOf, notesOf, renderBenchmarksMarkdown } from './compare-report.js';
import { generatorCpusOf, pinProcesses, runBench, SERVER_CPUS } from './coordinator.js';
import { benchDir, type Deployment, parseTarget, startDeployment } from './deployment.js';
import { machineInfo, packageVersions, REPO_ROOT } from './machine.js';
import { intOption, numberOption } from './option-numbers.js';
import { renderCompareHtml } from './report/compare-html.js';
import { writeReports } from './report/report-files.js';
import { renderText } from './report/text-report.js';

const DOC = join(REPO_ROOT, 'docs/benchmarks.md');

function log(line: string): void {
  process.stdout.write(`${process.stdout.isTTY ? '\r\x1b[2K' : ''}${line}\n`);
}

let lastPlain = 0;
function progress(line: string): void {
  if (process.stdout.isTTY) {
    process.stdout.write(`\r\x1b[2K${line.slice(0, (process.stdout.columns ?? 200) - 1)}`);
  } else if (Date.now() - lastPlain >= 10_000) {
    lastPlain = Date.now();
    process.stdout.write(`${line}\n`);
  }
}

function serviceVersions(): Promise<Record<string, string>> {
  const psql = spawnSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-Atc', 'show server_version'], {
    encoding: 'utf8',
    timeout: 5000,
  });
  const nginx = spawnSync('nginx', ['-v'], { encoding: 'utf8', timeout: 5000 });
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
  });
  return redis
    .connect()
    .then(() => redis.info('server'))
    .then((info) => /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown')
    .catch(() => 'unreachable')
    .finally(() => redis.disconnect())
    .then((redisVersion) => ({
      PostgreSQL: psql.status === 0 ? psql.stdout.trim() : 'unknown',
      Redis: redisVersion,
      nginx: /nginx\/(\S+)/.exec(nginx.stderr ?? '')?.[1] ?? 'unknown',
    }));
}

let current: Deployment | undefined;
let interrupted = false;
function onSignal(): void {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('\ninterrupted: stopping…');
  void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
}

/** `K=V,K=V` (--against-env) as an environment. */
function envPairs(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(pair.trim());
    if (!m) throw new Error(`--against-env: expected NAME=value[,NAME=value], got "${pair}"`);
    env[m[1]!] = m[2]!;
  }
  return env;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean' },
      only: { type: 'string' },
      'no-docs': { type: 'boolean' },
      out: { type: 'string' },
      'users-db': { type: 'string' },
      previous: { type: 'string' },
      'against-env': { type: 'string' },
      spawn: { type: 'string' },
      rounds: { type: 'string' },
      users: { type: 'string' },
      duration: { type: 'string' },
      scenarios: { type: 'string' },
      'no-pin': { type: 'boolean' },
      repeats: { type: 'string' },
      'p99-bound': { type: 'string' },
      'report-from': { type: 'string' },
    },
  });
  if (values['report-from']) {
    // Re-renders a --previous comparison from the JSON results it wrote (no runs).
    const dir = values['report-from'];
    const markdown = renderPreviousMarkdown(
      {
        current: 'this tree',
        previous: values.previous ?? 'previous',
        command: `npm run bench:compare -- --report-from ${dir}`,
        startedAt: '',
        finishedAt: '',
      },
      readPreviousResults(dir),
    );
    log(markdown);
    return;
  }
  if (values.previous || values['against-env']) {
    if (values.previous && values['against-env']) throw new Error('give either --previous or --against-env');
    const againstEnv = values['against-env'] ? envPairs(values['against-env']) : undefined;
    const scenarios = (values.scenarios ?? 'channel,dm').split(',').map((s) => s.trim());
    for (const s of scenarios)
      if (s !== 'channel' && s !== 'dm') throw new Error(`--scenarios: channel and/or dm, got "${s}"`);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const markdown = await comparePrevious({
      ...(values.previous ? { previous: values.previous } : {}),
      ...(againstEnv ? { againstEnv } : {}),
      ...(values.spawn ? { target: parseTarget(values.spawn, undefined) } : {}),
      rounds: intOption('rounds', values.rounds) ?? 2,
      users: intOption('users', values.users) ?? 2000,
      durationSec: intOption('duration', values.duration) ?? 4,
      scenarios: scenarios as ('channel' | 'dm')[],
      pin: !values['no-pin'],
      ...(values['p99-bound'] ? { p99BoundMs: numberOption('p99-bound', values['p99-bound'], 0.001) } : {}),
      usersDb: values['users-db'],
      outDir: values.out ?? benchDir('previous', stamp),
      log,
      progress,
    });
    log(`\n${markdown}`);
    return;
  }
  // (--previous handles its own signals: it has two servers and a worktree to clean up.)
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const usersDb = values['users-db'];
  const size: CompareSize = values.quick ? 'quick' : 'full';
  const only = values.only?.split(',').map((s) => s.trim());
  const targets = COMPARE_TARGETS.filter((t) => !only || only.includes(t.id));
  if (targets.length === 0) throw new Error(`--only: none of ${COMPARE_TARGETS.map((t) => t.id).join(', ')}`);
  const repeats = intOption('repeats', values.repeats) ?? COMPARE_REPEATS;
  // Servers on CPU 0, generators on the others: neither steals the other's core.
  const cores = cpus().length;
  const pin = !values['no-pin'] && cores >= 2;
  const generators = pin ? generatorsFor(cores - 1) : 2;
  const runs = compareRuns(size, repeats, generators);
  const tail = tailRun(size, generators);
  const serverCpus = SERVER_CPUS;
  const generatorCpus = generatorCpusOf(cores);
  if (!values['no-pin'] && !pin) log('not pinning: one CPU only');
  if (pin) log(`pinning: servers to CPU ${serverCpus}, load generators to CPU(s) ${generatorCpus}`);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const outDir = values.out ?? benchDir('compare', stamp);
  const startedAt = new Date().toISOString();
  const entries: CompareEntry[] = [];

  for (const target of targets) {
    const entry: CompareEntry = {
      target,
      label: target.id,
      description: '',
      results: {},
      commands: [
        ...runs.map((o) => equivalentCommand(target, o, usersDb)),
        ...(TAIL_TARGETS.includes(target.id)
          ? [`${equivalentCommand(target, tail, usersDb)}   # × ${TAIL_STEPS}, the tail`]
          : []),
      ],
      tail: [],
      errors: [],
    };
    entries.push(entry);
    log(`\n=== ${target.id} ===`);
    let deployment: Deployment | undefined;
    try {
      deployment = await startDeployment(target.spec, {
        log,
        ...(usersDb ? { usersDatabaseUrl: usersDb } : {}),
      });
      current = deployment;
      if (pin)
        pinProcesses(
          deployment.processes.map((p) => p.pid),
          serverCpus,
          log,
        );
      entry.label = deployment.label;
      entry.description = deployment.description;
      const running = deployment;
      /** One bench run: its result, logged and written out; or its error, recorded. */
      const measure = async (options: (typeof runs)[number], report: string, what: string) => {
        try {
          const result = await runBench({
            deployment: running,
            options,
            command: equivalentCommand(target, options, usersDb),
            log,
            progress,
            ...(pin ? { generatorCpus, serverCpus } : {}),
          });
          log(renderText(result));
          writeReports(result, outDir, `${target.id}-${report}`);
          return result;
        } catch (err) {
          entry.errors.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
          log(`${target.id} ${what} failed: ${entry.errors.at(-1)}`);
          return undefined;
        }
      };
      for (const options of runs) {
        const result = await measure(options, options.scenario, options.scenario);
        if (result) entry.results[options.scenario as 'connect' | 'channel' | 'dm'] = result;
      }
      // The tail: the same fixed load, TAIL_STEPS times, every step kept.
      for (let step = 1; TAIL_TARGETS.includes(target.id) && step <= TAIL_STEPS; step++) {
        const result = await measure(tail, `tail-${step}`, `tail step ${step}`);
        if (result) entry.tail?.push(result);
      }
    } catch (err) {
      entry.errors.push(`start: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
      log(`${target.id} did not start: ${entry.errors.at(-1)}`);
    } finally {
      current = undefined;
      await deployment?.stop();
    }
  }

  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const markdown = renderBenchmarksMarkdown(
    entries,
    {
      startedAt,
      finishedAt: new Date().toISOString(),
      machine: machineInfo(),
      versions: packageVersions(),
      services: await serviceVersions(),
      commit: commit.status === 0 ? commit.stdout.trim() : 'unknown',
      command: `npm run bench:compare${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      size,
      resultsDir: outDir.replace(REPO_ROOT, ''),
      users: runs.find((r) => r.scenario === 'channel')?.users ?? 0,
      repeats,
      pinning: pin ? { serverCpus, generatorCpus } : undefined,
    },
    notesOf(existsSync(DOC) ? readFileSync(DOC, 'utf8') : undefined),
    keptSectionsOf(existsSync(DOC) ? readFileSync(DOC, 'utf8') : undefined),
  );
  writeFileSync(join(outDir, 'benchmarks.md'), markdown);
  writeFileSync(join(outDir, 'compare.html'), renderCompareHtml(entries, markdown));
  log(`comparison plots: ${join(outDir, 'compare.html')}`);
  if (!values['no-docs'] && size === 'full' && !only) {
    writeFileSync(DOC, markdown);
    log(`\nwrote ${DOC}`);
  } else {
    log(
      `\nwrote ${join(outDir, 'benchmarks.md')} (docs/benchmarks.md is written by a full run of every target)`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    log(`bench:compare failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
