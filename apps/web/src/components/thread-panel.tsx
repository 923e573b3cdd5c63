import { type Conversation, toChatError } from '@relay-chat/protocol';
import { useEffect, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { replyCountLabel } from '../lib/changes.js';
import { threadKey } from '../store/chat-state.js';
import { Composer } from './composer.js';
import { useConversationUi } from './conversation-ui.js';
import { CloseIcon } from './icons.js';
import { MessageRow } from './message-row.js';

/**
 * A thread beside the conversation: its root, its replies in order (paged), and a composer
 * whose messages answer the root. Escape or × closes it.
 */
export function ThreadPanel({ conversation, root }: { conversation: Conversation; root: number }) {
  const actions = useChatActions();
  const ui = useConversationUi();
  const thread = useChatState((s) => s.threads.get(threadKey(conversation.id, root)));
  const users = useChatState((s) => s.users);
  const me = useChatState((s) => s.me?.id);
  const [error, setError] = useState<string | undefined>();
  const [loading, setLoading] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const closeRef = useRef<HTMLButtonElement>(null);

  // biome-ignore lint/correctness/useExhaustiveDependencies: attempt re-runs it on "Try again"
  useEffect(() => {
    let cancelled = false;
    setError(undefined);
    setLoading(true);
    actions
      .openThread(conversation.id, root)
      .catch((err: unknown) => {
        if (!cancelled) setError(toChatError(err).message);
      })
      .finally(() => {
        if (!cancelled) setLoading(false);
      });
    return () => {
      cancelled = true;
    };
  }, [actions, conversation.id, root, attempt]);

  useEffect(() => {
    closeRef.current?.focus({ preventScroll: true });
  }, []);

  const more = () => {
    setLoading(true);
    actions
      .loadMoreReplies(conversation.id, root)
      .catch((err: unknown) => setError(toChatError(err).message))
      .finally(() => setLoading(false));
  };

  const rootMessage = thread?.root;
  const replies = thread?.replies ?? [];
  const count = rootMessage?.replyCount ?? replies.length;
  const bySeq = new Map(replies.map((m) => [m.seq, m]));
  if (rootMessage) bySeq.set(rootMessage.seq, rootMessage);

  return (
    <aside
      className="thread-panel"
      aria-label="Thread"
      data-testid="thread-panel"
      onKeyDown={(e) => {
        if (e.key === 'Escape' && !e.defaultPrevented) {
          e.stopPropagation();
          ui.openThread(undefined);
        }
      }}
    >
      <header className="thread-header">
        <h2>Thread</h2>
        <span className="muted thread-header-count">{count > 0 ? replyCountLabel(count) : ''}</span>
        <button
          ref={closeRef}
          type="button"
          className="icon-button"
          onClick={() => ui.openThread(undefined)}
          aria-label="Close thread"
          data-testid="thread-close"
        >
          <CloseIcon />
        </button>
      </header>
      <div className="thread-scroller" role="log" aria-label="Replies" aria-busy={loading}>
        {error && (
          <p className="history-error" role="alert">
            Could not load the thread: {error}{' '}
            <button type="button" className="link-button" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          </p>
        )}
        <ol className="messages thread-messages">
          {rootMessage && (
            <MessageRow
              message={rootMessage}
              senderName={users.get(rootMessage.from)?.username ?? 'unknown'}
              own={rootMessage.from === me}
              continued={false}
              inThread
            />
          )}
          {rootMessage && (
            <li className="thread-divider" aria-hidden="true">
              <span>{replies.length > 0 ? replyCountLabel(count) : 'No replies yet'}</span>
            </li>
          )}
          {replies.map((m) => (
            <MessageRow
              key={m.seq}
              message={m}
              senderName={users.get(m.from)?.username ?? 'unknown'}
              own={m.from === me}
              continued={false}
              inThread
              parent={m.replyTo !== undefined && m.replyTo !== root ? bySeq.get(m.replyTo) : undefined}
            />
          ))}
        </ol>
        {thread?.hasMore && (
          <button
            type="button"
            className="link-button thread-more"
            onClick={more}
            disabled={loading}
            data-testid="thread-more"
          >
            {loading ? 'Loading…' : 'Show more replies'}
          </button>
        )}
      </div>
      <Composer
        key={`${conversation.id}-${root}`}
        convId={conversation.id}
        placeholderName="thread"
        members={conversation.members}
        threadRoot={root}
      />
    </aside>
  );
}
