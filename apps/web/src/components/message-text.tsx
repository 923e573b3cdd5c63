import type { UserId } from '@relay-chat/protocol';
import { type ComponentProps, memo, type ReactNode } from 'react';
import Markdown, { type Components } from 'react-markdown';
import remarkGfm from 'remark-gfm';
import {
  ALLOWED_ELEMENTS,
  isMisleadingLink,
  remarkChatSubset,
  safeUrl,
  withinMarkdownBudget,
} from '../lib/markdown.js';
import { splitMentions } from '../lib/mentions.js';
import { linkify, neutraliseBidi } from '../lib/safe-text.js';

/** How every link in a message opens: a new tab, no access to this window, no referrer, no endorsement. */
export const LINK_REL = 'noopener noreferrer nofollow';

const REMARK_PLUGINS = [remarkGfm, remarkChatSubset];

function textOf(node: ReactNode): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (Array.isArray(node)) return node.map(textOf).join('');
  if (node && typeof node === 'object' && 'props' in node)
    return textOf((node.props as { children?: ReactNode }).children);
  return '';
}

/**
 * A link of a message. The href has been through `safeUrl`: empty means it was refused, and
 * the text stays as text. A text that names another site than the real target shows the
 * real target instead; the title always does.
 */
function MessageLink({ href, children }: ComponentProps<'a'>) {
  if (!href) return <span className="refused-link">{children}</span>;
  const misleading = isMisleadingLink(textOf(children), href);
  return (
    <a
      href={href}
      target="_blank"
      rel={LINK_REL}
      title={href}
      {...(misleading ? { 'data-misleading': 'true' } : {})}
    >
      {misleading ? href : children}
    </a>
  );
}

const COMPONENTS: Components = {
  a: ({ node: _node, ...props }) => <MessageLink {...props} />,
};

interface MdNode {
  type: string;
  value?: string;
  children?: MdNode[];
  data?: { hName: string; hProperties: Record<string, unknown> };
}

/**
 * A remark plugin marking the `@username` of each mentioned member (by id, not by text) in
 * text runs (not in code). The mark is an element of our own making, never parsed HTML.
 */
function remarkMentions(mentioned: ReadonlyMap<string, UserId>, me: string | undefined) {
  const walk = (node: MdNode): void => {
    if (!node.children) return;
    const out: MdNode[] = [];
    for (const child of node.children) {
      if (child.type === 'text' && child.value) {
        for (const piece of splitMentions(child.value, mentioned)) {
          if (piece.kind === 'text') out.push({ type: 'text', value: piece.text });
          else
            out.push({
              type: 'mention',
              children: [{ type: 'text', value: piece.text }],
              data: {
                hName: 'span',
                hProperties: {
                  className: piece.id === me ? ['mention', 'mention-me'] : ['mention'],
                  'data-mention': piece.id === me ? 'me' : 'other',
                },
              },
            });
        }
      } else {
        walk(child);
        out.push(child);
      }
    }
    node.children = out;
  };
  return () => (tree: MdNode) => walk(tree);
}

const ELEMENTS_WITH_MENTIONS = [...ALLOWED_ELEMENTS, 'span'];

/**
 * A message body: a safe Markdown subset (bold, italic, strikethrough, code, code blocks,
 * quotes, lists, links) parsed into React elements, never into HTML. Raw HTML is text; links
 * are only absolute http(s) and mailto URLs. A body past the parsing budget (a "bomb") is
 * shown as plain text with its links. Bidi controls are removed and the body sits in its own
 * direction-isolated block, so it cannot reorder the names and times around it.
 */
export const MessageText = memo(function MessageText({
  body,
  mentioned,
  me,
}: {
  body: string;
  /** The members the message mentions: lower-case username → id (highlighted; `me` stronger). */
  mentioned?: ReadonlyMap<string, UserId> | undefined;
  me?: string | undefined;
}) {
  const text = neutraliseBidi(body);
  const withMentions = mentioned !== undefined && mentioned.size > 0;
  if (!withinMarkdownBudget(text)) {
    return (
      <div className="message-text plain" dir="auto">
        {linkify(text).map((segment, i) =>
          segment.kind === 'link' ? (
            // biome-ignore lint/suspicious/noArrayIndexKey: segments are positional and never reorder
            <a key={i} href={segment.href} target="_blank" rel={LINK_REL} title={segment.href}>
              {segment.text}
            </a>
          ) : (
            segment.text
          ),
        )}
      </div>
    );
  }
  return (
    <div className="message-text" dir="auto">
      <Markdown
        remarkPlugins={withMentions ? [...REMARK_PLUGINS, remarkMentions(mentioned, me)] : REMARK_PLUGINS}
        allowedElements={withMentions ? ELEMENTS_WITH_MENTIONS : ALLOWED_ELEMENTS}
        unwrapDisallowed
        urlTransform={safeUrl}
        components={COMPONENTS}
      >
        {text}
      </Markdown>
    </div>
  );
});
