import { readFileSync } from 'node:fs';

/** A V8 CPU profile as `node --cpu-prof` writes it. */
interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples where the process was idle (waiting in epoll). */
  idlePercent: number;
  gcPercent: number;
  topFunctions: ProfileEntry[];
  /** Time in a function and everything it called (each sample counted once per function). */
  topInclusive: ProfileEntry[];
  /** Self time grouped by where the code lives (a package, node internals, relay-chat source). */
  byArea: ProfileEntry[];
}

/** Where a function lives, coarse: `node:net`, `ws`, `@relay-chat/chat gateway` … */
export function areaOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName.startsWith('(')) return functionName;
    return '(native)';
  }
  if (url.startsWith('node:'))
    return url
      .replace(/^node:internal\//, 'node:')
      .split('/')
      .slice(0, 2)
      .join('/');
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 13).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const repo = /\/(services|packages|apps)\/([^/]+)\/src\/(.*)$/.exec(url);
  if (repo) {
    const dir = repo[3]!.includes('/') ? repo[3]!.split('/')[0] : repo[3]!.replace(/\.[jt]s$/, '');
    return `${repo[1]}/${repo[2]} ${dir}`;
  }
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const keyOf = (id: number) => {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url
      .replace(/^.*\/node_modules\//, '')
      .replace(/^file:\/\/.*?\/(services|packages|apps)\//, '$1/');
    return `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
  };
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });
  const fn = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const area = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url } = node.callFrame;
    if (functionName === '(idle)') idle += us;
    if (functionName === '(garbage collector)') gc += us;
    const key = keyOf(id);
    fn.set(key, (fn.get(key) ?? 0) + us);
    // Inclusive: every distinct function on the sample's stack.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(at);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
    const a = areaOf(url, functionName);
    area.set(a, (area.get(a) ?? 0) + us);
  }
  const entries = (map: Map<string, number>, n: number): ProfileEntry[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({
        name,
        selfMs: Math.round(us / 100) / 10,
        percent: Math.round((us / totalUs) * 1000) / 10,
      }));
  return {
    totalMs: Math.round(totalUs / 1000),
    idlePercent: Math.round((idle / totalUs) * 1000) / 10,
    gcPercent: Math.round((gc / totalUs) * 1000) / 10,
    topFunctions: entries(fn, top),
    topInclusive: entries(
      new Map(
        [...inclusive].filter(
          ([k]) => !k.startsWith('(root)') && !k.startsWith('(program)') && !k.startsWith('(idle)'),
        ),
      ),
      top,
    ),
    byArea: entries(area, top),
  };
}

export function summarizeProfileFile(file: string, top = 25): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, top);
}

export function renderProfile(summary: ProfileSummary): string {
  const busy = 100 - summary.idlePercent;
  const lines = [
    `sampled ${summary.totalMs} ms: busy ${busy.toFixed(1)}%, idle ${summary.idlePercent}%, GC ${summary.gcPercent}%`,
    '',
    'self time by area:',
    ...summary.byArea.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
    '',
    'top functions by self time:',
    ...summary.topFunctions.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
    '',
    'top functions by total time (self + callees):',
    ...summary.topInclusive.map((e) => `  ${e.percent.toFixed(1).padStart(5)}%  ${e.name}`),
  ];
  return lines.join('\n');
}
