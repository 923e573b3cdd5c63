import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LADDER,
  highestSustained,
  judgeStep,
  type LadderOptions,
  type LadderStep,
  nextLadderRate,
  roundRate,
  type StepMeasurement,
} from './ladder.js';

const options: LadderOptions = { ...DEFAULT_LADDER, startRate: 100 };

function measured(rate: number, p99Ms: number, extra: Partial<StepMeasurement> = {}): StepMeasurement {
  return { rate, p99Ms, deliveredRatio: 1, sentRatio: 1, lost: 0, serverCloses: 0, ...extra };
}

/** Runs the ladder against a system whose p99 crosses the bound above `capacity` msg/s. */
function climb(capacity: number, opts: LadderOptions = options): LadderStep[] {
  const steps: LadderStep[] = [];
  for (let rate = nextLadderRate(steps, opts); rate !== undefined; rate = nextLadderRate(steps, opts)) {
    steps.push(judgeStep(measured(rate, rate <= capacity ? 10 : 500), opts));
  }
  return steps;
}

describe('judgeStep', () => {
  it('passes a step within every bound', () => {
    expect(judgeStep(measured(100, 99), options)).toMatchObject({ passed: true, reasons: [] });
  });

  it('fails a step whose p99 passes the bound', () => {
    const step = judgeStep(measured(100, 101), options);
    expect(step.passed).toBe(false);
    expect(step.reasons[0]).toMatch(/p99/);
  });

  it('fails a step where delivery fell behind, the generator could not keep the schedule, or messages were lost', () => {
    expect(judgeStep(measured(100, 5, { deliveredRatio: 0.9 }), options).reasons[0]).toMatch(/delivered/);
    expect(judgeStep(measured(100, 5, { sentRatio: 0.5 }), options).reasons[0]).toMatch(/generator/);
    expect(judgeStep(measured(100, 5, { lost: 1 }), options).reasons[0]).toMatch(/lost/);
    expect(judgeStep(measured(100, 5, { serverCloses: 3 }), options).reasons[0]).toMatch(/closed/);
  });
});

describe('nextLadderRate', () => {
  it('starts at the start rate and multiplies by the factor while steps pass', () => {
    expect(nextLadderRate([], options)).toBe(100);
    const steps = [judgeStep(measured(100, 5), options)];
    expect(nextLadderRate(steps, options)).toBe(150);
    steps.push(judgeStep(measured(150, 5), options));
    expect(nextLadderRate(steps, options)).toBe(225);
  });

  it('bisects between the highest passing and lowest failing rate, then stops within the resolution', () => {
    const steps = climb(400);
    const rates = steps.map((s) => s.rate);
    expect(rates.slice(0, 5)).toEqual([100, 150, 225, 338, 507]);
    const best = highestSustained(steps)!;
    expect(best).toBeLessThanOrEqual(400);
    const lowestFail = Math.min(...steps.filter((s) => !s.passed && s.rate > best).map((s) => s.rate));
    expect(lowestFail / best).toBeLessThanOrEqual(options.resolution);
  });

  it('steps down when even the first rate fails', () => {
    const steps = climb(40);
    expect(steps[1]!.rate).toBe(66.7);
    expect(highestSustained(steps)).toBeLessThanOrEqual(40);
    expect(highestSustained(steps)).toBeGreaterThan(30);
  });

  it('never goes past the maximum rate or the maximum number of steps', () => {
    const capped = climb(1e9, { ...options, maxRate: 300 });
    expect(Math.max(...capped.map((s) => s.rate))).toBe(300);
    expect(capped.every((s) => s.passed)).toBe(true);
    const bounded = climb(1e12, { ...options, maxSteps: 4 });
    expect(bounded).toHaveLength(4);
  });

  it('reports no sustained rate when nothing passed', () => {
    expect(highestSustained([judgeStep(measured(100, 500), options)])).toBeUndefined();
  });
});

describe('roundRate', () => {
  it('keeps three significant digits', () => {
    expect(roundRate(337.5)).toBe(338);
    expect(roundRate(12_345)).toBe(12_300);
    expect(roundRate(66.666)).toBe(66.7);
  });
});
