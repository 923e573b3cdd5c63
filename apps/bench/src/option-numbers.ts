/**
 * Numeric command-line options, shared by every bench command: undefined when the option is
 * absent (the caller supplies its default), else the number, checked; a bad value throws an
 * Error naming the option.
 */

/** A finite number in [min, max]. */
export function numberOption(name: string, value: string | undefined, min = 0, max = Infinity) {
  return checked(name, value, min, max, Number.isFinite, 'a number');
}

/** An integer in [min, max]. */
export function intOption(name: string, value: string | undefined, min = 1, max = Infinity) {
  return checked(name, value, min, max, Number.isInteger, 'an integer');
}

function checked(
  name: string,
  value: string | undefined,
  min: number,
  max: number,
  isKind: (n: number) => boolean,
  kind: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !isKind(n) || n < min || n > max) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new Error(`--${name} must be ${kind} ${range}, got "${value}"`);
  }
  return n;
}
