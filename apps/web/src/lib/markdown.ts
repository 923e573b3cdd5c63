/**
 * The Markdown subset messages are written in, and the rules that keep it safe. The parser is
 * remark (micromark) through react-markdown, which builds React elements: no HTML string is
 * ever made, and raw HTML in a message is text. What is not in the subset is switched off in
 * the parser itself, so it stays the characters that were typed (`# title` is not a heading,
 * `&lt;` is not `<`, `![x](url)` loads nothing).
 */
import { safeHref } from './safe-text.js';

/** Elements a message may contain; anything else is unwrapped to its text. */
export const ALLOWED_ELEMENTS = [
  'p',
  'br',
  'strong',
  'em',
  'del',
  'code',
  'pre',
  'blockquote',
  'ul',
  'ol',
  'li',
  'a',
] as const;

/** micromark constructs outside the subset (names from micromark and its GFM extensions). */
const DISABLED_CONSTRUCTS = [
  'headingAtx',
  'setextUnderline',
  'thematicBreak',
  'htmlFlow',
  'htmlText',
  'codeIndented',
  'definition',
  'labelStartImage',
  'characterReference',
  'table',
  'tasklistCheck',
  'gfmFootnoteDefinition',
  'gfmFootnoteCall',
  'gfmPotentialFootnoteCall',
];

/** A remark plugin: turns the constructs outside the subset off in the parser. */
export function remarkChatSubset(this: { data(): unknown }): void {
  const data = this.data() as { micromarkExtensions?: unknown[] };
  data.micromarkExtensions ??= [];
  data.micromarkExtensions.push({ disable: { null: DISABLED_CONSTRUCTS } });
}

/** Past these, a message is shown as plain text: parsing it could take long or nest deep. */
export const MARKDOWN_LIMITS = {
  /** `*`, `_` and `~` (emphasis resolution grows with the number of delimiters). */
  delimiters: 256,
  /** `[` (each may open a link label). */
  brackets: 256,
  /** Quote and list levels on any line. */
  depth: 8,
} as const;

const CONTAINER_PREFIX = /^(?:[ \t]*(?:>|[-*+](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$)))+/;

/** Whether a body is worth parsing as Markdown (the bombs are shown as text). */
export function withinMarkdownBudget(body: string): boolean {
  let delimiters = 0;
  let brackets = 0;
  for (let i = 0; i < body.length; i += 1) {
    const c = body.charCodeAt(i);
    if (c === 42 || c === 95 || c === 126) delimiters += 1;
    else if (c === 91) brackets += 1;
  }
  if (delimiters > MARKDOWN_LIMITS.delimiters || brackets > MARKDOWN_LIMITS.brackets) return false;
  for (const line of body.split('\n')) {
    const indent = /^[ \t]*/.exec(line)![0].replace(/\t/g, '    ').length;
    const prefix = CONTAINER_PREFIX.exec(line)?.[0] ?? '';
    const markers = (prefix.match(/>|[-*+](?=[ \t]|$)|\d{1,9}[.)]/g) ?? []).length;
    if (markers + Math.floor(indent / 2) > MARKDOWN_LIMITS.depth) return false;
  }
  return true;
}

/**
 * The URL transform: only absolute http(s) and mailto URLs survive (normalised by the URL
 * parser); `javascript:`, `data:`, `vbscript:`, relative and protocol-relative URLs become
 * '' and the link is shown as its text.
 */
export function safeUrl(value: string): string {
  const href = safeHref(value);
  if (href) return href;
  if (/^mailto:/i.test(value)) {
    try {
      const url = new URL(value);
      if (url.protocol === 'mailto:' && /^[^\s@/]+@[^\s@/]+$/.test(decodeURIComponent(url.pathname)))
        return url.href;
    } catch {
      return '';
    }
  }
  return '';
}

const URL_LIKE =
  /^(?:[a-z][a-z0-9+.-]*:\/\/|www\.)?(?:[\p{L}\p{N}-]+\.)+[\p{L}]{2,}(?::\d+)?(?:[/?#]\S*)?$/iu;

/** The host a link text seems to name, if it looks like a URL or a domain ("example.com/x"). */
function hostNamedBy(text: string): string | undefined {
  const trimmed = text.trim();
  if (!URL_LIKE.test(trimmed)) return undefined;
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Whether a link's text claims another destination than its href: text that looks like a URL
 * or domain whose host is not the href's. Such a link is shown with its real target.
 */
export function isMisleadingLink(text: string, href: string): boolean {
  const claimed = hostNamedBy(text);
  if (claimed === undefined) return false;
  let real: string;
  try {
    real = new URL(href).hostname;
  } catch {
    return true;
  }
  const bare = (host: string) => host.toLowerCase().replace(/^www\./, '');
  return bare(claimed) !== bare(real);
}
