import type { CompareTarget } from './compare-plan.js';
import type { MachineInfo } from './machine.js';
import { ms, rate } from './report/text-report.js';
import { headlinePhase, type PhaseSummary, type RunResult } from './run-result.js';

/** What the comparison measured for one target. */
export interface CompareEntry {
  target: CompareTarget;
  label: string;
  description: string;
  results: Partial<Record<'connect' | 'channel' | 'dm', RunResult>>;
  /** The tail run's steps (TAIL_TARGETS only): one fixed load, each step its own run. */
  tail?: RunResult[];
  commands: string[];
  /** Why a target or one of its runs failed. */
  errors: string[];
}

export interface CompareContext {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  versions: Record<string, string>;
  services: Record<string, string>;
  commit: string;
  command: string;
  size: 'full' | 'quick';
  resultsDir: string;
  /** Users in the channel and dm runs. */
  users: number;
  /** Passing steps in a row that make a ladder rate sustained (absent: 1). */
  repeats?: number;
  /** Where servers and generators were pinned (taskset lists); absent when not pinned. */
  pinning?: { serverCpus: string; generatorCpus: string } | undefined;
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(a / b >= 10 ? 0 : 1)}×` : '–';

function best(entry: CompareEntry | undefined, scenario: 'channel' | 'dm'): PhaseSummary | undefined {
  const result = entry?.results[scenario];
  if (!result?.ladder || result.ladder.highestSustainedRate === undefined) return undefined;
  return headlinePhase(result);
}

function integrity(p: PhaseSummary): string {
  return `${int(p.delivery.lost)} / ${int(p.delivery.duplicated)} / ${int(p.delivery.outOfOrder)}`;
}

/** Lost / dup / out-of-order over every ladder step of a run (not only the best one). */
function integrityAll(result: RunResult | undefined): string {
  if (!result) return '–';
  let lost = 0;
  let dup = 0;
  let ooo = 0;
  for (const p of result.phases) {
    lost += p.delivery.lost;
    dup += p.delivery.duplicated;
    ooo += p.delivery.outOfOrder;
  }
  return `${int(lost)} / ${int(dup)} / ${int(ooo)}`;
}

/** The passing steps (phases) at the run's sustained rate: its repeats. */
function sustainedRepeats(result: RunResult | undefined): PhaseSummary[] {
  const bestRate = result?.ladder?.highestSustainedRate;
  if (!result?.ladder || bestRate === undefined) return [];
  return result.phases.filter((p, i) => p.rate === bestRate && result.ladder!.steps[i]?.passed);
}

/** Generator CPU as a share of its cores, e.g. `43% of 1`. */
export function generatorShare(p: PhaseSummary): string {
  return p.generatorCpuShare === undefined
    ? `${p.generatorCpuPercent}%`
    : `${Math.round(p.generatorCpuShare * 100)}% of ${p.generatorCores ?? '?'}`;
}

function scenarioTable(entries: CompareEntry[], scenario: 'channel' | 'dm'): string[] {
  const byId = new Map(entries.map((e) => [e.target.id, e]));
  const ws = best(byId.get('ws'), scenario)?.deliveriesPerSec;
  const limit = best(byId.get('ws-batched'), scenario)?.deliveriesPerSec;
  const sio = best(byId.get('socketio'), scenario)?.deliveriesPerSec;
  const rows = [
    '| system | processes | sustained msg/s | deliveries/s | p50 ms | p99 ms | p99 of each repeat, ms | p99.9 ms | server CPU | generator CPU (of its cores) | lost / dup / ooo at that rate | lost / dup / ooo, all steps | vs bare ws | vs the limit | vs Socket.IO |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const e of entries) {
    const result = e.results[scenario];
    const p = best(e, scenario);
    if (!p) {
      const bound = result?.ladder?.generatorBoundRate;
      const why = !result
        ? 'not measured (see Failures)'
        : bound !== undefined
          ? `none; generator-bound at ${rate(bound)}`
          : 'none within the bound';
      rows.push(
        `| ${e.label} | ${e.target.processes} | ${why} | – | – | – | – | – | – | – | – | ${integrityAll(result)} | – | – | – |`,
      );
      continue;
    }
    const repeats = sustainedRepeats(result);
    const busiest = repeats.reduce(
      (a, q) => ((q.generatorCpuShare ?? 0) > (a.generatorCpuShare ?? 0) ? q : a),
      p,
    );
    const bound = result?.ladder?.generatorBoundRate;
    rows.push(
      `| ${e.label} | ${e.target.processes} | ${rate(p.rate)}${bound !== undefined && bound > p.rate ? ` (generator-bound at ${rate(bound)})` : ''} | ${int(p.deliveriesPerSec)} | ${ms(p.latencyMs.p50)} | ${ms(p.latencyMs.p99)} | ${repeats.map((q) => ms(q.latencyMs.p99)).join(', ')} | ${ms(p.latencyMs.p999)} | ${p.serverCpuPercent}% | ${generatorShare(busiest)} | ${integrity(p)} | ${integrityAll(result)} | ${ratio(p.deliveriesPerSec, ws)} | ${ratio(p.deliveriesPerSec, limit)} | ${ratio(p.deliveriesPerSec, sio)} |`,
    );
  }
  return rows;
}

function connectTable(entries: CompareEntry[]): string[] {
  const rows = [
    '| system | connections | connects/s | p50 ms | p99 ms | failed | server RSS per connection |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const e of entries) {
    const c = e.results.connect?.connect;
    if (!c) {
      rows.push(`| ${e.label} | – | – | – | – | – | – |`);
      continue;
    }
    rows.push(
      `| ${e.label} | ${int(c.ok)} | ${int(c.perSec)} | ${ms(c.latencyMs.p50)} | ${ms(c.latencyMs.p99)} | ${int(c.failed)} | ${c.rssPerConnectionBytes !== undefined ? `${(c.rssPerConnectionBytes / 1024).toFixed(1)} KiB` : '–'} |`,
    );
  }
  return rows;
}

function ladderDetail(entries: CompareEntry[], scenario: 'channel' | 'dm'): string[] {
  const lines: string[] = [];
  for (const e of entries) {
    const result = e.results[scenario];
    if (!result?.ladder) continue;
    const steps = result.ladder.steps.map((s, i) => {
      const p = result.phases[i]!;
      const verdict = s.generatorBound
        ? `⚠ generator-bound, not counted (${s.reasons.join('; ')})`
        : s.passed
          ? '✓'
          : `✗ (${s.reasons.join('; ')})`;
      const repeat = (result.ladder!.repeats ?? 1) > 1 && s.repeat ? ` #${s.repeat}` : '';
      return `${rate(s.rate)} msg/s${repeat} → p99 ${ms(p.latencyMs.p99)} ms, gen ${generatorShare(p)} ${verdict}`;
    });
    lines.push(`- **${e.label}**: ${steps.join(' · ')}`);
  }
  return lines;
}

/** The phase of each tail step (one measured phase per run). */
function tailPhases(entry: CompareEntry | undefined): PhaseSummary[] {
  return (entry?.tail ?? []).flatMap((r) => (r.phases.length > 0 ? [r.phases[r.phases.length - 1]!] : []));
}

const worstP99 = (phases: PhaseSummary[]) =>
  phases.length === 0 ? undefined : Math.max(...phases.map((p) => p.latencyMs.p99));

function tailTable(entries: CompareEntry[]): string[] {
  const withTail = entries.filter((e) => (e.tail?.length ?? 0) > 0);
  if (withTail.length === 0) return ['Not measured in this run.'];
  const ws = tailPhases(withTail.find((e) => e.target.id === 'ws'));
  const rows = [
    '| system | deliveries/s | p99 of each step, ms | worst p99 ms | p99 ÷ bare ws p99, each step | largest delay ms | p50 ms | server CPU | server RSS peak | lost / dup / ooo |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const e of withTail) {
    const phases = tailPhases(e);
    const ratios = phases.map((p, i) => {
      const base = ws[i]?.latencyMs.p99;
      return base ? `${(p.latencyMs.p99 / base).toFixed(1)}×` : '–';
    });
    let lost = 0;
    let dup = 0;
    let ooo = 0;
    for (const p of phases) {
      lost += p.delivery.lost;
      dup += p.delivery.duplicated;
      ooo += p.delivery.outOfOrder;
    }
    const mean = (f: (p: PhaseSummary) => number) => phases.reduce((a, p) => a + f(p), 0) / phases.length;
    rows.push(
      `| ${e.label} | ${int(mean((p) => p.deliveriesPerSec))} | ${phases.map((p) => ms(p.latencyMs.p99)).join(', ')} | ${ms(worstP99(phases) ?? 0)} | ${ratios.join(', ')} | ${ms(Math.max(...phases.map((p) => p.latencyMs.max)))} | ${ms(mean((p) => p.latencyMs.p50))} | ${Math.round(mean((p) => p.serverCpuPercent))}% | ${Math.round(Math.max(...phases.map((p) => p.serverRssBytes)) / 2 ** 20)} MiB | ${int(lost)} / ${int(dup)} / ${int(ooo)} |`,
    );
  }
  return rows;
}

function targets(entries: CompareEntry[]): string[] {
  const byId = new Map(entries.map((e) => [e.target.id, e]));
  const cluster = best(byId.get('cluster'), 'channel');
  const embedded = best(byId.get('embedded'), 'channel');
  const tmpfs = best(byId.get('embedded-tmpfs'), 'channel');
  const limit = best(byId.get('ws-batched'), 'channel');
  const sio = best(byId.get('socketio'), 'channel');
  const dm = best(byId.get('cluster'), 'dm');
  const dmEmbedded = best(byId.get('embedded'), 'dm');
  const conn = byId.get('embedded')?.results.connect?.connect;
  const clusterConn = byId.get('cluster')?.results.connect?.connect;
  const replicas = byId.get('cluster')?.target.processes ?? 2;
  const wsTail = tailPhases(byId.get('ws'));
  const diskTail = tailPhases(byId.get('embedded'));
  const tmpfsTail = tailPhases(byId.get('embedded-tmpfs'));
  const relay = entries.filter((e) => e.target.spec.kind !== 'baseline');
  const all = relay.flatMap((e) => [
    ...Object.values(e.results).flatMap((r) => r?.phases ?? []),
    ...(e.tail ?? []).flatMap((r) => r.phases),
  ]);
  const clean = all.every(
    (p) => p.delivery.lost === 0 && p.delivery.duplicated === 0 && p.delivery.outOfOrder === 0,
  );
  const mark = (ok: boolean | undefined) => (ok === undefined ? '–' : ok ? '✓' : '✗');
  const at = (p: PhaseSummary | undefined) =>
    p ? `${int(p.deliveriesPerSec)}/s (p99 ${ms(p.latencyMs.p99)} ms)` : 'none sustained';
  const tailOk =
    wsTail.length > 0 && diskTail.length >= wsTail.length
      ? diskTail.every((p, i) => wsTail[i] !== undefined && p.latencyMs.p99 <= 2 * wsTail[i]!.latencyMs.p99)
      : undefined;
  const tailWorst =
    diskTail.length > 0
      ? `on disk, worst p99 ${ms(worstP99(diskTail)!)} ms against bare ws ${ms(worstP99(wsTail) ?? 0)} ms; steps ${diskTail.map((p, i) => (wsTail[i] ? `${(p.latencyMs.p99 / wsTail[i]!.latencyMs.p99).toFixed(1)}×` : '–')).join(', ')}`
      : 'not measured';
  const diskVsTmpfs = embedded && tmpfs ? embedded.deliveriesPerSec / tmpfs.deliveriesPerSec : undefined;
  const tailDiskVsTmpfs =
    diskTail.length > 0 && tmpfsTail.length > 0 ? worstP99(diskTail)! / worstP99(tmpfsTail)! : undefined;
  const perReplica = clusterConn ? clusterConn.perSec / replicas : undefined;
  return [
    '| target (issue 16) | measured | met |',
    '|---|---|:-:|',
    `| embedded, data on disk: ≥ 1,000,000 deliveries/s at p99 ≤ 100 ms, 3 steps in a row | ${at(embedded)} | ${mark(embedded ? embedded.deliveriesPerSec >= 1_000_000 : false)} |`,
    `| … more than 10× Socket.IO + redis-adapter | ${ratio(embedded?.deliveriesPerSec, sio?.deliveriesPerSec)} | ${mark(embedded && sio ? embedded.deliveriesPerSec > 10 * sio.deliveriesPerSec : undefined)} |`,
    `| … within 1.6× of the batched-ws limit | limit ÷ embedded = ${ratio(limit?.deliveriesPerSec, embedded?.deliveriesPerSec)} | ${mark(embedded && limit ? limit.deliveriesPerSec <= 1.6 * embedded.deliveriesPerSec : undefined)} |`,
    `| embedded on disk within 10% of embedded on tmpfs | sustained ${diskVsTmpfs === undefined ? '–' : `${Math.round(diskVsTmpfs * 100)}%`} of tmpfs; tail worst p99 ${tailDiskVsTmpfs === undefined ? '–' : `${tailDiskVsTmpfs.toFixed(2)}×`} tmpfs’s | ${mark(diskVsTmpfs === undefined ? undefined : diskVsTmpfs >= 0.9 && (tailDiskVsTmpfs === undefined || tailDiskVsTmpfs <= 1.1))} |`,
    `| tail at 80,000 deliveries/s on disk: p99 ≤ 2× bare ws p99, each of ${wsTail.length || 5} steps | ${tailWorst} | ${mark(tailOk)} |`,
    `| 2 replicas + Redis + PostgreSQL: ≥ 5× Socket.IO + redis-adapter | ${at(cluster)}, ${ratio(cluster?.deliveriesPerSec, sio?.deliveriesPerSec)} | ${mark(cluster && sio ? cluster.deliveriesPerSec >= 5 * sio.deliveriesPerSec : false)} |`,
    `| dm on PostgreSQL, 2 replicas: ≥ 5,000 msg/s at p99 ≤ 50 ms | ${dm ? `${int(dm.rate)} msg/s (p99 ${ms(dm.latencyMs.p99)} ms)` : 'none sustained'} | ${mark(dm ? dm.rate >= 5_000 : false)} |`,
    `| dm embedded: ≥ 5,000 msg/s at p99 ≤ 50 ms | ${dmEmbedded ? `${int(dmEmbedded.rate)} msg/s (p99 ${ms(dmEmbedded.latencyMs.p99)} ms)` : 'none sustained'} | ${mark(dmEmbedded ? dmEmbedded.rate >= 5_000 : false)} |`,
    `| connects: ≥ 3,000/s embedded | ${conn ? `${int(conn.perSec)}/s` : '–'} | ${mark(conn ? conn.perSec >= 3000 : undefined)} |`,
    `| connects: ≥ 2,000/s per replica | ${perReplica === undefined ? '–' : `${int(clusterConn!.perSec)}/s over ${replicas} replicas on one core = ${int(perReplica)}/s each`} | ${mark(perReplica === undefined ? undefined : perReplica >= 2000)} |`,
    `| ≤ 8 KiB server RSS per idle connection, both modes | ${conn?.rssPerConnectionBytes !== undefined ? `embedded ${(conn.rssPerConnectionBytes / 1024).toFixed(1)} KiB` : '–'}${clusterConn?.rssPerConnectionBytes !== undefined ? `, 2 replicas ${(clusterConn.rssPerConnectionBytes / 1024).toFixed(1)} KiB` : ''} | ${mark(conn?.rssPerConnectionBytes !== undefined ? conn.rssPerConnectionBytes <= 8192 && (clusterConn?.rssPerConnectionBytes ?? 0) <= 8192 : undefined)} |`,
    `| 0 lost, 0 duplicated, 0 out of order (relay-chat, every step) | ${clean ? 'all zero' : 'see tables'} | ${mark(all.length > 0 ? clean : undefined)} |`,
  ];
}

export const NOTES_START = '<!-- notes:start (kept when this page is regenerated) -->';
export const NOTES_END = '<!-- notes:end -->';

/** The hand-written notes section of an existing page, kept across regenerations. */
export function notesOf(existing: string | undefined): string {
  if (!existing) return `${NOTES_START}\n${NOTES_END}`;
  const start = existing.indexOf(NOTES_START);
  const end = existing.indexOf(NOTES_END);
  if (start < 0 || end < start) return `${NOTES_START}\n${NOTES_END}`;
  return existing.slice(start, end + NOTES_END.length);
}

export const KEPT_START = '<!-- kept:start (a section kept when this page is regenerated) -->';
export const KEPT_END = '<!-- kept:end -->';

/**
 * Hand-written sections of an existing page (each between KEPT_START and KEPT_END, such as
 * the mixed scenario's and --previous figures), kept across regenerations before "## Commands".
 */
export function keptSectionsOf(existing: string | undefined): string {
  const blocks: string[] = [];
  let from = 0;
  while (existing) {
    const start = existing.indexOf(KEPT_START, from);
    if (start < 0) break;
    const end = existing.indexOf(KEPT_END, start);
    if (end < 0) break;
    blocks.push(existing.slice(start, end + KEPT_END.length));
    from = end + KEPT_END.length;
  }
  return blocks.join('\n\n');
}

/** The ladder, generator and baseline rules of "How it is measured", as this run applied them. */
export function measuredRules(ctx: Pick<CompareContext, 'repeats' | 'pinning'>): string[] {
  const repeats = ctx.repeats ?? 1;
  return [
    '- **Ladder**: the rate doubles while it is sustained, then bisects between the highest sustained and the lowest',
    '  failing rate. A step passes when p99 ≤ the bound (channel 100 ms, dm 50 ms), ≥ 99% of the expected deliveries',
    '  arrived, nothing was lost and no connection was closed by the server.',
    `- **Repeats**: a rate is *sustained* only when ${repeats} step${repeats > 1 ? 's' : ''} at it pass in a row`,
    '  (`bench:compare -- --repeats N`, default 3); its first failing step fails the rate, so one lucky step cannot',
    '  make a rate and one unlucky step is enough to lose it. “Sustained” is the highest sustained rate; its figures',
    '  are the worst of its passing repeats (highest p99, lowest deliveries/s), and the tables list each repeat’s p99.',
    '- **Pinning**: with 2 or more CPUs, `bench:compare` pins every server process (all threads, `taskset -a`) to',
    '  CPU 0 and the load-generator processes to the other CPU(s), so the system and the tester never share a core;',
    '  `--no-pin` turns it off. Redis and PostgreSQL, shared services, are not pinned. The single-run commands under',
    '  “Commands” do not pin.',
    '- **Generator-bound steps**: every step reports the generator processes’ CPU as a share of the cores they run',
    '  on (all cores when not pinned). A step where the generator was the bottleneck — it sent < 98% of its',
    '  schedule (it fell behind), or it missed the latency or delivery bound with its CPU ≥ 90% of its cores — is',
    '  marked generator-bound (⚠ under “Ladder steps”): it is neither a pass nor a fail of the system and does not',
    '  break a run of passes; the ladder tries the rate again. A step that meets the bounds with the generator that',
    '  busy passes: its latencies include the generator’s own delays, which can only make them worse.',
    `  When ${repeats} step${repeats > 1 ? 's' : ''} at a rate are generator-bound, the tester cannot measure the system there: the ladder stops`,
    '  climbing (it bisects below that rate as below a failing one) and the table says “generator-bound at R”.',
    '  A loss or a connection closed by the server still fails a generator-bound step.',
    '- **Integrity**: every receiver’s `seq`s are checked against what the senders had acknowledged: *lost* = acked',
    '  but never received, *dup* = received twice, *ooo* = received after a higher `seq` of the same conversation.',
    '- **Load generator**: one process per generator core when pinned (one here: two processes sharing one core',
    '  measured p99 109 ms where one measured 21.5 ms against the same bare ws server at 120,000 deliveries/s), 2',
    '  when not pinned; CPU and RSS of the server and generator processes are read from `/proc`.',
    '- **Baselines** (`apps/bench/baselines/`, same frames as relay-chat, no auth, no persistence):',
    '  - *bare ws broadcast*: each message serialized once into one Buffer, sent with `ws.send` to every member;',
    '  - *the limit* (`ws-batched`): the same relay with each message’s whole WebSocket frame built once and the',
    '    frames of one event-loop turn written once per socket (one corked write at `setImmediate`): the practical',
    '    limit of fan-out from one Node process, not a product;',
    '  - *bare ws broadcast, 2 processes + Redis*: seq (INCR) and PUBLISH in one Lua script;',
    '  - *Socket.IO + redis-adapter, 2 processes*: configured as the Socket.IO documentation recommends for',
    '    throughput — WebSocket transport only, no per-message deflate, `bufferutil` installed (`utf-8-validate` is',
    '    never loaded on Node ≥ 18.14), the handshake request dropped, the sharded adapter (Redis 7 sharded Pub/Sub)',
    '    over ioredis. Its seq (INCR) and broadcast are separate, so it can deliver out of order.',
    '  ws loads `bufferutil` in every process where it is installed: every ws-based system and the generators use it.',
  ];
}

/** docs/benchmarks.md; `notes` is the kept hand-written section (see notesOf), `kept` more of them (keptSectionsOf). */
export function renderBenchmarksMarkdown(
  entries: CompareEntry[],
  ctx: CompareContext,
  notes: string,
  kept = '',
): string {
  const loadLines = entries.flatMap((e) =>
    Object.values(e.results).map(
      (r) =>
        `| ${e.label} | ${r!.scenario} | ${r!.loadAverage.start.join(' ')} | ${r!.loadAverage.end.join(' ')} |`,
    ),
  );
  const m = ctx.machine;
  return [
    '# Benchmarks',
    '',
    `Measured by \`${ctx.command}\` on ${ctx.startedAt.slice(0, 10)} (${ctx.startedAt} → ${ctx.finishedAt}), commit \`${ctx.commit}\`${ctx.size === 'quick' ? ' — **quick mode: small numbers, not comparable**' : ''}.`,
    'Every figure below comes from the same load tester (`apps/bench`) driving each system on the same machine,',
    `one after the other, with the load generator on that machine too${ctx.pinning ? ` (servers pinned to CPU ${ctx.pinning.serverCpus}, generators to CPU ${ctx.pinning.generatorCpus})` : ', not pinned'}. Regenerate this page with`,
    '`npm run bench:compare` (PostgreSQL and Redis on 127.0.0.1 required).',
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpuModel}, ${m.cores} cores; memory ${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB; ${m.platform}, Linux ${m.kernel}`,
    `- Node ${m.node}; ${Object.entries(ctx.services)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}`,
    `- Packages: ${Object.entries(ctx.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    '## How it is measured',
    '',
    '- **Open loop, no coordinated omission.** Each sender follows a fixed schedule; every message body carries its',
    '  *intended* send time, and latency is arrival − intended send, so a stalled server or a late generator shows up',
    '  as latency instead of being hidden. Latencies go into HDR histograms (hdr-histogram-js, 3 significant digits).',
    '- **Deliveries** are `message` frames received, one per receiving connection (the sender’s own copy included).',
    ...measuredRules(ctx),
    '- **relay-chat** runs from source (`tsx`), with `SEND_RATE_PER_SEC` raised so the per-user limit does not',
    '  throttle bench senders. The cluster is auth + 2 chat replicas as processes, PostgreSQL (a fresh database per',
    '  run) and Redis (a fresh key prefix); bench clients connect to the replicas directly, round-robin, like the',
    '  2-process baselines (no proxy in front of anyone). Users are provisioned once (seeded into the users database',
    '  by the auth service’s own code) and reused (see “Users” below).',
    '',
    '## Notes',
    '',
    notes,
    '',
    `## Fan-out: \`channel\`, ${int(ctx.users)} members, 10 senders`,
    '',
    ...scenarioTable(entries, 'channel'),
    '',
    `## Small conversations: \`dm\`, ${int(ctx.users)} users in ${int(ctx.users / 2)} pairs, every user sends`,
    '',
    ...scenarioTable(entries, 'dm'),
    '',
    '## Connections: `connect`',
    '',
    ...connectTable(entries),
    '',
    '## The tail: `channel` at 40 msg/s into 2,000 members (80,000 deliveries/s), 5 steps of 8 s',
    '',
    'Every step is its own run at the same fixed load, and every step is reported (a ladder stops at the first',
    'spike). The ratio column divides each step’s p99 by the bare ws broadcast’s p99 in the step of the same number.',
    '',
    ...tailTable(entries),
    '',
    '## Targets (issue 16)',
    '',
    ...targets(entries),
    '',
    '## Ladder steps',
    '',
    '### channel',
    '',
    ...ladderDetail(entries, 'channel'),
    '',
    '### dm',
    '',
    ...ladderDetail(entries, 'dm'),
    '',
    '## Load average during each run',
    '',
    'Figures measured while other work ran on the machine (load average above the core count) are not comparable.',
    '',
    '| system | scenario | 1/5/15-min load at start | at end |',
    '|---|---|---|---|',
    ...loadLines,
    '',
    ...(entries.some((e) => e.errors.length > 0)
      ? ['## Failures', '', ...entries.flatMap((e) => e.errors.map((err) => `- ${e.label}: ${err}`)), '']
      : []),
    ...(kept ? [kept, ''] : []),
    '## Commands',
    '',
    'The whole comparison:',
    '',
    '```sh',
    ctx.command,
    '```',
    '',
    'Each run on its own (same parameters):',
    '',
    '```sh',
    ...entries.flatMap((e) => e.commands),
    '```',
    '',
    `JSON results and HTML reports (latency over time, latency distribution) of this comparison were written to`,
    `\`${ctx.resultsDir}\` (git-ignored).`,
    '',
    '## Running the load tester',
    '',
    '```sh',
    'npm run bench -- channel --spawn embedded --users 2000 --senders 10 --rate 100        # one run',
    'npm run bench -- channel --spawn cluster:2 --ladder --ladder-start 25 --p99-bound 100 # find the sustained rate',
    'npm run bench -- dm --target http://host:8080 --users 2000 --rate 5000                # any deployment by URL',
    'npm run bench -- connect --spawn embedded --users 2000 --devices 5                    # 10k connections',
    'npm run bench -- reconnect --spawn cluster:2 --users 1000 --rate 200                  # drop all, resume',
    'npm run bench -- channel --spawn baseline:socketio --users 2000 --rate 20             # a baseline',
    'npm run bench -- channel --spawn embedded --profile                                   # + V8 CPU profile summary',
    'npm run bench -- day --spawn embedded --users 3000 --duration 60                      # a day in the life',
    'npm run bench -- --help                                                               # every option',
    '```',
    '',
    '- Scenarios: `channel` (N members in one channel, K senders at a total rate R), `dm` (N users in pairs, both',
    '  sending), `connect` (N × devices clients connect and authenticate as fast as the concurrency allows; reports',
    '  connects/s and server RSS per connection), `reconnect` (every client is dropped at once after the warm-up',
    '  and resumes: reconnects, then fetches what it missed from history; `--rate` adds traffic); `day` (a team',
    '  server: channels sized on a power law, DMs, messages, typing, read markers, history pages, presence churn',
    '  and reconnect storms at once, p99 per operation; `npm run bench -- day --help`).',
    '- Parameters: `--users`, `--devices`, `--senders`, `--rate`, `--duration`, `--warmup`, `--size` (body',
    '  characters), `--generators` (load-generator processes), `--target URL[,URL…]` or `--spawn embedded[:tmpfs] |',
    '  cluster[:N] | baseline:ws | baseline:ws-batched | baseline:ws-redis | baseline:socketio`.',
    '- Output: a live progress line, a table at the end, and a JSON result plus a self-contained HTML report',
    '  (latency over time, latency distribution, throughput, CPU; inline SVG, readable offline) under',
    '  `.bench/results/` (`--out` to change).',
    '- Against an existing deployment, raise the per-user send limit for the bench senders',
    '  (`SEND_RATE_PER_SEC`, `SEND_BURST`) and allow clients without `Origin` (`ALLOW_NO_ORIGIN=true`);',
    '  spawned targets get both.',
    '- Baselines (`apps/bench/baselines/`) speak the same frames: the user and conversations come in the URL',
    '  (`/ws?user=u1&convs=c1`), no auth, no persistence.',
    '',
    '## Users',
    '',
    'Creating an account costs a memory-hard password hash (scrypt, OWASP parameters) and so does a login: 2,000 users',
    'through the API take 15–20 minutes on an idle 2-core machine (79 were measured here while other work kept it',
    'busy). The bench provisions its users once and reuses them:',
    '',
    '```sh',
    'npm run bench -- provision --users 2000 --spawn embedded   # seeds them into the users database: seconds',
    '```',
    '',
    'The bench owns the users database of the targets it spawns, so it seeds users straight into it with the auth',
    'service’s own code (`seedUsers` in `services/auth`: its store, its hasher, its refresh tokens): one real password',
    'hash at the production cost, shared by the batch, and one refresh-token family per user — 2,000 users in about',
    '4 s. A target given by URL gets them through the real API instead (register + login: two hashes per user).',
    'Each user’s refresh token is stored under `.bench/users/` (git-ignored), and every later run exchanges the',
    'stored refresh tokens for access tokens at `POST /api/auth/refresh` (no password hashing) and stores the rotated',
    'ones. Nothing in the login path is weakened: a refresh token that no longer works (expired, revoked, database',
    'reset) falls back to a real login with the stored password, verified by scrypt as any login. Spawned relay-chat',
    'targets keep their users in the PostgreSQL database `relay_bench_users` (override with `--users-db` or',
    '`BENCH_USERS_DATABASE_URL`), shared by the embedded and the cluster targets, so provisioning happens once per',
    'machine; messages always go to a fresh store.',
    '',
  ].join('\n');
}
