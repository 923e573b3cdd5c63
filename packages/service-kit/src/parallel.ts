/**
 * Runs `task(0 … count-1)` with at most `concurrency` in flight; the first failure rejects
 * (after the tasks already started have settled; no new one starts).
 */
export async function inParallel(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < count && failure === undefined) {
      const i = next++;
      try {
        await task(i);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(count, Math.max(1, concurrency)) }, worker));
  if (failure !== undefined) throw failure;
}
