/**
 * Numeric command-line options, shared by every bench command: undefined when the option is
 * absent (the caller supplies its default), else the number, checked; a bad value throws an
 * Error naming the option.
 */

/** A finite number in [min, max]. */
export function numberOption(
  name: string,
  value: string | undefined,
  min = 0,
  max = Infinity,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new Error(`--${name} must be a number ${range(min, max)}, got "${value}"`);
  return n;
}

/** An integer in [min, max]. */
export function intOption(
  name: string,
  value: string | undefined,
  min = 1,
  max = Infinity,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new Error(`--${name} must be an integer ${range(min, max)}, got "${value}"`);
  return n;
}

function range(min: number, max: number): string {
  return max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
}
