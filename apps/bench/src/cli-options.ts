import { parseArgs } from 'node:util';
import { MIN_BODY_CHARS } from './bench-message.js';
import { parseTarget, type TargetSpec } from './deployment.js';
import { DEFAULT_LADDER, type LadderOptions } from './ladder.js';
import { validateShares } from './mixed.js';
import { intOption, numberOption } from './option-numbers.js';
import {
  defaultOptions,
  ladderOptions,
  SCENARIOS,
  type ScenarioName,
  type ScenarioOptions,
} from './scenario.js';

export const USAGE = `relay-chat load tester

  npm run bench -- <scenario> [options]        scenario: channel | dm | connect | reconnect | mixed
  npm run bench -- provision --users N [target] create bench users once (stored under .bench/users/)
  npm run bench -- day [--spawn embedded|cluster:2] [--users N] [--duration S] [--rate R] …
                                                a day in the life of a team server: p99 per operation
  npm run bench -- search [--backends sqlite,postgres] [--messages N] [--queries N] [--reuse] [--append-cost REV]
                                                message search at scale: p50/p95/p99 per kind, index size
  npm run bench -- profile <file.cpuprofile>    summarise a V8 CPU profile (self time by function)
  npm run bench:compare [-- --quick]            baselines vs relay-chat; writes docs/benchmarks.md
  npm run bench:compare -- --previous REV       embedded server of this tree vs of git revision REV, alternately
      [--rounds N] [--users N] [--duration S] [--scenarios channel,dm] [--p99-bound MS] [--no-pin]
  npm run bench:compare -- --against-env K=V    the same, against this tree run with K=V (e.g. SEARCH_INDEX=off)
      [--spawn embedded|cluster:N] and the options above
  npm run bench:compare -- --report-from DIR    re-render a --previous comparison from its JSON results

target (default --spawn embedded):
  --target http://host:port[,http://host2:port]   an existing relay-chat (clients round-robin over the URLs)
  --spawn embedded[:tmpfs] | cluster[:N] | baseline:ws | baseline:ws-batched | baseline:ws-redis | baseline:socketio
  --via-nginx            cluster: clients connect through nginx (default: straight to the replicas)
  --users-db URL         users database of spawned relay-chat (default postgres://…/relay_bench_users)
  --server-env K=V       extra environment for spawned servers (repeatable)
  --profile              record a V8 CPU profile of the (first) server process over the measured phases

workload:
  --users N              users (channel members, DM partners, connecting users)      default 2000 (reconnect 1000)
  --devices N            connections per user                                          default 1
  --senders K            channel: members that send                                    default 10
  --rate R               total messages/s over all senders                             channel 100, dm 2000, reconnect 0
  --duration S           measured seconds                                              default 20
  --warmup S             warm-up seconds before measuring                              default 5
  --size N               message body characters (≥ ${MIN_BODY_CHARS})                                default 100
  --generators N         load-generator processes (0: in this process)                default 2
  --drain S              wait at most S seconds for deliveries after the schedule      default 10
  --connect-concurrency  connection attempts in flight per generator                  default 100
  --channel NAME         bench channel name (relay-chat)                               default bench-channel

mixed (a channel: sends, edits of one's own recent messages, reaction toggles on recent messages):
  --edits F              share of operations that are edits                            default 0.1
  --reactions F          share of operations that are reaction toggles                 default 0.2
                         (--rate counts every operation; the rest are sends; relay-chat targets only)

ladder (channel, dm, mixed: the rate of operations):
  --ladder               step the rate up until p99 > bound or delivery falls behind
  --ladder-start R       first rate (default: --rate)    --ladder-factor F (default ${DEFAULT_LADDER.factor})
  --p99-bound MS         default ${DEFAULT_LADDER.p99BoundMs}            --ladder-steps N (default ${DEFAULT_LADDER.maxSteps})
  --ladder-max R         never offer more than R msg/s
  --ladder-resolution X  stop bisecting when failing/passing rate ≤ X (default ${DEFAULT_LADDER.resolution})
  --ladder-repeats N     a rate is sustained when N steps at it pass in a row (default ${DEFAULT_LADDER.repeats})

output:
  --out DIR              where the JSON and HTML reports go (default .bench/results)
  --name NAME            file name prefix (default <time>-<scenario>-<target>)
`;

export type Command =
  | {
      kind: 'run';
      options: ScenarioOptions;
      target: TargetSpec;
      output: OutputOptions;
      server: ServerOptions;
    }
  | { kind: 'provision'; users: number; target: TargetSpec; server: ServerOptions }
  | { kind: 'profile'; file: string }
  | { kind: 'help' };

export interface OutputOptions {
  dir: string | undefined;
  name: string | undefined;
}

export interface ServerOptions {
  usersDatabaseUrl: string | undefined;
  serverEnv: Record<string, string>;
  profile: boolean;
}

/** Parses the command line (without `node main.ts`); throws an Error naming the bad option. */
export function parseCommand(argv: readonly string[]): Command {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      target: { type: 'string' },
      spawn: { type: 'string' },
      'via-nginx': { type: 'boolean' },
      'users-db': { type: 'string' },
      'server-env': { type: 'string', multiple: true },
      profile: { type: 'boolean' },
      users: { type: 'string' },
      devices: { type: 'string' },
      senders: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      size: { type: 'string' },
      generators: { type: 'string' },
      drain: { type: 'string' },
      'connect-concurrency': { type: 'string' },
      'connect-timeout': { type: 'string' },
      channel: { type: 'string' },
      edits: { type: 'string' },
      reactions: { type: 'string' },
      ladder: { type: 'boolean' },
      'ladder-start': { type: 'string' },
      'ladder-factor': { type: 'string' },
      'ladder-steps': { type: 'string' },
      'ladder-max': { type: 'string' },
      'ladder-resolution': { type: 'string' },
      'ladder-repeats': { type: 'string' },
      'p99-bound': { type: 'string' },
      out: { type: 'string' },
      name: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') return { kind: 'help' };
  const server: ServerOptions = {
    usersDatabaseUrl: values['users-db'],
    serverEnv: Object.fromEntries(
      (values['server-env'] ?? []).map((kv) => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new Error(`--server-env expects KEY=VALUE, got "${kv}"`);
        return [kv.slice(0, eq), kv.slice(eq + 1)];
      }),
    ),
    profile: values.profile ?? false,
  };
  const target = () => parseTarget(values.spawn, values.target, values['via-nginx'] ?? false);
  if (command === 'profile') {
    if (!rest[0]) throw new Error('profile: give the .cpuprofile file');
    return { kind: 'profile', file: rest[0] };
  }
  if (command === 'provision') {
    return { kind: 'provision', users: intOption('users', values.users) ?? 2000, target: target(), server };
  }
  if (!(SCENARIOS as readonly string[]).includes(command)) {
    throw new Error(`unknown command "${command}" (expected ${SCENARIOS.join(', ')}, provision or profile)`);
  }
  if (rest.length > 0) throw new Error(`unexpected argument "${rest[0]}"`);
  const scenario = command as ScenarioName;
  const defaults = defaultOptions(scenario);
  const options: ScenarioOptions = {
    ...defaults,
    users: intOption('users', values.users, 2) ?? defaults.users,
    devices: intOption('devices', values.devices) ?? defaults.devices,
    senders: intOption('senders', values.senders) ?? defaults.senders,
    rate: numberOption('rate', values.rate) ?? defaults.rate,
    durationSec: numberOption('duration', values.duration, 1) ?? defaults.durationSec,
    warmupSec: numberOption('warmup', values.warmup) ?? defaults.warmupSec,
    messageSize: intOption('size', values.size, MIN_BODY_CHARS) ?? defaults.messageSize,
    generators: intOption('generators', values.generators, 0) ?? defaults.generators,
    drainSec: numberOption('drain', values.drain) ?? defaults.drainSec,
    connectConcurrency:
      intOption('connect-concurrency', values['connect-concurrency']) ?? defaults.connectConcurrency,
    connectTimeoutMs: intOption('connect-timeout', values['connect-timeout']) ?? defaults.connectTimeoutMs,
    channelName: values.channel ?? defaults.channelName,
    edits: numberOption('edits', values.edits) ?? defaults.edits,
    reactions: numberOption('reactions', values.reactions) ?? defaults.reactions,
  };
  if ((values.edits !== undefined || values.reactions !== undefined) && scenario !== 'mixed')
    throw new Error('--edits and --reactions apply to the mixed scenario');
  validateShares({ edits: options.edits, reactions: options.reactions });
  if (scenario === 'connect') options.durationSec = 0;
  if ((scenario === 'channel' || scenario === 'dm' || scenario === 'mixed') && !(options.rate > 0))
    throw new Error('--rate must be > 0');
  if (values.ladder) {
    if (scenario !== 'channel' && scenario !== 'dm' && scenario !== 'mixed')
      throw new Error('--ladder applies to channel, dm and mixed');
    const overrides: Partial<LadderOptions> = {};
    const factor = numberOption('ladder-factor', values['ladder-factor'], 1.01);
    const steps = intOption('ladder-steps', values['ladder-steps']);
    const bound = numberOption('p99-bound', values['p99-bound'], 0.001);
    const max = numberOption('ladder-max', values['ladder-max'], 1);
    const resolution = numberOption('ladder-resolution', values['ladder-resolution'], 1.01);
    const repeats = intOption('ladder-repeats', values['ladder-repeats']);
    if (repeats !== undefined) overrides.repeats = repeats;
    if (resolution !== undefined) overrides.resolution = resolution;
    if (factor !== undefined) overrides.factor = factor;
    if (steps !== undefined) overrides.maxSteps = steps;
    if (bound !== undefined) overrides.p99BoundMs = bound;
    if (max !== undefined) overrides.maxRate = max;
    options.ladder = ladderOptions(
      numberOption('ladder-start', values['ladder-start'], 1) ?? options.rate,
      overrides,
    );
  }
  return { kind: 'run', options, target: target(), output: { dir: values.out, name: values.name }, server };
}
