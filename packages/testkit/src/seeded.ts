/**
 * A small, fast, seeded generator (mulberry32) of numbers in [0, 1): the same seed makes the
 * same run of numbers, so a seeded corpus, fault run or fuzz run can be made again.
 */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
