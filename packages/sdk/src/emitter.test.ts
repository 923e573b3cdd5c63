import { describe, expect, it } from 'vitest';
import { Emitter } from './emitter.js';

interface Events {
  n: number;
  s: string;
}

describe('Emitter', () => {
  it('calls listeners of that event with the payload, and stops after unsubscribe', () => {
    const emitter = new Emitter<Events>();
    const got: number[] = [];
    const off = emitter.on('n', (n) => got.push(n));
    emitter.on('s', () => got.push(-1));
    emitter.emit('n', 1);
    off();
    emitter.emit('n', 2);
    expect(got).toEqual([1]);
    expect(emitter.listenerCount('n')).toBe(0);
  });

  it('lets the same function subscribe twice and unsubscribe each independently', () => {
    const emitter = new Emitter<Events>();
    const got: number[] = [];
    const listener = (n: number) => got.push(n);
    const off1 = emitter.on('n', listener);
    emitter.on('n', listener);
    off1();
    emitter.emit('n', 5);
    expect(got).toEqual([5]);
  });

  it('calls a once-listener a single time', () => {
    const emitter = new Emitter<Events>();
    const got: string[] = [];
    emitter.once('s', (s) => got.push(s));
    emitter.emit('s', 'a');
    emitter.emit('s', 'b');
    expect(got).toEqual(['a']);
  });

  it('keeps calling the other listeners when one throws, and reports the error', () => {
    const errors: unknown[] = [];
    const emitter = new Emitter<Events>({ onListenerError: (e) => errors.push(e) });
    const got: number[] = [];
    emitter.on('n', () => {
      throw new Error('boom');
    });
    emitter.on('n', (n) => got.push(n));
    emitter.emit('n', 3);
    expect(got).toEqual([3]);
    expect(errors).toEqual([new Error('boom')]);
  });

  it('is not confused by listeners that (un)subscribe during an emit', () => {
    const emitter = new Emitter<Events>();
    const got: string[] = [];
    const offB = emitter.on('n', () => {
      got.push('a');
      offB();
      emitter.on('n', () => got.push('late'));
    });
    emitter.on('n', () => got.push('b'));
    emitter.emit('n', 1);
    expect(got).toEqual(['a', 'b']);
  });
});
