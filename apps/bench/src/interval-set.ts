/** A closed range of sequence numbers `[first, last]`. */
export type Range = [first: number, last: number];

/**
 * A set of positive integers kept as sorted, disjoint, non-adjacent ranges. Sequence numbers
 * arrive almost always in order, so adding the next one is O(1) and the set stays a single
 * range — small enough to ship between processes as JSON.
 */
export class IntervalSet {
  private ranges: Range[] = [];

  constructor(ranges: readonly Range[] = []) {
    for (const [first, last] of ranges) this.addRange(first, last);
  }

  /** Adds `value`; false when it was already present. */
  add(value: number): boolean {
    const ranges = this.ranges;
    const tail = ranges[ranges.length - 1];
    // Fast path: in-order arrival extends (or follows) the last range.
    if (tail === undefined || value > tail[1] + 1) {
      ranges.push([value, value]);
      return true;
    }
    if (value === tail[1] + 1) {
      tail[1] = value;
      return true;
    }
    if (this.has(value)) return false;
    this.addRange(value, value);
    return true;
  }

  has(value: number): boolean {
    const hit = this.ranges[this.indexOfFirstEndingAtOrAfter(value)];
    return hit !== undefined && hit[0] <= value;
  }

  /** Adds every value in `[first, last]`. */
  addRange(first: number, last: number): void {
    if (last < first) return;
    const ranges = this.ranges;
    // Ranges touching or overlapping [first-1, last+1] merge into one.
    const start = this.indexOfFirstEndingAtOrAfter(first - 1);
    let end = start;
    let lo = first;
    let hi = last;
    while (end < ranges.length && ranges[end]![0] <= last + 1) {
      lo = Math.min(lo, ranges[end]![0]);
      hi = Math.max(hi, ranges[end]![1]);
      end++;
    }
    ranges.splice(start, end - start, [lo, hi]);
  }

  /** How many values are in the set. */
  get size(): number {
    let n = 0;
    for (const [first, last] of this.ranges) n += last - first + 1;
    return n;
  }

  /** The largest value, or 0 when empty. */
  get max(): number {
    return this.ranges[this.ranges.length - 1]?.[1] ?? 0;
  }

  /** How many values of this set are missing from `other`. */
  countMissingFrom(other: IntervalSet): number {
    let missing = 0;
    for (const [first, last] of this.ranges) missing += last - first + 1 - other.countWithin(first, last);
    return missing;
  }

  /** How many values lie in `[first, last]`. */
  countWithin(first: number, last: number): number {
    let n = 0;
    for (let i = this.indexOfFirstEndingAtOrAfter(first); i < this.ranges.length; i++) {
      const [a, b] = this.ranges[i]!;
      if (a > last) break;
      n += Math.min(b, last) - Math.max(a, first) + 1;
    }
    return n;
  }

  toJSON(): Range[] {
    return this.ranges.map(([a, b]) => [a, b]);
  }

  /** Binary search: the first range whose end is ≥ value (ranges.length when none). */
  private indexOfFirstEndingAtOrAfter(value: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid]![1] < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
