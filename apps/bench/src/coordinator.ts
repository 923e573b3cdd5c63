import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { nowMs } from './bench-message.js';
import { accountDeliveries, mergeAcked } from './delivery-tracker.js';
import type { Deployment } from './deployment.js';
import type { ConnectOutcome, PhaseResult, PhaseSpec } from './generator-protocol.js';
import { GeneratorSet } from './generator-set.js';
import { mergeEncoded } from './histogram.js';
import { highestSustained, judgeStep, type LadderStep, nextLadderRate, rateVerdict } from './ladder.js';
import { loadAverage, machineInfo, packageVersions } from './machine.js';
import { ProcessSampler } from './process-sampler.js';
import { setUpChannel, setUpDms } from './relay-setup.js';
import { type RemoteProfile, startRemoteProfile } from './remote-profiler.js';
import { ms } from './report/text-report.js';
import { RunMonitor } from './run-monitor.js';
import {
  type ChangeSummary,
  type ConnectSummary,
  type PhaseSummary,
  type RunResult,
  toMs,
} from './run-result.js';
import {
  baselineLayout,
  type ConversationLayout,
  fanoutOf,
  type PlannedUser,
  planClients,
  type ScenarioOptions,
  senderCountOf,
  splitPlans,
  usesChannel,
} from './scenario.js';
import { SendCursor } from './send-schedule.js';
import { UserPool } from './user-pool.js';

export interface RunContext {
  deployment: Deployment;
  options: ScenarioOptions;
  /** The command line, for the report. */
  command: string;
  /** A line worth keeping (setup steps, ladder verdicts). */
  log: (line: string) => void;
  /** The live progress line (replaced every second on a terminal). */
  progress: (line: string) => void;
  /** Directory of the user stores (default `.bench/users`). */
  usersDir?: string;
  /**
   * Record a V8 CPU profile of the deployment's first process over what is measured (the
   * phases; for `connect`, the connecting) and write it to this file (`.cpuprofile`).
   */
  profileFile?: string;
  /** Pin the load-generator processes to these CPUs (taskset list, e.g. `1`). */
  generatorCpus?: string;
  /** Where the caller pinned the server processes (taskset list), for the report only. */
  serverCpus?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Runs one scenario against a deployment: users and conversations, generator processes,
 * connect, then the measured phase(s) — one run, a ladder, or a drop-and-resume — and
 * returns the merged result. Always closes the generators; never stops the deployment.
 */
export async function runBench(ctx: RunContext): Promise<RunResult> {
  const { deployment, options, log } = ctx;
  const startedAt = new Date().toISOString();
  const mixed = options.scenario === 'mixed';
  if (mixed && deployment.kind !== 'relay-chat')
    throw new Error('the mixed scenario needs relay-chat (the baselines have no edits or reactions)');
  const loadStart = loadAverage();
  const warnings: string[] = [];
  if (loadStart[0] > 2)
    warnings.push(`load average was ${loadStart[0]} at the start: other work shared the machine`);

  const { users, layout } = await prepare(deployment, options, log, ctx.usersDir);
  const fanout = fanoutOf(options, layout);
  const senders = senderCountOf(options, layout);
  const clients = planClients(options, deployment, users, layout);
  const plans = splitPlans(clients, options.generators, {
    driver: deployment.driver,
    messageSize: options.messageSize,
    connectConcurrency: options.connectConcurrency,
    connectTimeoutMs: options.connectTimeoutMs,
    runId: randomBytes(4).toString('hex'),
    ...(deployment.kind === 'relay-chat' && deployment.apiUrl ? { historyBaseUrl: deployment.apiUrl } : {}),
    ...(mixed ? { mix: { edits: options.edits, reactions: options.reactions } } : {}),
  });

  const generators = new GeneratorSet(options.generators);
  if (ctx.generatorCpus) pinProcesses(generators.pids, ctx.generatorCpus, log);
  // The generators' CPU is reported as a share of the cores they may run on.
  const generatorCores = ctx.generatorCpus ? cpuListSize(ctx.generatorCpus) : cpus().length;
  // mixed: a generator learns a change's intended time from the actor's acknowledgement,
  // which may arrive in another generator: relay every acknowledged change to all of them.
  const offChanges = mixed
    ? generators.on((_from, message) => {
        if (message.type === 'tick' && message.changes) {
          generators.broadcast({ type: 'changes', changes: message.changes });
        }
      })
    : undefined;
  const sampler = new ProcessSampler();
  for (const p of deployment.processes) sampler.watch(p);
  generators.pids.forEach((pid, i) => {
    sampler.watch({ name: `generator-${i}`, role: 'generator', pid });
  });
  const monitor = new RunMonitor(
    generators,
    sampler,
    `${options.scenario} ${deployment.label}`,
    ctx.progress,
  );
  const phases: PhaseSummary[] = [];
  let connect: ConnectSummary;
  let reconnect: ConnectSummary | undefined;
  let ladder: RunResult['ladder'];
  try {
    plans.forEach((plan, i) => {
      generators.send(i, { type: 'init', plan });
    });
    await generators.collect('initialized', 120_000);
    // The profile covers what is measured: connecting (connect scenario) or the phases.
    let profile: RemoteProfile | undefined;
    const profiled = deployment.processes[0];
    const startProfile = async () => {
      if (!ctx.profileFile || !profiled) return;
      profile = await startRemoteProfile(profiled.pid).catch((err: unknown) => {
        log(`not profiling: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (profile) log(`profiling ${profiled.name} (pid ${profiled.pid})`);
    };
    if (options.scenario === 'connect') await startProfile();
    const rssBefore = monitor.serverRss();
    log(`connecting ${clients.length} clients from ${generators.size} generator process(es)…`);
    monitor.setStage('connect');
    generators.broadcast({ type: 'connect' });
    // Every attempt has its own timeout; the whole connect phase is bounded too.
    const connectTimeout = Math.min(
      options.connectTimeoutMs * Math.ceil(clients.length / options.connectConcurrency + 1),
      300_000,
    );
    connect = summarizeConnect((await generators.collect('connected', connectTimeout)).map((m) => m.outcome));
    if (connect.failed > 0)
      warnings.push(`${connect.failed} connections failed: ${JSON.stringify(connect.errors)}`);
    log(
      `connected ${connect.ok}/${clients.length} in ${(connect.elapsedMs / 1000).toFixed(1)} s (${connect.perSec.toFixed(0)}/s)`,
    );

    const runPhase = async (step: number, rate: number, dropAtWarmupEnd: boolean): Promise<PhaseSummary> => {
      const t0 = nowMs() + 500;
      const measureFromMs = t0 + options.warmupSec * 1000;
      const measureToMs = measureFromMs + options.durationSec * 1000;
      const phase: PhaseSpec = { id: step, measureFromMs, measureToMs };
      if (rate > 0 && senders > 0) {
        phase.schedule = { ratePerSec: rate, senders, startMs: t0, endMs: measureToMs };
      }
      monitor.beginPhase(phase, step);
      monitor.setStage('phase');
      generators.broadcast({ type: 'phase', phase });
      let reconnected: Promise<ConnectOutcome[]> | undefined;
      if (dropAtWarmupEnd) {
        reconnected = generators
          .collect('reconnected', connectTimeout)
          .then((messages) => messages.map((m) => m.outcome));
        generators.broadcast({ type: 'drop', atMs: measureFromMs });
      }
      await sleep(measureToMs - nowMs());
      if (reconnected) reconnect = summarizeConnect(await reconnected);
      await drain(monitor, fanout, options.drainSec * 1000);
      const results = generators.collect('phase-result', 120_000);
      generators.broadcast({ type: 'finish-phase', phaseId: step });
      const summary = summarizePhase(
        (await results).map((m) => m.result),
        phase,
        rate,
        fanout,
        options.durationSec,
        monitor.usageBetween(measureFromMs, measureToMs),
        mixed,
        generatorCores,
      );
      monitor.setStage('idle');
      return summary;
    };

    if (options.scenario !== 'connect') await startProfile();

    if (options.scenario === 'connect') {
      await sleep(2000);
      const rssAfter = monitor.serverRss();
      if (rssBefore > 0 && connect.ok > 0) {
        connect.serverRssBeforeBytes = rssBefore;
        connect.serverRssAfterBytes = rssAfter;
        connect.rssPerConnectionBytes = Math.round((rssAfter - rssBefore) / connect.ok);
      }
    } else if (options.scenario === 'reconnect') {
      phases.push(await runPhase(1, options.rate, true));
    } else if (options.ladder) {
      const steps: LadderStep[] = [];
      for (
        let rate = nextLadderRate(steps, options.ladder);
        rate !== undefined;
        rate = nextLadderRate(steps, options.ladder)
      ) {
        const summary = await runPhase(steps.length + 1, rate, false);
        phases.push(summary);
        const judged = judgeStep(
          {
            rate,
            p99Ms: summary.latencyMs.p99,
            deliveredRatio: summary.deliveredRatio,
            sentRatio: summary.sentRatio,
            lost: summary.delivery.lost,
            serverCloses: Object.values(summary.closes).reduce((a, b) => a + b, 0),
            generatorCpuShare: summary.generatorCpuShare ?? 0,
            connectionsDown: Math.max(0, clients.length - (summary.openAtEnd ?? clients.length)),
          },
          options.ladder,
        );
        const step: LadderStep = { ...judged, repeat: steps.filter((s) => s.rate === rate).length + 1 };
        steps.push(step);
        const repeats = options.ladder.repeats;
        const verdict = rateVerdict(steps, rate, options.ladder);
        const gen = `generator CPU ${Math.round((summary.generatorCpuShare ?? 0) * 100)}% of ${generatorCores} core(s)`;
        log(
          `step ${steps.length}: ${rate} msg/s${repeats > 1 ? ` (step ${step.repeat} at this rate)` : ''} → ${fmtInt(summary.deliveriesPerSec)} deliveries/s, p99 ${ms(summary.latencyMs.p99)} ms, ${gen}: ` +
            (step.generatorBound
              ? `generator-bound, not counted (${step.reasons.join('; ')})`
              : step.passed
                ? verdict === 'sustained'
                  ? 'sustained'
                  : 'passed'
                : `not sustained (${step.reasons.join('; ')})`) +
            (verdict === 'generator-bound' ? ' — the generator is the limit at this rate' : ''),
        );
        // After an overloaded step, let the backlog (and any reconnecting clients) settle first.
        await sleep(step.passed ? 1000 : 5000);
      }
      const best = highestSustained(steps, options.ladder);
      ladder = { p99BoundMs: options.ladder.p99BoundMs, repeats: options.ladder.repeats, steps };
      if (best !== undefined) {
        ladder.highestSustainedRate = best;
        // The lowest of the passing repeats at that rate.
        ladder.highestSustainedDeliveriesPerSec = Math.min(
          ...phases.filter((p, i) => p.rate === best && steps[i]?.passed).map((p) => p.deliveriesPerSec),
        );
      }
      const bound = [...new Set(steps.map((s) => s.rate))].filter(
        (r) => rateVerdict(steps, r, options.ladder!) === 'generator-bound',
      );
      if (bound.length > 0) ladder.generatorBoundRate = Math.min(...bound);
    } else {
      phases.push(await runPhase(1, options.rate, false));
    }
    if (profile && ctx.profileFile) {
      writeFileSync(ctx.profileFile, JSON.stringify(await profile.stop()));
      log(`CPU profile of ${profiled!.name}: ${ctx.profileFile}`);
    }
  } finally {
    offChanges?.();
    monitor.stop();
    await generators.close();
  }

  for (const phase of phases) {
    const share = phase.generatorCpuShare ?? 0;
    if (options.generators > 0 && share >= (options.ladder?.generatorBoundCpuShare ?? 0.9)) {
      warnings.push(
        `step ${phase.step}: the load generator was near saturation (${Math.round(share * 100)}% of its ${generatorCores} core(s)): ` +
          'latency includes the tester’s own queueing',
      );
    }
  }
  const loadEnd = loadAverage();
  return {
    version: 1,
    scenario: options.scenario,
    target: {
      label: deployment.label,
      kind: deployment.kind,
      description: deployment.description,
      urls: deployment.connectUrls,
    },
    options,
    command: ctx.command,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: machineInfo(),
    versions: packageVersions(),
    loadAverage: { start: loadStart, end: loadEnd },
    connect,
    ...(reconnect ? { reconnect } : {}),
    phases,
    ...(ladder ? { ladder } : {}),
    ...(ctx.generatorCpus
      ? { pinning: { generatorCpus: ctx.generatorCpus, serverCpus: ctx.serverCpus ?? '' } }
      : {}),
    timeline: monitor.timeline,
    processes: monitor.processSummary(),
    warnings,
  };
}

/** Users (fresh access tokens) and conversations: through relay-chat's API, or made up for baselines. */
async function prepare(
  deployment: Deployment,
  options: ScenarioOptions,
  log: (line: string) => void,
  usersDir: string | undefined,
): Promise<{ users: PlannedUser[]; layout: ConversationLayout }> {
  if (deployment.kind !== 'relay-chat') {
    return {
      users: Array.from({ length: options.users }, (_, i) => ({ id: `u${i}` })),
      layout: baselineLayout(options),
    };
  }
  const apiUrl = deployment.apiUrl!;
  const pool = new UserPool({
    key: deployment.usersKey!,
    authUrl: apiUrl,
    // Targets the bench spawned: seed missing users straight into their auth database.
    ...(deployment.usersDatabaseUrl ? { seedDatabaseUrl: deployment.usersDatabaseUrl } : {}),
    log,
    ...(usersDir ? { dir: usersDir } : {}),
  });
  const started = nowMs();
  const bench = await pool.acquire(options.users);
  log(
    `${bench.length} users ready (tokens refreshed in ${((nowMs() - started) / 1000).toFixed(1)} s; store ${pool.path})`,
  );
  const users = bench.map((u) => ({ id: u.id, token: u.accessToken }));
  let layout: ConversationLayout = { kind: 'none' };
  const setupStarted = nowMs();
  if (usesChannel(options.scenario)) {
    layout = { kind: 'channel', conv: await setUpChannel(apiUrl, bench, options.channelName) };
  } else if (options.scenario !== 'connect') {
    layout = { kind: 'dm', convs: await setUpDms(apiUrl, bench) };
  }
  if (layout.kind !== 'none') log(`conversations ready in ${((nowMs() - setupStarted) / 1000).toFixed(1)} s`);
  return { users, layout };
}

/** Waits until every acked message reached every receiver, progress stalls, or the time is up. */
async function drain(monitor: RunMonitor, fanout: number, maxMs: number): Promise<void> {
  const deadline = nowMs() + maxMs;
  let last = -1;
  let stalledSince = nowMs();
  // Ticks come once a second: let the last one of the schedule arrive first.
  await sleep(1100);
  while (nowMs() < deadline) {
    const c = monitor.totals();
    if (c.acked >= c.sent && c.delivered >= c.acked * fanout && c.changesDelivered >= c.changesAcked * fanout)
      return;
    if (c.delivered + c.changesDelivered !== last) {
      last = c.delivered + c.changesDelivered;
      stalledSince = nowMs();
    } else if (nowMs() - stalledSince > Math.min(5000, maxMs)) {
      return;
    }
    await sleep(250);
  }
}

function summarizeConnect(outcomes: ConnectOutcome[]): ConnectSummary {
  const histogram = mergeEncoded(outcomes.map((o) => o.histogram));
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  let elapsedMs = 0;
  let recovered = 0;
  for (const o of outcomes) {
    ok += o.ok;
    failed += o.failed;
    recovered += o.recovered;
    elapsedMs = Math.max(elapsedMs, o.elapsedMs);
    for (const [code, n] of Object.entries(o.errors)) errors[code] = (errors[code] ?? 0) + n;
  }
  return {
    ok,
    failed,
    perSec: elapsedMs > 0 ? (ok * 1000) / elapsedMs : 0,
    elapsedMs: Math.round(elapsedMs),
    latencyMs: toMs(histogram.summary()),
    distribution: histogram.distribution().map((p) => ({ percentile: p.percentile, valueUs: p.valueUs })),
    errors,
    recovered,
  };
}

function summarizePhase(
  results: PhaseResult[],
  phase: PhaseSpec,
  rate: number,
  fanout: number,
  durationSec: number,
  usage: { server: number; generator: number; rss: number },
  mixed = false,
  generatorCores = 1,
): PhaseSummary {
  const histogram = mergeEncoded(results.map((r) => r.histogram));
  const delivery = accountDeliveries(
    mergeAcked(results.map((r) => r.acked)),
    results.flatMap((r) => r.receivers),
  );
  const sum = (f: (r: PhaseResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const merge = (f: (r: PhaseResult) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of results) for (const [k, n] of Object.entries(f(r))) out[k] = (out[k] ?? 0) + n;
    return out;
  };
  const schedule = phase.schedule;
  const scheduledMeasured = schedule
    ? SendCursor.scheduledBetween(schedule, phase.measureFromMs, phase.measureToMs)
    : 0;
  const scheduledTotal = schedule
    ? SendCursor.scheduledBetween(schedule, schedule.startMs, schedule.endMs)
    : 0;
  const deliveredMeasured = sum((r) => r.counters.deliveredMeasured);
  const sent = sum((r) => r.counters.sent);
  // mixed: only some slots are sends; the ratios count the sends (and all operations) made.
  const sentMeasured = sum((r) => r.counters.sentMeasured);
  const changesSent = sum((r) => r.counters.changesSent);
  const changes = mixed ? summarizeChanges(results, fanout, durationSec) : undefined;
  return {
    step: phase.id,
    rate,
    durationSec,
    scheduledMeasured,
    sent,
    acked: sum((r) => r.counters.acked),
    unacked: sum((r) => r.unacked),
    fanout,
    deliveriesPerSec: durationSec > 0 ? deliveredMeasured / durationSec : 0,
    deliveredRatio: mixed
      ? sentMeasured > 0
        ? deliveredMeasured / (sentMeasured * fanout)
        : 1
      : scheduledMeasured > 0
        ? deliveredMeasured / (scheduledMeasured * fanout)
        : 1,
    sentRatio: scheduledTotal > 0 ? (sent + changesSent) / scheduledTotal : 1,
    latencyMs: toMs(histogram.summary()),
    distribution: histogram.distribution(),
    delivery,
    errors: merge((r) => r.errors),
    closes: merge((r) => r.closes),
    serverCpuPercent: Math.round(usage.server),
    serverRssBytes: usage.rss,
    generatorCpuPercent: Math.round(usage.generator),
    generatorCpuShare: Math.round((usage.generator / (100 * Math.max(1, generatorCores))) * 1000) / 1000,
    generatorCores,
    openAtEnd: sum((r) => r.counters.open),
    ...(changes ? { changes } : {}),
  };
}

/** mixed: every acknowledged change must reach every receiver of its conversation once. */
export function summarizeChanges(results: PhaseResult[], fanout: number, durationSec: number): ChangeSummary {
  const parts = results.flatMap((r) => (r.changes ? [r.changes] : []));
  const histogram = mergeEncoded(parts.map((c) => c.histogram));
  const delivery = accountDeliveries(
    mergeAcked(parts.map((c) => c.acked)),
    parts.flatMap((c) => c.receivers),
  );
  const sum = (f: (c: (typeof parts)[number]) => number) => parts.reduce((a, c) => a + f(c), 0);
  return {
    edits: sum((c) => c.edits),
    reactions: sum((c) => c.reactions),
    acked: delivery.acked,
    noops: sum((c) => c.noops),
    unacked: sum((c) => c.unacked),
    fanout,
    perSec: durationSec > 0 ? histogram.count / Math.max(1, fanout - 1) / durationSec : 0,
    latencyMs: toMs(histogram.summary()),
    distribution: histogram.distribution(),
    delivery,
    untimed: sum((c) => c.unmatched),
  };
}

/**
 * Where pinned runs put their processes: the servers on CPU 0, the load generators on every
 * other CPU of a machine of `cores` (a taskset list), so neither steals the other's core.
 */
export const SERVER_CPUS = '0';
export function generatorCpusOf(cores: number): string {
  return cores === 2 ? '1' : `1-${cores - 1}`;
}

/** Restricts processes (all their threads) to `cpus` (a taskset list such as `1` or `0-1`). */
export function pinProcesses(pids: readonly number[], cpus: string, log: (line: string) => void): void {
  for (const pid of pids) {
    const r = spawnSync('taskset', ['-a', '-cp', cpus, String(pid)], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0)
      log(`could not pin pid ${pid} to CPUs ${cpus}: ${(r.stderr || String(r.error)).trim()}`);
  }
}

/** How many CPUs a taskset list names (`1` → 1, `0-3` → 4, `0,2-3` → 3). */
export function cpuListSize(list: string): number {
  let n = 0;
  for (const part of list.split(',')) {
    const [from, to] = part.split('-').map(Number);
    if (from === undefined || Number.isNaN(from)) continue;
    n += to === undefined || Number.isNaN(to) ? 1 : Math.max(0, to - from + 1);
  }
  return Math.max(1, n);
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
