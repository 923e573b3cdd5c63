/** How the ladder steps the rate and what it calls sustained. */
export interface LadderOptions {
  /** First rate, messages/s. */
  startRate: number;
  /** Each passing step multiplies the rate by this (default 1.5). */
  factor: number;
  /** A step fails when its p99 latency exceeds this, ms (default 100). */
  p99BoundMs: number;
  /** A step fails when fewer than this share of the expected deliveries arrived (default 0.99). */
  minDeliveredRatio: number;
  /** A step fails when the generator sent less than this share of the scheduled messages (default 0.98). */
  minSentRatio: number;
  /** After the first failure, bisect until the failing rate is within this ratio of the passing one (default 1.15). */
  resolution: number;
  /** Most steps in all (default 12). */
  maxSteps: number;
  /** Never try above this rate, messages/s (default unbounded). */
  maxRate: number;
  /**
   * A rate is sustained only when this many steps at it pass in a row (default 1; bench:compare
   * uses 3). The first failing step ends the rate; generator-bound steps are retried, not counted.
   */
  repeats: number;
  /**
   * A step is generator-bound (the tester, not the system, was the limit) when the generator
   * processes used at least this share of the cores they run on (default 0.9).
   */
  generatorBoundCpuShare: number;
}

export const DEFAULT_LADDER: Omit<LadderOptions, 'startRate'> = {
  factor: 1.5,
  p99BoundMs: 100,
  minDeliveredRatio: 0.99,
  minSentRatio: 0.98,
  resolution: 1.15,
  maxSteps: 12,
  maxRate: Number.POSITIVE_INFINITY,
  repeats: 1,
  generatorBoundCpuShare: 0.9,
};

/** What one step measured, as far as the ladder cares. */
export interface StepMeasurement {
  /** Offered rate, messages/s. */
  rate: number;
  p99Ms: number;
  /** Deliveries that arrived / deliveries expected (acked messages × receivers). */
  deliveredRatio: number;
  /** Messages sent / messages scheduled in the step. */
  sentRatio: number;
  lost: number;
  /** Connections the server closed during the step (slow consumers …). */
  serverCloses: number;
  /**
   * CPU of the load-generator processes over the step, as a share of the cores they run on
   * (1 = every one of them busy); absent when not measured.
   */
  generatorCpuShare?: number;
  /** Clients whose connection was not open at the end of the step (never connected or closed). */
  connectionsDown?: number;
}

export interface LadderStep extends StepMeasurement {
  /** The system under test met every bound (false for a generator-bound step). */
  passed: boolean;
  /**
   * The load generator was the bottleneck (its CPU at the bound, or it fell behind its send
   * schedule): the step says nothing about the system and counts as neither a pass nor a fail.
   */
  generatorBound?: boolean;
  /** Why it failed or was generator-bound, in words; empty when it passed. */
  reasons: string[];
  /** 1 for the first step at its rate, 2 for the first repeat, … */
  repeat?: number;
}

/** What the steps at one rate add up to. */
export type RateVerdict = 'sustained' | 'failed' | 'generator-bound' | 'pending';

/**
 * Judges one step against the bounds. A step where the generator was the bottleneck is
 * generator-bound — neither passed nor failed, whatever its latency: when it fell behind its
 * send schedule (the load was not offered), or when it missed the latency or delivery bound
 * with its CPU at `generatorBoundCpuShare` of its cores (the miss cannot be told from the
 * tester's own queueing). A step that meets the bounds with a busy generator passes: its
 * latencies include the generator's delays, which can only make them worse. Losses and
 * server closes are failures of the system even then.
 */
export function judgeStep(step: StepMeasurement, options: LadderOptions): LadderStep {
  const reasons: string[] = [];
  if (step.lost > 0) reasons.push(`${step.lost} lost`);
  if (step.serverCloses > 0) reasons.push(`${step.serverCloses} connections closed by the server`);
  // Sends wait for a connection to open: a schedule not kept for want of connections is the system's.
  if (step.connectionsDown !== undefined && step.connectionsDown > 0)
    reasons.push(`${step.connectionsDown} connections not open`);
  const slow: string[] = [];
  if (step.p99Ms > options.p99BoundMs)
    slow.push(`p99 ${step.p99Ms.toFixed(1)} ms > ${options.p99BoundMs} ms`);
  if (step.deliveredRatio < options.minDeliveredRatio) {
    slow.push(`delivered ${(step.deliveredRatio * 100).toFixed(1)}% of expected`);
  }
  const behind =
    step.sentRatio < options.minSentRatio
      ? `generator sent ${(step.sentRatio * 100).toFixed(1)}% of the schedule`
      : undefined;
  const busy =
    step.generatorCpuShare !== undefined && step.generatorCpuShare >= options.generatorBoundCpuShare
      ? `generator CPU ${(step.generatorCpuShare * 100).toFixed(0)}% of its cores`
      : undefined;
  if (reasons.length === 0 && (behind || (busy && slow.length > 0))) {
    const bound = [behind, busy].filter((r): r is string => r !== undefined);
    return { ...step, passed: false, generatorBound: true, reasons: [...bound, ...slow] };
  }
  reasons.push(...slow);
  return { ...step, passed: reasons.length === 0, reasons };
}

/**
 * The verdict on `rate` from its steps: `sustained` once `repeats` steps at it passed in a row
 * (generator-bound steps in between neither count nor break the run), `failed` at its first
 * failing step, `generator-bound` when `repeats` of its steps were (the tester cannot measure
 * the system there), else `pending` (more steps needed).
 */
export function rateVerdict(
  steps: readonly LadderStep[],
  rate: number,
  options: Pick<LadderOptions, 'repeats'>,
): RateVerdict {
  let passes = 0;
  let bound = 0;
  for (const s of steps) {
    if (s.rate !== rate) continue;
    if (s.generatorBound) bound++;
    else if (!s.passed) return 'failed';
    else if (++passes >= options.repeats) return 'sustained';
  }
  if (bound >= options.repeats) return 'generator-bound';
  return 'pending';
}

/**
 * The next rate to try after `steps`, or undefined when the ladder is done: up by `factor`
 * while steps pass, down by `factor` while they all fail, then bisection (geometric mean)
 * between the highest passing and the lowest failing rate above it until they are within
 * `resolution` of each other.
 */
export function nextLadderRate(steps: readonly LadderStep[], options: LadderOptions): number | undefined {
  if (steps.length === 0) return Math.min(options.startRate, options.maxRate);
  if (steps.length >= options.maxSteps) return undefined;
  // Repeats: stay at the last rate until it is sustained, failed or generator-bound.
  const last = steps[steps.length - 1]!.rate;
  if (rateVerdict(steps, last, options) === 'pending') return last;
  const passing = highestSustained(steps, options);
  // A generator-bound rate bounds the climb like a failing one: above it the tester measures itself.
  const failingAbove = [...new Set(steps.map((s) => s.rate))]
    .filter((r) => passing === undefined || r > passing)
    .filter((r) => {
      const verdict = rateVerdict(steps, r, options);
      return verdict === 'failed' || verdict === 'generator-bound';
    })
    .reduce<number | undefined>((low, r) => (low === undefined || r < low ? r : low), undefined);
  if (passing === undefined && failingAbove === undefined) return undefined;
  if (passing === undefined) {
    const next = roundRate(failingAbove! / options.factor);
    return next >= 1 && next < failingAbove! ? next : undefined;
  }
  if (failingAbove === undefined) {
    if (passing >= options.maxRate) return undefined;
    return Math.min(roundRate(passing * options.factor), options.maxRate);
  }
  if (failingAbove / passing <= options.resolution) return undefined;
  const next = roundRate(Math.sqrt(passing * failingAbove));
  return next > passing && next < failingAbove ? next : undefined;
}

/** The highest sustained rate (`repeats` passing steps in a row), or undefined when none was. */
export function highestSustained(
  steps: readonly LadderStep[],
  options: Pick<LadderOptions, 'repeats'> = { repeats: 1 },
): number | undefined {
  let best: number | undefined;
  for (const step of steps) {
    if (best !== undefined && step.rate <= best) continue;
    if (rateVerdict(steps, step.rate, options) === 'sustained') best = step.rate;
  }
  return best;
}

/** Rates are kept to 3 significant digits so the steps read well in a table. */
export function roundRate(rate: number): number {
  if (rate <= 0) return 0;
  const digits = 2 - Math.floor(Math.log10(rate));
  if (digits <= 0) {
    const magnitude = 10 ** -digits;
    return Math.round(rate / magnitude) * magnitude;
  }
  const scale = 10 ** digits;
  return Math.round(rate * scale) / scale;
}
