import { nowMs } from './bench-message.js';
import type { GeneratorCounters, GeneratorMessage, PhaseSpec } from './generator-protocol.js';
import type { GeneratorSet } from './generator-set.js';
import { LatencyHistogram } from './histogram.js';
import { type ProcessSample, type ProcessSampler, totalOf } from './process-sampler.js';
import type { TimelinePoint } from './run-result.js';

const EMPTY: GeneratorCounters = {
  sent: 0,
  acked: 0,
  delivered: 0,
  deliveredMeasured: 0,
  open: 0,
  sentMeasured: 0,
  changesSent: 0,
  changesAcked: 0,
  changesDelivered: 0,
};

/**
 * Watches a run once a second: merges the generators' interval histograms and counters into
 * a timeline point, samples the server and generator processes, and renders the live
 * progress line.
 */
export class RunMonitor {
  readonly timeline: TimelinePoint[] = [];
  private readonly counters = new Map<number, GeneratorCounters>();
  private readonly interval = new LatencyHistogram();
  private readonly perProcess = new Map<
    string,
    { role: string; cpuSum: number; n: number; peakRss: number }
  >();
  private readonly samples: { atMs: number; server: number; generator: number; rss: number }[] = [];
  private phase: PhaseSpec | undefined;
  private step = 0;
  private stage = 'connect';
  private connectProgress = new Map<number, { done: number; failed: number }>();
  private lastAt = nowMs();
  private lastDelivered = 0;
  private lastSent = 0;
  private readonly startMs = nowMs();
  private readonly timer: NodeJS.Timeout;
  private readonly off: () => void;

  constructor(
    generators: GeneratorSet,
    private readonly sampler: ProcessSampler,
    private readonly label: string,
    private readonly progress: (line: string) => void,
  ) {
    this.off = generators.on((from, message) => this.onMessage(from, message));
    this.timer = setInterval(() => this.point(), 1000);
  }

  /** Starts counting a new phase (counters restart at zero). */
  beginPhase(phase: PhaseSpec, step: number): void {
    this.phase = phase;
    this.step = step;
    this.counters.clear();
    this.lastDelivered = 0;
    this.lastSent = 0;
  }

  setStage(stage: string): void {
    this.stage = stage;
    if (stage === 'connect' || stage === 'reconnect') this.connectProgress.clear();
  }

  /** Counters of the current phase summed over generators (as of their last tick). */
  totals(): GeneratorCounters {
    const sum = { ...EMPTY };
    for (const c of this.counters.values()) {
      sum.sent += c.sent;
      sum.acked += c.acked;
      sum.delivered += c.delivered;
      sum.deliveredMeasured += c.deliveredMeasured;
      sum.open += c.open;
      sum.sentMeasured += c.sentMeasured;
      sum.changesSent += c.changesSent;
      sum.changesAcked += c.changesAcked;
      sum.changesDelivered += c.changesDelivered;
    }
    return sum;
  }

  /** Mean server and generator CPU (percent of one core) and peak server RSS within a window. */
  usageBetween(fromMs: number, toMs: number): { server: number; generator: number; rss: number } {
    const within = this.samples.filter((s) => s.atMs >= fromMs && s.atMs <= toMs + 1000);
    if (within.length === 0) return { server: 0, generator: 0, rss: 0 };
    const mean = (f: (s: (typeof within)[number]) => number) =>
      within.reduce((a, s) => a + f(s), 0) / within.length;
    return {
      server: mean((s) => s.server),
      generator: mean((s) => s.generator),
      rss: Math.max(...within.map((s) => s.rss)),
    };
  }

  /** Current server RSS, bytes (sum over the server processes). */
  serverRss(): number {
    return totalOf(this.sampler.sample(), 'server').rssBytes;
  }

  processSummary(): { name: string; role: string; meanCpuPercent: number; peakRssBytes: number }[] {
    return [...this.perProcess].map(([name, p]) => ({
      name,
      role: p.role,
      meanCpuPercent: Math.round((p.cpuSum / Math.max(1, p.n)) * 10) / 10,
      peakRssBytes: p.peakRss,
    }));
  }

  stop(): void {
    clearInterval(this.timer);
    this.off();
  }

  private onMessage(from: number, message: GeneratorMessage): void {
    if (message.type === 'tick' && message.phaseId === this.phase?.id) {
      this.counters.set(from, message.counters);
      if (message.interval) this.interval.add(LatencyHistogram.decode(message.interval));
    } else if (message.type === 'progress') {
      this.connectProgress.set(from, { done: message.done, failed: message.failed });
    }
  }

  private point(): void {
    const at = nowMs();
    const dt = Math.max(0.001, (at - this.lastAt) / 1000);
    this.lastAt = at;
    const samples = this.sampler.sample();
    this.record(samples, at);
    const server = totalOf(samples, 'server');
    const generator = totalOf(samples, 'generator');
    const totals = this.totals();
    const stage = this.stageAt(at);
    const latency = this.interval.summary();
    this.interval.reset();
    const point: TimelinePoint = {
      t: Math.round((at - this.startMs) / 100) / 10,
      stage,
      step: this.step,
      sentPerSec: Math.max(0, (totals.sent - this.lastSent) / dt),
      deliveriesPerSec: Math.max(0, (totals.delivered - this.lastDelivered) / dt),
      p50Ms: latency.p50 / 1000,
      p99Ms: latency.p99 / 1000,
      maxMs: latency.max / 1000,
      open: totals.open,
      serverCpuPercent: server.cpuPercent,
      serverRssBytes: server.rssBytes,
      generatorCpuPercent: generator.cpuPercent,
    };
    this.lastSent = totals.sent;
    this.lastDelivered = totals.delivered;
    this.timeline.push(point);
    this.progress(this.render(point));
  }

  private stageAt(at: number): string {
    const phase = this.phase;
    if (this.stage !== 'phase' || !phase) return this.stage;
    if (at < phase.measureFromMs) return 'warmup';
    if (at < phase.measureToMs) return 'measure';
    return 'drain';
  }

  private record(samples: ProcessSample[], atMs: number): void {
    for (const s of samples) {
      const p = this.perProcess.get(s.name) ?? { role: s.role, cpuSum: 0, n: 0, peakRss: 0 };
      p.cpuSum += s.cpuPercent;
      p.n++;
      p.peakRss = Math.max(p.peakRss, s.rssBytes);
      this.perProcess.set(s.name, p);
    }
    this.samples.push({
      atMs,
      server: totalOf(samples, 'server').cpuPercent,
      generator: totalOf(samples, 'generator').cpuPercent,
      rss: totalOf(samples, 'server').rssBytes,
    });
  }

  private render(p: TimelinePoint): string {
    const parts = [
      `[${this.label}] ${p.t.toFixed(0).padStart(4)}s ${p.stage}${this.step > 0 ? ` #${this.step}` : ''}`,
    ];
    if (p.stage === 'connect' || p.stage === 'reconnect') {
      let done = 0;
      let failed = 0;
      for (const c of this.connectProgress.values()) {
        done += c.done;
        failed += c.failed;
      }
      parts.push(`connected ${done}${failed ? ` failed ${failed}` : ''}`);
    } else {
      parts.push(
        `sent ${fmt(p.sentPerSec)}/s`,
        `deliv ${fmt(p.deliveriesPerSec)}/s`,
        `p50 ${p.p50Ms.toFixed(1)} p99 ${p.p99Ms.toFixed(1)} max ${p.maxMs.toFixed(0)} ms`,
        `open ${p.open}`,
      );
    }
    if (p.serverRssBytes > 0) {
      parts.push(`server ${p.serverCpuPercent.toFixed(0)}% ${(p.serverRssBytes / 2 ** 20).toFixed(0)} MiB`);
    }
    parts.push(`gen ${p.generatorCpuPercent.toFixed(0)}%`);
    return parts.join(' | ');
  }
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(0)}k`;
  return n.toFixed(0);
}
