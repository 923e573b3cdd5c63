import { readFileSync } from 'node:fs';

/** A process whose CPU and memory are sampled. */
export interface WatchedProcess {
  /** e.g. `chat-1`, `relay-chat`, `generator-0`. */
  name: string;
  /** `server` (the system under test) or `generator` (the load tester itself). */
  role: 'server' | 'generator';
  pid: number;
}

/** One sample of one process. */
export interface ProcessSample {
  name: string;
  role: 'server' | 'generator';
  /** CPU since the previous sample, percent of one core (200 = two cores busy). */
  cpuPercent: number;
  /** Resident set size, bytes. */
  rssBytes: number;
}

/** CPU time and RSS of a process, read from /proc (Linux); undefined when it is gone. */
export function readProcStat(pid: number): { cpuTicks: number; rssBytes: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15)
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuTicks, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux). */
const TICKS_PER_SEC = 100;

/** Samples a set of processes: each `sample()` reports CPU used since the previous one. */
export class ProcessSampler {
  private readonly last = new Map<number, { cpuTicks: number; atMs: number }>();
  private readonly processes: WatchedProcess[] = [];

  watch(process: WatchedProcess): void {
    if (this.processes.some((p) => p.pid === process.pid)) return;
    this.processes.push(process);
    const now = readProcStat(process.pid);
    if (now) this.last.set(process.pid, { cpuTicks: now.cpuTicks, atMs: Date.now() });
  }

  get watched(): readonly WatchedProcess[] {
    return this.processes;
  }

  sample(): ProcessSample[] {
    const samples: ProcessSample[] = [];
    const atMs = Date.now();
    for (const p of this.processes) {
      const now = readProcStat(p.pid);
      if (!now) continue;
      const before = this.last.get(p.pid);
      this.last.set(p.pid, { cpuTicks: now.cpuTicks, atMs });
      const elapsedSec = before ? (atMs - before.atMs) / 1000 : 0;
      const cpuPercent =
        before && elapsedSec > 0 ? ((now.cpuTicks - before.cpuTicks) / TICKS_PER_SEC / elapsedSec) * 100 : 0;
      samples.push({ name: p.name, role: p.role, cpuPercent, rssBytes: now.rssBytes });
    }
    return samples;
  }
}

/** Sum of CPU percent and RSS over the samples of one role. */
export function totalOf(
  samples: readonly ProcessSample[],
  role: 'server' | 'generator',
): { cpuPercent: number; rssBytes: number } {
  let cpuPercent = 0;
  let rssBytes = 0;
  for (const s of samples) {
    if (s.role !== role) continue;
    cpuPercent += s.cpuPercent;
    rssBytes += s.rssBytes;
  }
  return { cpuPercent, rssBytes };
}
