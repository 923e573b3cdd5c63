import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * One registry per process: the embedded launcher runs several services in one process,
 * and each registers its own metrics (named with its service prefix) here.
 */
export const metricsRegistry = new Registry();
collectDefaultMetrics({ register: metricsRegistry });

const existing = new Map<string, unknown>();

/** Gets or creates a metric, so that a service mounted twice in one process (tests) reuses it. */
function once<T>(name: string, make: () => T): T {
  let metric = existing.get(name) as T | undefined;
  if (!metric) {
    metric = make();
    existing.set(name, metric);
  }
  return metric;
}

export function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return once(name, () => new Counter<L>({ name, help, labelNames, registers: [metricsRegistry] }));
}

export function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return once(name, () => new Gauge<L>({ name, help, labelNames, registers: [metricsRegistry] }));
}

export function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
) {
  return once(
    name,
    () => new Histogram<L>({ name, help, labelNames, buckets, registers: [metricsRegistry] }),
  );
}
