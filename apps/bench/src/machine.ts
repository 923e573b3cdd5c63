import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Where the bench keeps provisioned users and results (git-ignored). */
export const BENCH_DIR = join(REPO_ROOT, '.bench');

/** The machine a run was measured on. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  node: string;
  platform: string;
  kernel: string;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    kernel = 'unknown';
  }
  return {
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel,
  };
}

/** 1, 5 and 15 minute load averages. */
export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = loadavg();
  return [round2(a), round2(b), round2(c)];
}

/** Installed versions of the packages the figures depend on. */
export function packageVersions(): Record<string, string> {
  const names = [
    'ws',
    'socket.io',
    'socket.io-client',
    '@socket.io/redis-adapter',
    'ioredis',
    'hdr-histogram-js',
  ];
  const versions: Record<string, string> = {};
  for (const name of names) {
    try {
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version?: string;
      };
      versions[name] = pkg.version ?? 'unknown';
    } catch {
      versions[name] = 'not installed';
    }
  }
  try {
    const root = JSON.parse(readFileSync(join(REPO_ROOT, 'apps/bench/package.json'), 'utf8')) as {
      version?: string;
    };
    versions['@relay-chat/bench'] = root.version ?? 'unknown';
  } catch {
    // not fatal: versions are informative
  }
  return versions;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
