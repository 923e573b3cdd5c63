import { asConversationId, asMessageId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { activityLabel, buildTimeline, dayKey, dayLabel } from './timeline.js';

const at = (y: number, mo: number, d: number, h = 12, mi = 0) => new Date(y, mo - 1, d, h, mi).getTime();
const msg = (seq: number, ts: number, from = 'u1'): Message => ({
  conv: asConversationId('c'),
  seq,
  id: asMessageId(`i${seq}`),
  from: asUserId(from),
  body: 'x',
  ts,
});
const kinds = (items: ReturnType<typeof buildTimeline>) =>
  items.map((i) => (i.kind === 'message' ? `${i.message.seq}${i.continued ? '+' : ''}` : i.kind));

describe('buildTimeline', () => {
  const now = at(2025, 3, 10, 18);

  it('puts a day separator before the first message of each local day', () => {
    const items = buildTimeline([msg(1, at(2025, 3, 9, 23, 50)), msg(2, at(2025, 3, 10, 0, 5))], { now });
    expect(kinds(items)).toEqual(['day', '1', 'day', '2']);
    expect(items[0]).toMatchObject({ label: 'Yesterday' });
    expect(items[2]).toMatchObject({ label: 'Today' });
  });

  it('groups consecutive messages of one sender within five minutes', () => {
    const items = buildTimeline(
      [
        msg(1, at(2025, 3, 10, 9, 0)),
        msg(2, at(2025, 3, 10, 9, 2)),
        msg(3, at(2025, 3, 10, 9, 3), 'u2'),
        msg(4, at(2025, 3, 10, 9, 30), 'u2'),
      ],
      { now },
    );
    expect(kinds(items)).toEqual(['day', '1', '2+', '3', '4']);
  });

  it('places the new-messages divider above the first unread and breaks the sender run', () => {
    const t = at(2025, 3, 10, 9);
    const items = buildTimeline([msg(4, t), msg(5, t + 1000), msg(6, t + 2000)], { now, firstUnreadSeq: 5 });
    expect(kinds(items)).toEqual(['day', '4', 'unread', '5', '6+']);
  });

  it('places the divider after the last read message when the first unread is missing', () => {
    const t = at(2025, 3, 10, 9);
    const items = buildTimeline([msg(4, t), msg(7, t + 1000)], { now, firstUnreadSeq: 5 });
    expect(kinds(items)).toEqual(['day', '4', 'unread', '7']);
  });

  it('shows no divider when the loaded page starts after the first unread', () => {
    const t = at(2025, 3, 10, 9);
    expect(kinds(buildTimeline([msg(8, t), msg(9, t)], { now, firstUnreadSeq: 5 }))).toEqual([
      'day',
      '8',
      '9+',
    ]);
  });

  it('shows no divider when nothing is unread', () => {
    const t = at(2025, 3, 10, 9);
    expect(kinds(buildTimeline([msg(1, t)], { now }))).toEqual(['day', '1']);
  });

  it('gives every row a unique key', () => {
    const t = at(2025, 3, 10, 9);
    const items = buildTimeline([msg(1, t), msg(2, t), msg(3, t + 86_400_000)], { now, firstUnreadSeq: 2 });
    expect(new Set(items.map((i) => i.key)).size).toBe(items.length);
  });
});

describe('day labels', () => {
  const now = at(2025, 3, 10, 18);

  it('names today, yesterday and the weekdays of the last week', () => {
    expect(dayLabel(at(2025, 3, 10, 1), now, 'en-GB')).toBe('Today');
    expect(dayLabel(at(2025, 3, 9, 1), now, 'en-GB')).toBe('Yesterday');
    expect(dayLabel(at(2025, 3, 7), now, 'en-GB')).toBe('Friday');
  });

  it('gives older days a date, with the year only when it differs', () => {
    expect(dayLabel(at(2025, 1, 2), now, 'en-GB')).toBe('Thu 2 Jan');
    expect(dayLabel(at(2024, 12, 31), now, 'en-GB')).toBe('Tue, 31 Dec 2024');
  });

  it('keys days by local date', () => {
    expect(dayKey(at(2025, 3, 9, 23, 59))).toBe('2025-03-09');
  });

  it('labels sidebar activity compactly', () => {
    expect(activityLabel(at(2025, 3, 10, 9, 5), now, 'en-GB')).toBe('9:05');
    expect(activityLabel(at(2025, 3, 9), now, 'en-GB')).toBe('Yesterday');
    expect(activityLabel(at(2025, 2, 1), now, 'en-GB')).toBe('1 Feb');
  });
});
