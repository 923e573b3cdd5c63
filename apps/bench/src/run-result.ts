import type { DeliveryAccount } from './delivery-tracker.js';
import type { LatencySummary, PercentilePoint } from './histogram.js';
import type { LadderStep } from './ladder.js';
import type { MachineInfo } from './machine.js';
import type { ScenarioOptions } from './scenario.js';

/** One second of a run. Latencies in ms. */
export interface TimelinePoint {
  /** Seconds since the run started measuring connections. */
  t: number;
  /** `connect`, `warmup`, `measure`, `drain` or `idle`, and the ladder step when there is one. */
  stage: string;
  step: number;
  sentPerSec: number;
  deliveriesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  open: number;
  serverCpuPercent: number;
  serverRssBytes: number;
  generatorCpuPercent: number;
}

/** Connecting (or reconnecting) every client. */
export interface ConnectSummary {
  ok: number;
  failed: number;
  /** Successful connections per second, first attempt to last `ready`. */
  perSec: number;
  elapsedMs: number;
  /** Attempt → `ready`, ms (reconnect: drop → `ready`). */
  latencyMs: LatencySummary;
  distribution: PercentilePoint[];
  errors: Record<string, number>;
  /** Messages fetched from history while resuming. */
  recovered: number;
  /** Server RSS growth per connection, bytes (connect scenario, local servers). */
  rssPerConnectionBytes?: number;
  serverRssBeforeBytes?: number;
  serverRssAfterBytes?: number;
}

/** One measured run at one rate (a ladder has several). Latencies in ms. */
export interface PhaseSummary {
  step: number;
  /** Offered rate, messages/s. */
  rate: number;
  durationSec: number;
  /** Messages the schedule held in the measured window. */
  scheduledMeasured: number;
  sent: number;
  acked: number;
  unacked: number;
  /** Receivers per message. */
  fanout: number;
  /** Deliveries of measured messages per second of the window. */
  deliveriesPerSec: number;
  /** Deliveries of measured messages / (scheduled × fanout). */
  deliveredRatio: number;
  sentRatio: number;
  latencyMs: LatencySummary;
  distribution: PercentilePoint[];
  delivery: DeliveryAccount;
  errors: Record<string, number>;
  /** Server-initiated connection closes by close code. */
  closes: Record<string, number>;
  serverCpuPercent: number;
  serverRssBytes: number;
  generatorCpuPercent: number;
  /**
   * The generators' CPU as a share of the cores they run on (pinned ones, else all): 1 = all
   * busy. At the ladder's bound the step is generator-bound (see ladder.ts).
   */
  generatorCpuShare?: number;
  /** Cores the generator processes ran on. */
  generatorCores?: number;
  /** Client connections open when the step ended (of every client of the run). */
  openAtEnd?: number;
  /** mixed: edits and reaction toggles, and their `change` frames. */
  changes?: ChangeSummary;
}

/** mixed: the changes of one phase. Latencies in ms. */
export interface ChangeSummary {
  edits: number;
  reactions: number;
  /** Changes acknowledged with a changeSeq. */
  acked: number;
  /** Acknowledged without a changeSeq (nothing changed). */
  noops: number;
  unacked: number;
  /** Receivers of each change (the actor's own devices included). */
  fanout: number;
  /** Timed changes per second of the measured window (timed frames / other members). */
  perSec: number;
  /** change (intended time) → `change` frame at each other member, measured changes. */
  latencyMs: LatencySummary;
  distribution: PercentilePoint[];
  /** Every acknowledged changeSeq checked at every receiver: lost, duplicated, out of order. */
  delivery: DeliveryAccount;
  /** `change` frames that could not be timed (their acknowledgement reached no generator in time). */
  untimed: number;
}

export interface RunResult {
  version: 1;
  scenario: ScenarioOptions['scenario'];
  target: { label: string; kind: string; description: string; urls: string[] };
  options: ScenarioOptions;
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  versions: Record<string, string>;
  loadAverage: { start: [number, number, number]; end: [number, number, number] };
  connect: ConnectSummary;
  reconnect?: ConnectSummary;
  phases: PhaseSummary[];
  ladder?: {
    p99BoundMs: number;
    /** Passing steps in a row that make a rate sustained (absent: 1). */
    repeats?: number;
    steps: LadderStep[];
    /** Highest sustained rate, messages/s. */
    highestSustainedRate?: number;
    highestSustainedDeliveriesPerSec?: number;
    /** Lowest rate at which the generator, not the system, was the limit in every try. */
    generatorBoundRate?: number;
  };
  /** Where servers and generators were pinned (taskset lists); absent when not pinned. */
  pinning?: { serverCpus: string; generatorCpus: string };
  timeline: TimelinePoint[];
  /** Per process: mean CPU percent and peak RSS over the run. */
  processes: { name: string; role: string; meanCpuPercent: number; peakRssBytes: number }[];
  /** Warnings worth reading before trusting the figures. */
  warnings: string[];
}

/** The phase that represents the run: the single one, or the best passing ladder step. */
export function headlinePhase(result: RunResult): PhaseSummary | undefined {
  if (result.ladder?.highestSustainedRate !== undefined) {
    // Repeated steps at that rate: the worst passing one (highest p99) represents it.
    const best = result.ladder.highestSustainedRate;
    const steps = result.ladder.steps;
    const candidates = result.phases.filter((p, i) => p.rate === best && (steps[i]?.passed ?? true));
    return candidates.reduce<PhaseSummary | undefined>(
      (worst, p) => (worst === undefined || p.latencyMs.p99 > worst.latencyMs.p99 ? p : worst),
      undefined,
    );
  }
  return result.phases[result.phases.length - 1];
}

/** µs summary → ms summary. */
export function toMs(summary: LatencySummary): LatencySummary {
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count: summary.count,
    p50: ms(summary.p50),
    p90: ms(summary.p90),
    p95: ms(summary.p95),
    p99: ms(summary.p99),
    p999: ms(summary.p999),
    max: ms(summary.max),
    mean: ms(summary.mean),
  };
}
