import { LIMITS } from '@relay-chat/protocol';

export type DraftCheck = { ok: true; body: string } | { ok: false; reason: string; tooLong: boolean };

/**
 * Whether a draft may be sent, and the body to send (surrounding whitespace trimmed).
 * Empty and over-limit drafts come back with the reason shown under the composer.
 */
export function checkDraft(draft: string, maxChars: number = LIMITS.maxBodyChars): DraftCheck {
  const body = draft.trim();
  if (body.length === 0) return { ok: false, reason: 'Type a message first.', tooLong: false };
  if (body.length > maxChars) {
    const over = body.length - maxChars;
    return {
      ok: false,
      reason: `Too long by ${over.toLocaleString('en')} character${over === 1 ? '' : 's'} (limit ${maxChars.toLocaleString('en')}).`,
      tooLong: true,
    };
  }
  return { ok: true, body };
}

/** When to show the character counter: near the limit (last 10 %). */
export function counterVisible(length: number, maxChars: number = LIMITS.maxBodyChars): boolean {
  return length >= maxChars * 0.9;
}
