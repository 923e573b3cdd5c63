import { describe, expect, it } from 'vitest';
import {
  DEFAULT_LADDER,
  highestSustained,
  judgeStep,
  type LadderOptions,
  type LadderStep,
  nextLadderRate,
  rateVerdict,
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

  it('fails a step where delivery fell behind or messages were lost', () => {
    expect(judgeStep(measured(100, 5, { deliveredRatio: 0.9 }), options).reasons[0]).toMatch(/delivered/);
    expect(judgeStep(measured(100, 5, { lost: 1 }), options).reasons[0]).toMatch(/lost/);
    expect(judgeStep(measured(100, 5, { serverCloses: 3 }), options).reasons[0]).toMatch(/closed/);
  });

  it('marks a step generator-bound, neither passed nor failed, when the generator was the bottleneck', () => {
    const behind = judgeStep(measured(100, 500, { sentRatio: 0.5 }), options);
    expect(behind).toMatchObject({ passed: false, generatorBound: true });
    expect(behind.reasons[0]).toMatch(/generator sent 50\.0%/);
    const busy = judgeStep(measured(100, 500, { generatorCpuShare: 0.95 }), options);
    expect(busy).toMatchObject({ passed: false, generatorBound: true });
    expect(busy.reasons[0]).toMatch(/generator CPU 95%/);
    expect(judgeStep(measured(100, 5, { generatorCpuShare: 0.5 }), options).passed).toBe(true);
    // Within the bounds with a busy generator: a pass (its own delays only add latency).
    expect(judgeStep(measured(100, 5, { generatorCpuShare: 0.95 }), options)).toMatchObject({
      passed: true,
      reasons: [],
    });
  });

  it('fails, not generator-bound, a step that fell behind because connections were not open', () => {
    const step = judgeStep(measured(100, 0, { sentRatio: 0, connectionsDown: 20 }), options);
    expect(step).toMatchObject({ passed: false });
    expect(step.generatorBound).toBeUndefined();
    expect(step.reasons[0]).toMatch(/20 connections not open/);
  });

  it('still fails a generator-bound step that lost messages: that is the system', () => {
    const step = judgeStep(measured(100, 5, { generatorCpuShare: 0.99, lost: 2 }), options);
    expect(step).toMatchObject({ passed: false });
    expect(step.generatorBound).toBeUndefined();
  });
});

describe('repeated steps', () => {
  const three: LadderOptions = { ...options, repeats: 3, maxSteps: 40 };
  const judge = (rate: number, p99: number, extra: Partial<StepMeasurement> = {}) =>
    judgeStep(measured(rate, p99, extra), three);

  it('repeats a rate until it passed 3 times in a row, and only then climbs', () => {
    const steps = [judge(100, 5)];
    expect(nextLadderRate(steps, three)).toBe(100);
    steps.push(judge(100, 5));
    expect(nextLadderRate(steps, three)).toBe(100);
    expect(highestSustained(steps, three)).toBeUndefined();
    steps.push(judge(100, 5));
    expect(rateVerdict(steps, 100, three)).toBe('sustained');
    expect(highestSustained(steps, three)).toBe(100);
    expect(nextLadderRate(steps, three)).toBe(150);
  });

  it('does not sustain a rate that passed twice and then failed: one unlucky step is enough', () => {
    const steps = [judge(100, 5), judge(100, 5), judge(100, 101)];
    expect(rateVerdict(steps, 100, three)).toBe('failed');
    expect(highestSustained(steps, three)).toBeUndefined();
    expect(nextLadderRate(steps, three)).toBe(66.7);
  });

  it('a single passing step at a rate is not sustained when 3 are required', () => {
    const steps = [judge(100, 5), judge(100, 5), judge(100, 5), judge(150, 5), judge(150, 500)];
    expect(highestSustained(steps, three)).toBe(100);
    expect(highestSustained(steps)).toBe(150);
  });

  it('retries a generator-bound step without counting it, and stops climbing at a generator-bound rate', () => {
    const steps = [judge(100, 5), judge(100, 500, { generatorCpuShare: 0.95 })];
    expect(rateVerdict(steps, 100, three)).toBe('pending');
    expect(nextLadderRate(steps, three)).toBe(100);
    steps.push(judge(100, 5), judge(100, 5));
    expect(rateVerdict(steps, 100, three)).toBe('sustained');
    // 150: generator-bound three times → the tester's limit, not the system's.
    steps.push(...[1, 2, 3].map(() => judge(150, 500, { generatorCpuShare: 0.97 })));
    expect(rateVerdict(steps, 150, three)).toBe('generator-bound');
    expect(steps.filter((s) => !s.passed && !s.generatorBound)).toHaveLength(0);
    // It bounds the climb like a failing rate: the ladder bisects below it.
    expect(nextLadderRate(steps, three)).toBe(122);
  });

  it('climbs a system with a fixed capacity to the same answer as single steps, 3 steps per passing rate', () => {
    const steps: LadderStep[] = [];
    for (let r = nextLadderRate(steps, three); r !== undefined; r = nextLadderRate(steps, three)) {
      steps.push(judge(r, r <= 400 ? 10 : 500));
    }
    const best = highestSustained(steps, three)!;
    expect(best).toBe(highestSustained(climb(400))!);
    expect(steps.filter((s) => s.rate === best)).toHaveLength(3);
  });

  it('a flaky system (every third step over the bound) sustains nothing', () => {
    const steps: LadderStep[] = [];
    for (let r = nextLadderRate(steps, three); r !== undefined; r = nextLadderRate(steps, three)) {
      steps.push(judge(r, steps.length % 3 === 2 ? 150 : 10));
    }
    expect(highestSustained(steps, three)).toBeUndefined();
    expect(highestSustained(steps)).toBeDefined();
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
