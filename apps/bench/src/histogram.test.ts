import { describe, expect, it } from 'vitest';
import { LatencyHistogram, mergeEncoded } from './histogram.js';

describe('LatencyHistogram', () => {
  it('reports percentiles of recorded values within 0.1%', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 10_000; v++) h.record(v);
    const s = h.summary();
    expect(s.count).toBe(10_000);
    expect(s.p50).toBeGreaterThanOrEqual(4995);
    expect(s.p50).toBeLessThanOrEqual(5005);
    expect(s.p99).toBeGreaterThanOrEqual(9890);
    expect(s.p99).toBeLessThanOrEqual(9910);
    expect(s.p999).toBeGreaterThanOrEqual(9980);
    expect(s.max).toBeGreaterThanOrEqual(9995);
  });

  it('keeps the tail: one slow value in a thousand shows at p99.9 and max, not at p99', () => {
    const h = new LatencyHistogram();
    for (let i = 0; i < 998; i++) h.record(1000);
    h.record(500_000);
    h.record(500_000);
    const s = h.summary();
    expect(s.p99).toBeLessThan(1100);
    expect(s.p999).toBeGreaterThan(490_000);
    expect(s.max).toBeGreaterThan(490_000);
  });

  it('counts negative values (clock skew) as zero instead of failing', () => {
    const h = new LatencyHistogram();
    h.record(-5);
    expect(h.summary()).toMatchObject({ count: 1, max: 0 });
  });

  it('merges encoded histograms from several processes without losing counts', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let i = 0; i < 100; i++) a.record(100);
    for (let i = 0; i < 100; i++) b.record(10_000);
    const merged = mergeEncoded([a.encode(), b.encode(), new LatencyHistogram().encode()]);
    expect(merged.count).toBe(200);
    expect(merged.valueAt(25)).toBeLessThan(101);
    expect(merged.valueAt(75)).toBeGreaterThan(9990);
  });

  it('summarises an empty histogram as zeros', () => {
    expect(new LatencyHistogram().summary()).toEqual({
      count: 0,
      p50: 0,
      p90: 0,
      p95: 0,
      p99: 0,
      p999: 0,
      max: 0,
      mean: 0,
    });
    expect(new LatencyHistogram().distribution()).toEqual([]);
  });

  it('gives a distribution that never decreases and ends at the max', () => {
    const h = new LatencyHistogram();
    for (let v = 1; v <= 1000; v++) h.record(v * 10);
    const points = h.distribution();
    for (let i = 1; i < points.length; i++) {
      expect(points[i]!.valueUs).toBeGreaterThanOrEqual(points[i - 1]!.valueUs);
      expect(points[i]!.percentile).toBeGreaterThanOrEqual(points[i - 1]!.percentile);
    }
    expect(points.at(-1)).toMatchObject({ percentile: 100 });
    expect(points.at(-1)!.valueUs).toBeGreaterThanOrEqual(9990);
  });
});
