/**
 * What counts as well-formed text, written once for servers (schemas, the chat core) and
 * clients (the SDK refuses locally whatever the server would refuse). Patterns are
 * Unicode-mode regular expressions (`new RegExp(p, 'u')`, which TypeBox uses too), where
 * `\p{Cs}` matches exactly the lone surrogates.
 */
import { LIMITS } from './constants.js';

/**
 * Message text: no lone surrogates (they cannot be stored, so devices would disagree on
 * what was said) and no control characters but tab and newline.
 */
export const MESSAGE_TEXT_PATTERN = '^[^\\p{Cs}\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$';

/**
 * Names of groups and channels, after NFKC: at least one visible character, no control,
 * private-use or format characters (bidi controls, zero-width spaces …) except the zero
 * width joiner that emoji sequences need, no line separators and no blank look-alikes
 * (Hangul fillers, the braille blank).
 */
export const NAME_PATTERN =
  '^(?!.*(?:[\\p{Cc}\\p{Cs}\\p{Co}\\u2028\\u2029\\u115F\\u1160\\u3164\\uFFA0\\u2800]|(?!\\u200D)\\p{Cf}))(?=.*\\S).+$';

const messageText = new RegExp(MESSAGE_TEXT_PATTERN, 'u');
const name = new RegExp(NAME_PATTERN, 'u');

/** Why `body` is not a valid message body, or undefined when it is. */
export function messageBodyProblem(body: string): string | undefined {
  if (body.length === 0 || body.length > LIMITS.maxBodyChars) {
    return `body must be 1 to ${LIMITS.maxBodyChars} characters`;
  }
  if (!messageText.test(body)) return 'body contains a control character or a lone surrogate';
  return undefined;
}

// One emoji as Unicode's RGI list names it (flags, keycaps, skin tones and ZWJ sequences
// included), and only that: `v` mode is what gives \p{RGI_Emoji}, a property of strings.
// (The flags go through a variable: the compiler's target, ES2023, predates `v`; Node 20
// and every current browser have it.)
const V_FLAG: string = 'v';
const singleEmoji = new RegExp(String.raw`^\p{RGI_Emoji}$`, V_FLAG);

/**
 * Why `emoji` is not a valid reaction, or undefined when it is: exactly one emoji
 * (one RGI emoji sequence, so one grapheme), at most LIMITS.maxEmojiChars code units.
 */
export function reactionProblem(emoji: string): string | undefined {
  if (emoji.length === 0 || emoji.length > LIMITS.maxEmojiChars || !singleEmoji.test(emoji)) {
    return 'a reaction is exactly one emoji';
  }
  return undefined;
}

/** Why `id` is not a valid client message id, or undefined when it is. */
export function clientMsgIdProblem(id: string): string | undefined {
  if (id.length === 0 || id.length > LIMITS.maxClientMsgIdChars) {
    return `clientMsgId must be 1 to ${LIMITS.maxClientMsgIdChars} characters`;
  }
  if (!messageText.test(id)) return 'clientMsgId contains a control character or a lone surrogate';
  return undefined;
}

/**
 * The stored form of a group or channel name: NFKC-normalised (so full-width and other
 * compatibility look-alikes become their plain letters) and trimmed. Returns the problem
 * instead when the result is not a valid name.
 */
export function normalizeName(raw: string): { ok: true; name: string } | { ok: false; problem: string } {
  const normalized = raw.normalize('NFKC').trim();
  if (normalized.length === 0 || normalized.length > LIMITS.maxConversationNameChars) {
    return { ok: false, problem: `name must be 1 to ${LIMITS.maxConversationNameChars} characters` };
  }
  if (!name.test(normalized)) {
    return { ok: false, problem: 'name contains an invisible, control or direction-changing character' };
  }
  return { ok: true, name: normalized };
}

/**
 * The stored form of a conversation topic: like a name (NFKC, trimmed, no invisible,
 * control or direction-changing characters), at most LIMITS.maxTopicChars; an empty or
 * blank topic is no topic (null). Returns the problem instead when it is not valid.
 */
export function normalizeTopic(
  raw: string | null,
): { ok: true; topic: string | null } | { ok: false; problem: string } {
  if (raw === null) return { ok: true, topic: null };
  const normalized = raw.normalize('NFKC').trim();
  if (normalized.length === 0) return { ok: true, topic: null };
  if (normalized.length > LIMITS.maxTopicChars) {
    return { ok: false, problem: `topic must be at most ${LIMITS.maxTopicChars} characters` };
  }
  if (!name.test(normalized)) {
    return { ok: false, problem: 'topic contains an invisible, control or direction-changing character' };
  }
  return { ok: true, topic: normalized };
}

/**
 * `text` cut to at most `maxChars` UTF-16 units without splitting a surrogate pair,
 * with an ellipsis when it was cut.
 */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  let end = maxChars - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
