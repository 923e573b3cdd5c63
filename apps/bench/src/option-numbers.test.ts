import { describe, expect, it } from 'vitest';
import { intOption, numberOption } from './option-numbers.js';

describe('numeric options', () => {
  it('leaves an absent option to its default and reads a present one', () => {
    expect(intOption('users', undefined)).toBeUndefined();
    expect(numberOption('rate', undefined)).toBeUndefined();
    expect(intOption('users', '2000')).toBe(2000);
    expect(numberOption('dm-share', '0.25', 0, 1)).toBe(0.25);
    expect(intOption('channels', '0', 0)).toBe(0);
  });

  it('names the option and its range when a value is out of it or not a number', () => {
    expect(() => intOption('users', '0')).toThrow('--users must be an integer ≥ 1, got "0"');
    expect(() => intOption('users', '2.5')).toThrow(/--users must be an integer/);
    expect(() => numberOption('dm-share', '2', 0, 1)).toThrow(
      '--dm-share must be a number in [0, 1], got "2"',
    );
    expect(() => numberOption('rate', 'fast')).toThrow(/--rate/);
    expect(() => numberOption('rate', 'Infinity')).toThrow(/--rate/);
  });

  it('does not read an empty value as zero', () => {
    expect(() => intOption('channels', '', 0)).toThrow(/--channels/);
    expect(() => numberOption('churn', ' ', 0)).toThrow(/--churn/);
  });
});
