import { describe, expect, it } from 'vitest';
import { parseCommand } from './cli-options.js';
import { summarizeChanges } from './coordinator.js';
import type { PhaseResult } from './generator-protocol.js';
import { LatencyHistogram } from './histogram.js';
import {
  type AckedChange,
  BENCH_EMOJI,
  ChangeTimer,
  MixedSender,
  pickOperation,
  RecentSeqs,
  unitHash,
  validateShares,
} from './mixed.js';
import { baselineLayout, defaultOptions } from './scenario.js';

describe('the mixed scenario', () => {
  it('parses --edits and --reactions and refuses shares that do not add up', () => {
    const command = parseCommand(['mixed', '--edits', '0.25', '--reactions', '0.5', '--rate', '50']);
    expect(command).toMatchObject({
      kind: 'run',
      options: { scenario: 'mixed', edits: 0.25, reactions: 0.5, rate: 50 },
    });
    expect(parseCommand(['mixed'])).toMatchObject({ options: { edits: 0.1, reactions: 0.2, users: 200 } });
    expect(() => parseCommand(['mixed', '--edits', '0.7', '--reactions', '0.5'])).toThrow(/≤ 1/);
    expect(() => parseCommand(['channel', '--edits', '0.1'])).toThrow(/mixed/);
    expect(() => validateShares({ edits: 1.5, reactions: 0 })).toThrow(/edits/);
    expect(parseCommand(['mixed', '--ladder'])).toMatchObject({ options: { ladder: { startRate: 100 } } });
  });

  it('runs in one channel, like the channel scenario', () => {
    expect(baselineLayout(defaultOptions('mixed'))).toEqual({ kind: 'channel', conv: 'bench-mixed' });
  });

  it('draws slots uniformly and deterministically, and splits them by the shares', () => {
    const shares = { edits: 0.1, reactions: 0.2 };
    const counts = { send: 0, edit: 0, react: 0 };
    const n = 20_000;
    let min = 1;
    let max = 0;
    for (let slot = 0; slot < n; slot++) {
      const u = unitHash(slot % 10, Math.floor(slot / 10), 1);
      min = Math.min(min, u);
      max = Math.max(max, u);
      counts[pickOperation(u, shares)]++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(counts.edit / n).toBeCloseTo(0.1, 1);
    expect(counts.react / n).toBeCloseTo(0.2, 1);
    expect(counts.send / n).toBeCloseTo(0.7, 1);
    expect(unitHash(3, 7, 1)).toBe(unitHash(3, 7, 1));
    expect(unitHash(3, 7, 1)).not.toBe(unitHash(3, 7, 2));
    expect(pickOperation(0.99, { edits: 0, reactions: 0 })).toBe('send');
    expect(pickOperation(0, { edits: 0, reactions: 1 })).toBe('react');
  });

  it('keeps the most recent distinct seqs', () => {
    const recent = new RecentSeqs(3);
    expect(recent.pick(0.5)).toBeUndefined();
    for (const seq of [1, 2, 2, 3, 4]) recent.add(seq);
    expect(recent.toArray()).toEqual([2, 3, 4]);
    expect(recent.pick(0)).toBe(2);
    expect(recent.pick(0.999)).toBe(4);
  });

  it('edits only its own acknowledged messages, one edit of a message in flight at a time', () => {
    const sender = new MixedSender();
    sender.seen.add(5);
    expect(sender.plan('edit', 0.5, 0.5)).toBeUndefined();
    sender.own.add(7);
    const edit = sender.plan('edit', 0.5, 0.5);
    expect(edit).toEqual({ kind: 'edit', seq: 7 });
    const key = sender.begin(edit!);
    expect(sender.plan('edit', 0.5, 0.5)).toBeUndefined();
    sender.end(key);
    expect(sender.plan('edit', 0.5, 0.5)).toEqual({ kind: 'edit', seq: 7 });
  });

  it('toggles reactions so that each one changes something', () => {
    const sender = new MixedSender();
    expect(sender.plan('react', 0.5, 0)).toBeUndefined();
    sender.seen.add(3);
    const first = sender.plan('react', 0.5, 0)!;
    expect(first).toEqual({ kind: 'react', seq: 3, emoji: BENCH_EMOJI[0], on: true });
    const key = sender.begin(first);
    // In flight: the same reaction is not toggled again until answered; another emoji may be.
    expect(sender.plan('react', 0.5, 0)).toBeUndefined();
    expect(sender.plan('react', 0.5, 0.99)).toMatchObject({
      emoji: BENCH_EMOJI[BENCH_EMOJI.length - 1],
      on: true,
    });
    sender.end(key);
    expect(sender.plan('react', 0.5, 0)).toMatchObject({ seq: 3, on: false });
    sender.end(sender.begin(sender.plan('react', 0.5, 0)!));
    expect(sender.plan('react', 0.5, 0)).toMatchObject({ seq: 3, on: true });
  });

  it('times change frames against the change, whichever comes first, and not at the actor', () => {
    const latencies: number[] = [];
    const timer = new ChangeTimer((latencyUs) => latencies.push(latencyUs));
    const change: AckedChange = { conv: 'c', changeSeq: 4, intendedUs: 1_000, actor: 0 };
    timer.arrived('c', 4, 1, 3_000); // before the acknowledgement is known here
    timer.arrived('c', 4, 0, 2_500); // the actor's own device: counted elsewhere, not timed
    expect(timer.unmatched).toBe(2);
    timer.learn(change);
    expect(timer.unmatched).toBe(0);
    timer.arrived('c', 4, 2, 4_000); // after
    timer.learn(change); // relayed back to its own generator: no double count
    expect(latencies).toEqual([2_000, 3_000]);
    timer.arrived('c', 5, 1, 5_000);
    expect(timer.unmatched).toBe(1);
    timer.reset();
    expect(timer.unmatched).toBe(0);
  });

  it('accounts every change frame expected at every receiver: lost and duplicated', () => {
    const histogram = new LatencyHistogram();
    histogram.record(2_000);
    histogram.record(4_000);
    const result = (changes: NonNullable<PhaseResult['changes']>) => ({ changes }) as PhaseResult;
    const summary = summarizeChanges(
      [
        result({
          edits: 1,
          reactions: 2,
          noops: 0,
          unacked: 0,
          acked: { c: [[1, 3]] },
          receivers: [
            { conv: 'c', received: [[1, 3]], duplicates: 0, outOfOrder: 0 },
            { conv: 'c', received: [[1, 2]], duplicates: 1, outOfOrder: 0 },
          ],
          histogram: histogram.encode(),
          unmatched: 0,
        }),
        result({
          edits: 0,
          reactions: 0,
          noops: 0,
          unacked: 1,
          acked: {},
          receivers: [{ conv: 'c', received: [[1, 3]], duplicates: 0, outOfOrder: 0 }],
          histogram: '',
          unmatched: 1,
        }),
      ],
      3,
      1,
    );
    expect(summary).toMatchObject({ edits: 1, reactions: 2, acked: 3, unacked: 1, untimed: 1, fanout: 3 });
    expect(summary.delivery).toMatchObject({ expected: 9, lost: 1, duplicated: 1, receiversWithLoss: 1 });
    expect(summary.latencyMs.count).toBe(2);
    expect(summary.latencyMs.p50).toBeCloseTo(2, 1);
  });
});
