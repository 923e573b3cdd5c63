import { describe, expect, it } from 'vitest';
import { accountDeliveries, ConversationLog, mergeAcked } from './delivery-tracker.js';
import { IntervalSet } from './interval-set.js';

function logOf(seqs: number[]): ConversationLog {
  const log = new ConversationLog();
  for (const s of seqs) log.offer(s);
  return log;
}

describe('IntervalSet', () => {
  it('keeps in-order values as one range', () => {
    const set = new IntervalSet();
    for (let i = 1; i <= 1000; i++) set.add(i);
    expect(set.toJSON()).toEqual([[1, 1000]]);
    expect(set.size).toBe(1000);
  });

  it('merges ranges when a gap fills', () => {
    const set = new IntervalSet();
    for (const v of [1, 2, 5, 6, 4, 3]) set.add(v);
    expect(set.toJSON()).toEqual([[1, 6]]);
  });

  it('says whether a value was new', () => {
    const set = new IntervalSet([[10, 20]]);
    expect(set.add(15)).toBe(false);
    expect(set.add(9)).toBe(true);
    expect(set.add(30)).toBe(true);
    expect(set.has(30)).toBe(true);
    expect(set.has(25)).toBe(false);
    expect(set.toJSON()).toEqual([
      [9, 20],
      [30, 30],
    ]);
  });

  it('counts the values of one set missing from another', () => {
    const expected = new IntervalSet([[1, 100]]);
    const got = new IntervalSet([
      [1, 10],
      [20, 100],
    ]);
    expect(expected.countMissingFrom(got)).toBe(9);
    expect(got.countMissingFrom(expected)).toBe(0);
  });
});

describe('ConversationLog', () => {
  it('classifies arrivals as new, duplicate or out of order', () => {
    const log = new ConversationLog();
    expect(log.offer(1)).toBe('new');
    expect(log.offer(3)).toBe('new');
    expect(log.offer(2)).toBe('out_of_order');
    expect(log.offer(3)).toBe('duplicate');
    expect(log.offer(1)).toBe('duplicate');
    expect(log).toMatchObject({ duplicates: 2, outOfOrder: 1, highestSeq: 3 });
    expect(log.received.toJSON()).toEqual([[1, 3]]);
  });

  it('records history recoveries without counting them as disorder', () => {
    const log = logOf([1, 2, 5]);
    expect(log.recover(3)).toBe(true);
    expect(log.recover(4)).toBe(true);
    expect(log.recover(4)).toBe(false);
    expect(log).toMatchObject({ duplicates: 0, outOfOrder: 0 });
    expect(log.received.toJSON()).toEqual([[1, 5]]);
  });
});

describe('accountDeliveries', () => {
  it('finds nothing wrong when every receiver got every acked seq once, in order', () => {
    const acked = new Map([['c1', new IntervalSet([[1, 50]])]]);
    const receivers = [logOf(range(1, 50)).report('c1'), logOf(range(1, 50)).report('c1')];
    expect(accountDeliveries(acked, receivers)).toEqual({
      acked: 50,
      expected: 100,
      lost: 0,
      duplicated: 0,
      outOfOrder: 0,
      receiversWithLoss: 0,
    });
  });

  it('counts an acked message a receiver never got as lost, per receiver', () => {
    const acked = new Map([['c1', new IntervalSet([[1, 10]])]]);
    const receivers = [
      logOf([1, 2, 3, 4, 6, 7, 8, 9, 10]).report('c1'),
      logOf(range(1, 10)).report('c1'),
      logOf([1, 2]).report('c1'),
    ];
    const account = accountDeliveries(acked, receivers);
    expect(account.lost).toBe(1 + 0 + 8);
    expect(account.receiversWithLoss).toBe(2);
  });

  it('does not count as lost a message that was stored but never acked to its sender', () => {
    const acked = new Map([['c1', new IntervalSet([[1, 5]])]]);
    const account = accountDeliveries(acked, [logOf(range(1, 6)).report('c1')]);
    expect(account.lost).toBe(0);
  });

  it('adds up duplicates and out-of-order arrivals over receivers and conversations', () => {
    const acked = mergeAcked([{ a: [[1, 3]] }, { b: [[1, 2]] }]);
    const receivers = [logOf([1, 3, 2, 3]).report('a'), logOf([2, 1, 1]).report('b')];
    expect(accountDeliveries(acked, receivers)).toMatchObject({
      lost: 0,
      duplicated: 2,
      outOfOrder: 2,
      expected: 5,
    });
  });

  it('merges acked ranges reported by different generator processes', () => {
    const merged = mergeAcked([{ c: [[1, 5]] }, { c: [[6, 9]] }, { c: [[11, 11]] }]);
    expect(merged.get('c')!.toJSON()).toEqual([
      [1, 9],
      [11, 11],
    ]);
  });
});

function range(first: number, last: number): number[] {
  return Array.from({ length: last - first + 1 }, (_, i) => first + i);
}
