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

function targets(entries: CompareEntry[]): string[] {
  const byId = new Map(entries.map((e) => [e.target.id, e]));
  const cluster = best(byId.get('cluster'), 'channel');
  const embedded = best(byId.get('embedded'), 'channel');
  const sio = best(byId.get('socketio'), 'channel');
  const dm = best(byId.get('cluster'), 'dm');
  const conn = byId.get('embedded')?.results.connect?.connect;
  const clusterConn = byId.get('cluster')?.results.connect?.connect;
  const all = entries
    .filter((e) => e.target.id === 'embedded' || e.target.id === 'cluster')
    .flatMap((e) => Object.values(e.results).flatMap((r) => r?.phases ?? []));
  const clean = all.every(
    (p) => p.delivery.lost === 0 && p.delivery.duplicated === 0 && p.delivery.outOfOrder === 0,
  );
  const mark = (ok: boolean | undefined) => (ok === undefined ? '–' : ok ? '✓' : '✗');
  const rows = [
    '| target | measured | met |',
    '|---|---|:-:|',
    `| 2 replicas + Redis + PostgreSQL: ≥ 500k deliveries/s at p99 ≤ 100 ms | ${cluster ? `${int(cluster.deliveriesPerSec)}/s (p99 ${ms(cluster.latencyMs.p99)} ms)` : 'none sustained'} | ${mark(cluster ? cluster.deliveriesPerSec >= 500_000 : false)} |`,
    `| … and ≥ 10× Socket.IO + redis-adapter | ${ratio(cluster?.deliveriesPerSec, sio?.deliveriesPerSec)} | ${mark(cluster && sio ? cluster.deliveriesPerSec >= 10 * sio.deliveriesPerSec : undefined)} |`,
    `| embedded: ≥ 500k deliveries/s at p99 ≤ 100 ms | ${embedded ? `${int(embedded.deliveriesPerSec)}/s (p99 ${ms(embedded.latencyMs.p99)} ms)` : 'none sustained'} | ${mark(embedded ? embedded.deliveriesPerSec >= 500_000 : false)} |`,
    `| dm on PostgreSQL: ≥ 10k msg/s at p99 ≤ 50 ms | ${dm ? `${int(dm.rate)} msg/s (p99 ${ms(dm.latencyMs.p99)} ms)` : 'none sustained'} | ${mark(dm ? dm.rate >= 10_000 : false)} |`,
    `| ≤ 8 KB server RSS per idle connection at ≥ 10k | ${conn?.rssPerConnectionBytes !== undefined ? `embedded ${(conn.rssPerConnectionBytes / 1024).toFixed(1)} KiB at ${int(conn.ok)}` : '–'} | ${mark(conn?.rssPerConnectionBytes !== undefined && conn.ok >= 10_000 ? conn.rssPerConnectionBytes <= 8192 : undefined)} |`,
    `| connect: ≥ 3k authenticated connections/s per replica | ${conn ? `embedded ${int(conn.perSec)}/s` : '–'}${clusterConn ? `, 2 replicas ${int(clusterConn.perSec)}/s` : ''} | ${mark(conn ? conn.perSec >= 3000 : undefined)} |`,
    `| 0 lost, 0 duplicated, 0 out of order (relay-chat, every step) | ${clean ? 'all zero' : 'see tables'} | ${mark(all.length > 0 ? clean : undefined)} |`,
  ];
  return rows;
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
    '  on (all cores when not pinned). A step where the generator was the bottleneck — CPU ≥ 90% of its cores, or',
    '  it sent < 98% of its schedule (it fell behind) — is marked generator-bound (⚠ under “Ladder steps”): it is',
    '  neither a pass nor a fail of the system and does not break a run of passes; the ladder tries the rate again.',
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
    '## Targets (issue 6)',
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
    'npm run bench -- --help                                                               # every option',
    '```',
    '',
    '- Scenarios: `channel` (N members in one channel, K senders at a total rate R), `dm` (N users in pairs, both',
    '  sending), `connect` (N × devices clients connect and authenticate as fast as the concurrency allows; reports',
    '  connects/s and server RSS per connection), `reconnect` (every client is dropped at once after the warm-up',
    '  and resumes: reconnects, then fetches what it missed from history; `--rate` adds traffic).',
    '- Parameters: `--users`, `--devices`, `--senders`, `--rate`, `--duration`, `--warmup`, `--size` (body',
    '  characters), `--generators` (load-generator processes), `--target URL[,URL…]` or `--spawn embedded |',
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
