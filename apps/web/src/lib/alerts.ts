import type { Conversation, Message, UserId } from '@relay-chat/protocol';

/** What the reader chose for alerts, per user and browser (localStorage). */
export interface AlertSettings {
  /** Desktop notifications while the tab is hidden (needs the browser's permission too). */
  desktop: boolean;
  /** A short beep for messages that would notify. Off by default. */
  sound: boolean;
}

export const DEFAULT_ALERT_SETTINGS: AlertSettings = { desktop: false, sound: false };

/** Messages older than this when they arrive (a catch-up after a reconnect) alert no one. */
export const ALERT_MAX_AGE_MS = 2 * 60_000;

/** Whether `body` mentions the user: "@name" as a word of its own (case-insensitive). */
export function mentions(body: string, username: string): boolean {
  const escaped = username.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w@])@${escaped}(?![\\w-])`, 'i').test(body);
}

export interface AlertContext {
  me: { id: UserId; username: string } | undefined;
  conversation: Conversation | undefined;
  /** The page is not visible (another tab, minimised). */
  hidden: boolean;
  /** The conversation open on screen, if any. */
  openId: string | undefined;
  now: number;
}

/**
 * Whether a message arriving now deserves an alert: someone else's, unread, fresh (not a
 * catch-up), in a DM or mentioning the reader, and not in the conversation the reader is
 * looking at. A muted conversation alerts only for a mention.
 */
export function shouldAlert(message: Message, ctx: AlertContext): boolean {
  const { me, conversation } = ctx;
  if (!me || !conversation || message.from === me.id) return false;
  if (message.seq <= conversation.lastReadSeq) return false;
  if (ctx.now - message.ts > ALERT_MAX_AGE_MS) return false;
  if (!ctx.hidden && ctx.openId === message.conv) return false;
  // A mention by id (protocol v1.2) or, from older clients, by name in the text.
  const mentioned = (message.mentions?.includes(me.id) ?? false) || mentions(message.body, me.username);
  // A muted conversation alerts only when the reader is mentioned.
  if (conversation.muted === true) return mentioned;
  return conversation.kind === 'dm' || mentioned;
}

/** The notification's text: who wrote where, and the message on one line, cut short. */
export function notificationText(
  message: Message,
  conversation: Conversation,
  senderName: string,
  title: string,
): { title: string; body: string } {
  const text = message.body.replace(/\s+/g, ' ').trim();
  const body = text.length > 140 ? `${text.slice(0, 139)}…` : text;
  if (conversation.kind === 'dm') return { title: senderName, body };
  const where = conversation.kind === 'channel' ? `#${title}` : title;
  return { title: `${senderName} in ${where}`, body };
}

/** The tab title: the open conversation and the unread count. */
export function documentTitle(openTitle: string | undefined, unread: number): string {
  const base = openTitle ? `${openTitle} · relay` : 'relay';
  return unread > 0 ? `(${unread > 999 ? '999+' : unread}) ${base}` : base;
}
