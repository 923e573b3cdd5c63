import { memo } from 'react';
import { linkify } from '../lib/safe-text.js';

/**
 * A message body as text. React escapes every string; links are real anchors only for
 * http(s) URLs, opened in a new tab without access to this window. The body sits in a
 * `<bdi>` (its own direction, isolated), after its bidi control characters were removed, so
 * it can neither flip its own layout nor the names and times around it.
 */
export const MessageText = memo(function MessageText({ body }: { body: string }) {
  const segments = linkify(body);
  return (
    <bdi className="message-text" dir="auto">
      {segments.map((segment, i) =>
        segment.kind === 'link' ? (
          // biome-ignore lint/suspicious/noArrayIndexKey: segments are positional and never reorder
          <a key={i} href={segment.href} target="_blank" rel="noopener noreferrer">
            {segment.text}
          </a>
        ) : (
          segment.text
        ),
      )}
    </bdi>
  );
});
