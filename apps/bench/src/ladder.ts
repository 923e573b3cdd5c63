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
}

export const DEFAULT_LADDER: Omit<LadderOptions, 'startRate'> = {
  factor: 1.5,
  p99BoundMs: 100,
  minDeliveredRatio: 0.99,
  minSentRatio: 0.98,
  resolution: 1.15,
  maxSteps: 12,
  maxRate: Number.POSITIVE_INFINITY,
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
}

export interface LadderStep extends StepMeasurement {
  passed: boolean;
  /** Why it failed, in words; empty when it passed. */
  reasons: string[];
}

/** Judges one step against the bounds. */
export function judgeStep(step: StepMeasurement, options: LadderOptions): LadderStep {
  const reasons: string[] = [];
  if (step.p99Ms > options.p99BoundMs)
    reasons.push(`p99 ${step.p99Ms.toFixed(1)} ms > ${options.p99BoundMs} ms`);
  if (step.deliveredRatio < options.minDeliveredRatio) {
    reasons.push(`delivered ${(step.deliveredRatio * 100).toFixed(1)}% of expected`);
  }
  if (step.sentRatio < options.minSentRatio) {
    reasons.push(`generator sent ${(step.sentRatio * 100).toFixed(1)}% of the schedule`);
  }
  if (step.lost > 0) reasons.push(`${step.lost} lost`);
  if (step.serverCloses > 0) reasons.push(`${step.serverCloses} connections closed by the server`);
  return { ...step, passed: reasons.length === 0, reasons };
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
  const passing = highestSustained(steps);
  const failingAbove = steps
    .filter((s) => !s.passed && (passing === undefined || s.rate > passing))
    .reduce<number | undefined>((low, s) => (low === undefined || s.rate < low ? s.rate : low), undefined);
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

/** The highest rate that passed, or undefined when none did. */
export function highestSustained(steps: readonly LadderStep[]): number | undefined {
  let best: number | undefined;
  for (const step of steps) if (step.passed && (best === undefined || step.rate > best)) best = step.rate;
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
