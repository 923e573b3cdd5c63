import type { TargetSpec } from './deployment.js';
import { defaultOptions, ladderOptions, type ScenarioName, type ScenarioOptions } from './scenario.js';

/** One system in the comparison. */
export interface CompareTarget {
  id: 'ws' | 'ws-batched' | 'ws-redis' | 'socketio' | 'embedded' | 'embedded-tmpfs' | 'cluster';
  spec: TargetSpec;
  /** The same target as a `--spawn` value, for the equivalent command line. */
  spawn: string;
  processes: number;
}

export const COMPARE_TARGETS: CompareTarget[] = [
  { id: 'ws', spec: { kind: 'baseline', baseline: 'ws' }, spawn: 'baseline:ws', processes: 1 },
  // The practical limit of fan-out from one process: frames built once, one write per socket per turn.
  {
    id: 'ws-batched',
    spec: { kind: 'baseline', baseline: 'ws-batched' },
    spawn: 'baseline:ws-batched',
    processes: 1,
  },
  {
    id: 'ws-redis',
    spec: { kind: 'baseline', baseline: 'ws-redis' },
    spawn: 'baseline:ws-redis',
    processes: 2,
  },
  {
    id: 'socketio',
    spec: { kind: 'baseline', baseline: 'socketio' },
    spawn: 'baseline:socketio',
    processes: 2,
  },
  { id: 'embedded', spec: { kind: 'embedded' }, spawn: 'embedded', processes: 1 },
  // The same with its SQLite file in memory: what the disk (fsync) costs, measured in the same run.
  {
    id: 'embedded-tmpfs',
    spec: { kind: 'embedded', dataOn: 'tmpfs' },
    spawn: 'embedded:tmpfs',
    processes: 1,
  },
  {
    id: 'cluster',
    spec: { kind: 'cluster', replicas: 2, viaNginx: false },
    spawn: 'cluster:2',
    processes: 2,
  },
];

/** How big the comparison is: `full` is what docs/benchmarks.md reports; `quick` checks the plumbing. */
export type CompareSize = 'full' | 'quick';

/** Passing steps in a row that make a rate sustained in bench:compare (`--repeats N`). */
export const COMPARE_REPEATS = 3;

/**
 * Load-generator processes for `cpus` generator cores: one per core. Two processes sharing
 * one core cost more than one doing all the work (context switches, two event loops woken
 * for the same packets): on 2 cores, 2 generators pinned to CPU 1 put p99 at 109 ms where
 * 1 generator measured 21.5 ms, same server, same 120,000 deliveries/s.
 */
export function generatorsFor(cpus: number): number {
  return Math.max(1, Math.floor(cpus));
}

/**
 * The runs made against every target, in order (connect first: it leaves no conversations behind).
 * A ladder tries about 7 rates (quick: 2), each up to `repeats` times. `generators`: load-generator
 * processes (see generatorsFor).
 */
export function compareRuns(size: CompareSize, repeats = COMPARE_REPEATS, generators = 2): ScenarioOptions[] {
  const quick = size === 'quick';
  const users = quick ? 20 : 2000;
  const step = { durationSec: quick ? 2 : 4, warmupSec: quick ? 1 : 2, drainSec: 5, generators };
  const ladder = { factor: 2, resolution: 1.3, maxSteps: (quick ? 2 : 7) * repeats, repeats };
  const run = (scenario: ScenarioName, patch: Partial<ScenarioOptions>): ScenarioOptions => ({
    ...defaultOptions(scenario),
    ...step,
    users,
    ...patch,
  });
  return [
    // ≥ 10k connections: memory per idle authenticated connection and connects/s.
    run('connect', { devices: 5, durationSec: 0, warmupSec: 0 }),
    // Fan-out: 2,000 members, 10 senders; p99 bound 100 ms.
    run('channel', {
      senders: 10,
      rate: 25,
      ladder: ladderOptions(quick ? 5 : 25, { ...ladder, p99BoundMs: 100 }),
    }),
    // Many small conversations (persistence-bound); p99 bound 50 ms.
    run('dm', { rate: 1000, ladder: ladderOptions(quick ? 200 : 1000, { ...ladder, p99BoundMs: 50 }) }),
  ];
}

/** Steps of the tail run, each its own run at the same fixed rate. */
export const TAIL_STEPS = 5;
/** The targets the tail run measures: the bare ws broadcast it is judged against, and relay-chat embedded. */
export const TAIL_TARGETS: readonly CompareTarget['id'][] = ['ws', 'embedded', 'embedded-tmpfs'];

/**
 * The tail at one fixed, moderate load: `channel` at 40 msg/s into 2,000 members (80,000
 * deliveries/s), 8 s measured, repeated TAIL_STEPS times as separate runs, every step
 * reported whether it passes or not (a ladder would stop at the first spike).
 */
export function tailRun(size: CompareSize, generators = 2): ScenarioOptions {
  const quick = size === 'quick';
  return {
    ...defaultOptions('channel'),
    users: quick ? 20 : 2000,
    senders: 10,
    rate: quick ? 5 : 40,
    durationSec: quick ? 2 : 8,
    warmupSec: 2,
    drainSec: 5,
    generators,
  };
}

/** The `npm run bench` command that makes the same run by hand. */
export function equivalentCommand(target: CompareTarget, o: ScenarioOptions, usersDb?: string): string {
  const args = [
    o.scenario,
    `--spawn ${target.spawn}`,
    usersDb && target.spec.kind !== 'baseline' ? `--users-db ${usersDb}` : '',
    `--users ${o.users}`,
    o.devices > 1 ? `--devices ${o.devices}` : '',
    o.scenario === 'channel' ? `--senders ${o.senders}` : '',
    o.ladder
      ? `--ladder --ladder-start ${o.ladder.startRate} --ladder-factor ${o.ladder.factor} --ladder-steps ${o.ladder.maxSteps} --ladder-resolution ${o.ladder.resolution} --ladder-repeats ${o.ladder.repeats} --p99-bound ${o.ladder.p99BoundMs}`
      : o.scenario === 'connect'
        ? ''
        : `--rate ${o.rate}`,
    o.scenario === 'connect'
      ? ''
      : `--duration ${o.durationSec} --warmup ${o.warmupSec} --drain ${o.drainSec}`,
    `--generators ${o.generators}`,
  ].filter(Boolean);
  return `npm run bench -- ${args.join(' ')}`;
}
