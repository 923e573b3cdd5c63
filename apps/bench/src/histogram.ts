import * as hdr from 'hdr-histogram-js';

/** Percentiles of one latency histogram. Values in microseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** One point of a percentile distribution plot: `percentile` in [0, 100], `valueUs` in µs. */
export interface PercentilePoint {
  percentile: number;
  valueUs: number;
}

/**
 * An HDR histogram of latencies in microseconds (3 significant digits, auto-resizing), which
 * can travel between processes as compressed base64 and be merged without losing precision.
 */
export class LatencyHistogram {
  private readonly histogram: hdr.Histogram;

  constructor(histogram?: hdr.Histogram) {
    this.histogram =
      histogram ?? hdr.build({ bitBucketSize: 32, numberOfSignificantValueDigits: 3, autoResize: true });
  }

  /** Decodes what `encode()` produced. */
  static decode(encoded: string): LatencyHistogram {
    if (encoded === '') return new LatencyHistogram();
    return new LatencyHistogram(hdr.decodeFromCompressedBase64(encoded, 32, false));
  }

  /** Records one latency in µs; negative values (clock skew) count as 0. */
  record(valueUs: number): void {
    this.histogram.recordValue(valueUs > 0 ? Math.round(valueUs) : 0);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** Adds every value of `other` to this one. */
  add(other: LatencyHistogram): void {
    if (other.count > 0) this.histogram.add(other.histogram);
  }

  reset(): void {
    this.histogram.reset();
  }

  /** The value at `percentile` (0–100), µs; 0 when empty. */
  valueAt(percentile: number): number {
    // The histogram answers with the top of a value's bucket: never report more than the max seen.
    return this.count === 0
      ? 0
      : Math.min(this.histogram.getValueAtPercentile(percentile), this.histogram.maxValue);
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, p50: 0, p90: 0, p95: 0, p99: 0, p999: 0, max: 0, mean: 0 };
    return {
      count: this.count,
      p50: this.valueAt(50),
      p90: this.valueAt(90),
      p95: this.valueAt(95),
      p99: this.valueAt(99),
      p999: this.valueAt(99.9),
      max: this.histogram.maxValue,
      mean: this.histogram.mean,
    };
  }

  /**
   * Points for a percentile-distribution plot, spaced evenly on the "nines" axis
   * (50, 75, 90, 95, 97.5, … up to the max), as HDR plots do.
   */
  distribution(maxNines = 5): PercentilePoint[] {
    if (this.count === 0) return [];
    const points: PercentilePoint[] = [];
    const steps = 8;
    for (let i = 0; i <= maxNines * steps; i++) {
      const nines = i / steps;
      const percentile = 100 * (1 - 10 ** -nines);
      points.push({ percentile, valueUs: this.valueAt(percentile) });
    }
    points.push({ percentile: 100, valueUs: this.histogram.maxValue });
    return points;
  }

  encode(): string {
    return this.count === 0 ? '' : hdr.encodeIntoCompressedBase64(this.histogram);
  }
}

/** Merges encoded histograms (from several generator processes) into one. */
export function mergeEncoded(encoded: readonly string[]): LatencyHistogram {
  const merged = new LatencyHistogram();
  for (const one of encoded) merged.add(LatencyHistogram.decode(one));
  return merged;
}
