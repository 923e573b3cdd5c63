/**
 * axe-core in the browser tests: injects the engine into a page and reports the serious and
 * critical violations, and keeps a per-view table for the run's summary.
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

export interface AxeResult {
  view: string;
  /** Violations by impact. */
  counts: Record<'critical' | 'serious' | 'moderate' | 'minor', number>;
  passes: number;
  /** The serious and critical ones, with where they are. */
  blocking: AxeViolation[];
  /** Rule ids of the moderate and minor ones. */
  other: string[];
}

/** Runs axe on the page as it is (the page's context must bypass its CSP to inject the engine). */
export async function runAxe(page: Page, view: string): Promise<AxeResult> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: AXE_PATH });
  const raw = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<unknown> } })
      .axe;
    const result = (await axe.run(document, {
      resultTypes: ['violations', 'passes'],
      // WCAG 2.x A and AA plus axe's best practices (landmarks, one main, headings).
      runOnly: {
        type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'],
      },
    })) as {
      violations: Array<{
        id: string;
        impact: string | null;
        help: string;
        nodes: Array<{ target: string[] }>;
      }>;
      passes: unknown[];
    };
    return {
      passes: result.passes.length,
      violations: result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      })),
    };
  });
  const counts = { critical: 0, serious: 0, moderate: 0, minor: 0 };
  for (const v of raw.violations)
    if (v.impact && v.impact in counts) counts[v.impact as keyof typeof counts] += 1;
  const blocking = raw.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const other = raw.violations.filter((v) => !blocking.includes(v)).map((v) => `${v.id} (${v.impact})`);
  return { view, counts, passes: raw.passes, blocking, other };
}

/** A Markdown table of the results, one row per view. */
export function axeTable(results: readonly AxeResult[]): string {
  const lines = [
    '| view | critical | serious | moderate | minor | rules passed | other findings |',
    '| --- | --: | --: | --: | --: | --: | --- |',
    ...results.map(
      (r) =>
        `| ${r.view} | ${r.counts.critical} | ${r.counts.serious} | ${r.counts.moderate} | ${r.counts.minor} | ${r.passes} | ${r.other.join(', ') || '–'} |`,
    ),
  ];
  return lines.join('\n');
}
