import { describe, expect, it } from 'vitest';
import { intendedUsOf, makeBody, readMessageBytes } from './bench-message.js';
import { SendCursor } from './send-schedule.js';

describe('SendCursor', () => {
  const spec = { ratePerSec: 100, senders: 4, startMs: 1000, endMs: 2000 };

  it('spaces the combined stream of all senders evenly at the total rate', () => {
    const cursor = new SendCursor(spec, [0, 1, 2, 3]);
    const due = cursor.takeDue(1_000_000);
    expect(due).toHaveLength(100);
    due.forEach((d, i) => {
      expect(d.intendedMs).toBeCloseTo(1000 + i * 10, 6);
    });
    expect(due.slice(0, 5).map((d) => d.local)).toEqual([0, 1, 2, 3, 0]);
  });

  it('gives each process only its own senders, with their global offsets', () => {
    const a = new SendCursor(spec, [0, 2]).takeDue(1_000_000);
    const b = new SendCursor(spec, [1, 3]).takeDue(1_000_000);
    expect(a.length + b.length).toBe(100);
    expect(b[0]!.intendedMs).toBeCloseTo(1010, 6);
  });

  it('keeps intended times when the caller is late (no coordinated omission)', () => {
    const cursor = new SendCursor(spec, [0, 1, 2, 3]);
    expect(cursor.takeDue(999)).toEqual([]);
    const late = cursor.takeDue(1500);
    expect(late).toHaveLength(51);
    expect(late[0]!.intendedMs).toBe(1000);
    expect(cursor.nextDueMs()).toBeCloseTo(1510, 6);
  });

  it('hands out at most the limit per call and resumes where it stopped', () => {
    const cursor = new SendCursor(spec, [0, 1, 2, 3]);
    expect(cursor.takeDue(2000, 30)).toHaveLength(30);
    expect(cursor.takeDue(2000)).toHaveLength(70);
    expect(cursor.nextDueMs()).toBeUndefined();
  });

  it('counts what the whole run schedules in a window', () => {
    expect(SendCursor.scheduledBetween(spec, 1000, 2000)).toBe(100);
    expect(SendCursor.scheduledBetween(spec, 1500, 2000)).toBe(50);
    expect(SendCursor.scheduledBetween(spec, 0, 500)).toBe(0);
  });
});

describe('bench message bodies', () => {
  it('carry the intended send time in µs and pad to the size', () => {
    const body = makeBody(1_700_000_000_123.456, 7, 42, 100);
    expect(body).toHaveLength(100);
    expect(intendedUsOf(body)).toBe(1_700_000_000_123_456);
    expect(intendedUsOf('hello')).toBeUndefined();
  });

  it('are read from relay-chat message frames without a full parse', () => {
    const body = makeBody(1_700_000_000_000, 1, 2, 40);
    const frame = JSON.stringify({ type: 'message', conv: 'c-1', seq: 17, id: 'm', from: 'u', body, ts: 1 });
    const buf = Buffer.from(`xx${frame}{"type":"message","conv":"other"}`);
    expect(readMessageBytes(buf, 2, 2 + frame.length)).toEqual({
      conv: 'c-1',
      seq: 17,
      intendedUs: 1_700_000_000_000_000,
    });
  });

  it('fall back to JSON for unusual shapes and tell other frames and foreign bodies apart', () => {
    const body = makeBody(1_700_000_000_000, 1, 2, 40);
    const read = (text: string) => readMessageBytes(Buffer.from(text), 0, Buffer.byteLength(text));
    const reordered = `{"type":"message","body":${JSON.stringify(body)},"seq":3,"conv":"x","id":"m","from":"u","ts":1}`;
    expect(read(reordered)).toEqual({ conv: 'x', seq: 3, intendedUs: 1_700_000_000_000_000 });
    expect(read('{"type":"ack","seq":1}')).toBeUndefined();
    const foreign = JSON.stringify({
      type: 'message',
      conv: 'c',
      seq: 1,
      id: 'm',
      from: 'u',
      body: 'hi there',
      ts: 1,
    });
    expect(read(foreign)).toBeNull();
  });
});
