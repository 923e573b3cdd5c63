/** One line of a chart. */
export interface Series {
  name: string;
  color: string;
  points: [x: number, y: number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Logarithmic y axis (values ≤ 0 are clamped to the smallest positive one). */
  logY?: boolean;
  /** Custom x tick labels: [x, label]; default: evenly spaced numbers. */
  xTicks?: [number, string][];
  /** Shaded x ranges, e.g. warm-up: [from, to, label]. */
  bands?: [number, number, string][];
  width?: number;
  height?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A self-contained SVG line chart (no scripts, no fonts to fetch). */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 860;
  const height = options.height ?? 320;
  const m = { left: 70, right: 150, top: 34, bottom: 46 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = options.series.flatMap((s) => s.points);
  if (all.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="60"><text x="10" y="30">${esc(options.title)}: no data</text></svg>`;
  }
  const xs = all.map((p) => p[0]);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs) === xMin ? xMin + 1 : Math.max(...xs);
  const positive = all.map((p) => p[1]).filter((y) => y > 0);
  const logY = options.logY === true && positive.length > 0;
  let yMin: number;
  let yMax: number;
  if (logY) {
    yMin = 10 ** Math.floor(Math.log10(Math.min(...positive)));
    yMax = 10 ** Math.ceil(Math.log10(Math.max(...positive)));
    if (yMax === yMin) yMax = yMin * 10;
  } else {
    yMin = 0;
    yMax = niceCeil(Math.max(...all.map((p) => p[1]), 1e-9));
  }
  const sx = (x: number) => m.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => {
    const v = logY
      ? (Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
      : (y - yMin) / (yMax - yMin);
    return m.top + plotH - v * plotH;
  };
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${m.left}" y="18" font-size="13" font-weight="bold">${esc(options.title)}</text>`,
  );
  for (const [from, to, label] of options.bands ?? []) {
    const x1 = sx(Math.max(from, xMin));
    const x2 = sx(Math.min(to, xMax));
    if (x2 <= x1) continue;
    parts.push(
      `<rect x="${x1}" y="${m.top}" width="${x2 - x1}" height="${plotH}" fill="#f0f0f0"/>`,
      `<text x="${x1 + 3}" y="${m.top + 12}" fill="#888">${esc(label)}</text>`,
    );
  }
  // y grid and labels
  const yTicks: number[] = [];
  if (logY) for (let v = yMin; v <= yMax * 1.0001; v *= 10) yTicks.push(v);
  else for (let i = 0; i <= 5; i++) yTicks.push(yMin + ((yMax - yMin) * i) / 5);
  for (const v of yTicks) {
    const y = sy(v);
    parts.push(
      `<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${m.left - 6}" y="${y + 4}" text-anchor="end">${fmtTick(v)}</text>`,
    );
  }
  const xTicks =
    options.xTicks ??
    Array.from({ length: 6 }, (_, i) => {
      const v = xMin + ((xMax - xMin) * i) / 5;
      return [v, fmtTick(v)] as [number, string];
    });
  for (const [v, label] of xTicks) {
    if (v < xMin || v > xMax) continue;
    const x = sx(v);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${m.top}" y2="${m.top + plotH}" stroke="#eee"/>`,
      `<text x="${x}" y="${m.top + plotH + 16}" text-anchor="middle">${esc(label)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 8}" text-anchor="middle">${esc(options.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(options.yLabel)}</text>`,
  );
  options.series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`)
      .join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
    const ly = m.top + 14 + i * 16;
    parts.push(
      `<line x1="${m.left + plotW + 12}" x2="${m.left + plotW + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${m.left + plotW + 34}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

function niceCeil(v: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * magnitude >= v) return f * magnitude;
  return 10 * magnitude;
}

function fmtTick(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (v >= 1 || v === 0) return `${+v.toFixed(1)}`;
  return `${+v.toPrecision(2)}`;
}

/** x position of a percentile on the "nines" axis: 90 → 1, 99 → 2, 99.9 → 3. */
export function ninesOf(percentile: number): number {
  return percentile >= 100 ? 6 : -Math.log10(1 - percentile / 100);
}

export const NINES_TICKS: [number, string][] = [
  [0, '0%'],
  [ninesOf(50), '50%'],
  [1, '90%'],
  [2, '99%'],
  [3, '99.9%'],
  [4, '99.99%'],
  [5, '99.999%'],
  [6, 'max'],
];
