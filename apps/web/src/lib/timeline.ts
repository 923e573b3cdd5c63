import type { Message } from '@relay-chat/protocol';

/** One row of the conversation view, in display order. */
export type TimelineItem =
  | { kind: 'day'; key: string; label: string }
  | { kind: 'unread'; key: string }
  /** Messages not loaded between two loaded ones (after a jump): `before` is the seq after the hole. */
  | { kind: 'gap'; key: string; before: number; missing: number }
  | {
      kind: 'message';
      key: string;
      message: Message;
      /** True when it continues the previous row's sender run (no name/avatar repeated). */
      continued: boolean;
    };

/** Messages from one sender closer than this share one header. */
export const GROUP_WINDOW_MS = 5 * 60_000;

export interface TimelineOptions {
  /** The first unread seq when the conversation was opened; a "New messages" divider goes above it. */
  firstUnreadSeq?: number | undefined;
  /** "Now", for Today / Yesterday labels. Default Date.now(). */
  now?: number;
  /** BCP 47 locale for labels; default the runtime's. */
  locale?: string | undefined;
  /** Marks holes in the loaded seqs (left by a jump) with a `gap` row. */
  gaps?: boolean;
}

/**
 * Builds the rows of the view: a day separator whenever the local calendar day changes, a
 * "New messages" divider above the first unread message, and sender runs (consecutive
 * messages from one sender within GROUP_WINDOW_MS, not split by a separator).
 */
export function buildTimeline(messages: readonly Message[], options: TimelineOptions = {}): TimelineItem[] {
  const now = options.now ?? Date.now();
  const items: TimelineItem[] = [];
  let previous: Message | undefined;
  let previousDay: string | undefined;
  let dividerPlaced = false;
  for (const message of messages) {
    let separated = false;
    const day = dayKey(message.ts);
    if (day !== previousDay) {
      items.push({ kind: 'day', key: `day-${day}`, label: dayLabel(message.ts, now, options.locale) });
      previousDay = day;
      separated = true;
    }
    if (options.gaps === true && previous !== undefined && message.seq > previous.seq + 1) {
      items.push({
        kind: 'gap',
        key: `gap-${message.seq}`,
        before: message.seq,
        missing: message.seq - previous.seq - 1,
      });
      separated = true;
    }
    const first = options.firstUnreadSeq;
    // Placed only where the boundary is loaded: at the first unread itself, or right after a
    // read message. Above a page that starts mid-unread it would claim a boundary not shown.
    if (
      !dividerPlaced &&
      first !== undefined &&
      (message.seq === first || (message.seq > first && previous !== undefined && previous.seq < first))
    ) {
      items.push({ kind: 'unread', key: 'unread-divider' });
      dividerPlaced = true;
      separated = true;
    }
    const continued =
      !separated &&
      previous !== undefined &&
      previous.from === message.from &&
      message.ts - previous.ts < GROUP_WINDOW_MS;
    items.push({ kind: 'message', key: `m-${message.seq}`, message, continued });
    previous = message;
  }
  return items;
}

/** The local calendar day of a timestamp, as YYYY-MM-DD. */
export function dayKey(ts: number): string {
  const d = new Date(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** "Today", "Yesterday", a weekday within the last week, else a date (with the year when not this year). */
export function dayLabel(ts: number, now: number, locale?: string): string {
  const days = calendarDaysBetween(ts, now);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  const date = new Date(ts);
  if (days > 1 && days < 7) return date.toLocaleDateString(locale, { weekday: 'long' });
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(locale, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}

/** Clock time of a message, e.g. "14:05" or "2:05 PM" depending on the locale. */
export function timeLabel(ts: number, locale?: string): string {
  return new Date(ts).toLocaleTimeString(locale, { hour: 'numeric', minute: '2-digit' });
}

/** Full date and time, for the title tooltip of a timestamp. */
export function fullTimeLabel(ts: number, locale?: string): string {
  return new Date(ts).toLocaleString(locale, { dateStyle: 'full', timeStyle: 'short' });
}

/** Short relative label for the sidebar: time today, weekday this week, else a date. */
export function activityLabel(ts: number, now: number, locale?: string): string {
  const days = calendarDaysBetween(ts, now);
  if (days <= 0) return timeLabel(ts, locale);
  if (days === 1) return 'Yesterday';
  const date = new Date(ts);
  if (days < 7) return date.toLocaleDateString(locale, { weekday: 'short' });
  return date.toLocaleDateString(locale, { day: 'numeric', month: 'short' });
}

function calendarDaysBetween(ts: number, now: number): number {
  const a = new Date(ts);
  const b = new Date(now);
  const startA = Date.UTC(a.getFullYear(), a.getMonth(), a.getDate());
  const startB = Date.UTC(b.getFullYear(), b.getMonth(), b.getDate());
  return Math.round((startB - startA) / 86_400_000);
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
