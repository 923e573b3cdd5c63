import type { Conversation, Message } from '@relay-chat/protocol';
import { toChatError } from '@relay-chat/protocol';
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { EMPTY_HISTORY } from '../lib/history.js';
import { buildTimeline, GROUP_WINDOW_MS } from '../lib/timeline.js';
import { useOptionalConversationUi } from './conversation-ui.js';
import { ArrowDownIcon } from './icons.js';
import { MessageRow, PendingRow } from './message-row.js';

/** Start loading older history when the top is closer than this, in px. */
const LOAD_OLDER_MARGIN_PX = 400;
/** "At the bottom" tolerance, in px. */
const BOTTOM_SLACK_PX = 48;
/** Fill a hole in the loaded history (left by a jump) when it comes this close to the viewport, in px. */
const FILL_GAP_MARGIN_PX = 400;

interface ScrollSnapshot {
  firstSeq: number | undefined;
  lastKey: string | undefined;
  /** How many messages were loaded. */
  count: number;
  /** A visible message that prepending cannot change, and its distance from the viewport top (px). */
  anchor: { seq: string; offset: number } | undefined;
}

/**
 * The first visible message row other than the first loaded one (prepending history can
 * change the first row itself: it may lose its day separator or join the sender run above).
 */
function findAnchor(el: HTMLElement): ScrollSnapshot['anchor'] {
  const top = el.getBoundingClientRect().top;
  const rows = el.querySelectorAll<HTMLElement>('li[data-seq]');
  for (let i = 1; i < rows.length; i += 1) {
    const rect = rows[i]!.getBoundingClientRect();
    if (rect.bottom > top) return { seq: rows[i]!.dataset.seq!, offset: rect.top - top };
  }
  return undefined;
}

/** Scrolls so that the anchor row is back at its recorded distance from the viewport top. */
function restoreAnchor(el: HTMLElement, anchor: NonNullable<ScrollSnapshot['anchor']>): void {
  const row = el.querySelector<HTMLElement>(`li[data-seq="${anchor.seq}"]`);
  if (!row) return;
  el.scrollTop += row.getBoundingClientRect().top - el.getBoundingClientRect().top - anchor.offset;
}

/**
 * The newest message the reader has seen: the last row whose bottom edge is inside the
 * viewport (a row taller than the viewport counts once its end was shown). Undefined when no
 * row has been shown whole yet.
 */
export function lastSeqSeen(el: HTMLElement): number | undefined {
  const box = el.getBoundingClientRect();
  const rows = el.querySelectorAll<HTMLElement>('li[data-seq]');
  for (let i = rows.length - 1; i >= 0; i -= 1) {
    const rect = rows[i]!.getBoundingClientRect();
    if (rect.bottom <= box.bottom + 1)
      return rect.bottom > box.top ? Number(rows[i]!.dataset.seq) : undefined;
  }
  return undefined;
}

export interface MessageListProps {
  conversation: Conversation;
  title: string;
}

/**
 * The history of one conversation, newest at the bottom. Older pages load as the top comes
 * near and are prepended without moving what the reader sees (the scroll offset is moved by
 * exactly the height added above). Opening with unread messages lands on the "New messages"
 * divider. What is visible is marked read while the page is visible.
 */
export function MessageList({ conversation, title }: MessageListProps) {
  const actions = useChatActions();
  const convId = conversation.id;
  const history = useChatState((s) => s.histories.get(convId)) ?? EMPTY_HISTORY;
  const pending = useChatState((s) => s.pending.get(convId));
  const users = useChatState((s) => s.users);
  const me = useChatState((s) => s.me);

  const [opened, setOpened] = useState(false);
  const [openError, setOpenError] = useState<string | undefined>();
  const [firstUnreadSeq, setFirstUnreadSeq] = useState<number | undefined>();
  const [loadingOlder, setLoadingOlder] = useState(false);
  // A failed page is not retried by itself (that would loop on every render): the reader retries.
  const [olderError, setOlderError] = useState<string | undefined>();
  const [openAttempt, setOpenAttempt] = useState(0);
  // Scrolled away from the newest messages: unread ones below are offered with a jump button.
  const [awayFromBottom, setAwayFromBottom] = useState(false);
  const ui = useOptionalConversationUi();
  const jump = ui?.jump;
  // The message jumped to: scrolled to once it is rendered, flashed for a moment.
  const [jumpTarget, setJumpTarget] = useState<{ seq: number; n: number } | undefined>();
  const [highlightSeq, setHighlightSeq] = useState<number | undefined>();
  const [gapLoading, setGapLoading] = useState<number | undefined>();

  const scrollerRef = useRef<HTMLDivElement>(null);
  const snapshotRef = useRef<ScrollSnapshot | undefined>(undefined);
  const atBottomRef = useRef(true);
  const landedRef = useRef(false);
  // A jump is loading or waiting for its row: the list lands on it, not at the bottom.
  const jumpPendingRef = useRef(false);
  // Jumped into the middle this time: the loaded window may end before the newest message.
  const jumpedRef = useRef(false);
  const fillingGapRef = useRef(false);
  const loadingOlderRef = useRef(false);
  const lastReadRef = useRef(conversation.lastReadSeq);
  lastReadRef.current = Math.max(lastReadRef.current, conversation.lastReadSeq);

  // Open: load the newest page (back to the first unread), then land.
  // biome-ignore lint/correctness/useExhaustiveDependencies: openAttempt re-runs it on "Try again"
  useEffect(() => {
    let cancelled = false;
    setOpenError(undefined);
    actions
      .open(convId)
      .then((result) => {
        if (cancelled) return;
        setFirstUnreadSeq(result.firstUnreadSeq);
        setOpened(true);
      })
      .catch((err: unknown) => {
        if (!cancelled) setOpenError(toChatError(err).message);
      });
    return () => {
      cancelled = true;
    };
  }, [actions, convId, openAttempt]);

  const messages = history.messages;
  const bySeq = useMemo(() => new Map(messages.map((m) => [m.seq, m])), [messages]);
  // After a jump the loaded window may end before the newest message: its last row is then
  // not "the bottom", and rows loaded below it must not drag the view down with them.
  const tailMissing = jumpedRef.current && (messages.at(-1)?.seq ?? 0) < conversation.lastSeq;
  const tailMissingRef = useRef(tailMissing);
  tailMissingRef.current = tailMissing;
  const isAtBottom = useCallback(
    (el: HTMLElement) =>
      !tailMissingRef.current && el.scrollHeight - el.scrollTop - el.clientHeight < BOTTOM_SLACK_PX,
    [],
  );

  // A jump: load the target's context when it is not loaded, then scroll to it (below).
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs once per jump request
  useEffect(() => {
    if (!jump) return;
    let cancelled = false;
    jumpPendingRef.current = true;
    if (bySeq.has(jump.seq)) setJumpTarget(jump);
    else
      actions
        .loadAround(convId, jump.seq)
        .then(() => {
          if (!cancelled) setJumpTarget(jump);
        })
        .catch((err: unknown) => {
          if (cancelled) return;
          jumpPendingRef.current = false;
          setOlderError(toChatError(err).message);
        });
    return () => {
      cancelled = true;
    };
  }, [jump]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: tries again whenever the rows change
  useLayoutEffect(() => {
    if (!jumpTarget) return;
    const el = scrollerRef.current;
    const row = el?.querySelector<HTMLElement>(`li[data-seq="${jumpTarget.seq}"]`);
    if (!el || !row) return;
    setJumpTarget(undefined);
    jumpPendingRef.current = false;
    jumpedRef.current = true;
    // The list has landed: on this message (opening a conversation at it, a search hit).
    landedRef.current = true;
    row.scrollIntoView({ block: 'center' });
    atBottomRef.current = isAtBottom(el);
    if (snapshotRef.current) snapshotRef.current.anchor = findAnchor(el);
    setHighlightSeq(jumpTarget.seq);
    row.querySelector<HTMLElement>('button, [tabindex]')?.focus({ preventScroll: true });
  }, [jumpTarget, messages]);

  useEffect(() => {
    if (highlightSeq === undefined) return;
    const timer = setTimeout(() => setHighlightSeq(undefined), 2000);
    return () => clearTimeout(timer);
  }, [highlightSeq]);

  // A hole is filled from the side the reader comes from: the page just after the messages
  // above it when scrolling down (rows added below what is on screen), the page just before
  // the messages below it when scrolling up (rows added above: the anchor keeps the place).
  const fillGap = useCallback(
    (gap: { before: number; after: number }, from: 'above' | 'below') => {
      if (fillingGapRef.current) return;
      fillingGapRef.current = true;
      setGapLoading(gap.before);
      (from === 'above' ? actions.loadNewer(convId, gap.after) : actions.loadGap(convId, gap.before))
        .catch((err: unknown) => setOlderError(toChatError(err).message))
        .finally(() => {
          fillingGapRef.current = false;
          setGapLoading(undefined);
        });
    },
    [actions, convId],
  );
  const loadGap = (before: number, missing: number) =>
    fillGap({ before, after: before - missing - 1 }, 'below');

  // Fills a hole that comes near the viewport as the reader scrolls either way.
  const fillNearGap = useCallback(() => {
    const el = scrollerRef.current;
    if (!el || !landedRef.current || fillingGapRef.current || olderError) return;
    const box = el.getBoundingClientRect();
    for (const row of el.querySelectorAll<HTMLElement>('li[data-gap-before]')) {
      const rect = row.getBoundingClientRect();
      if (rect.top > box.bottom + FILL_GAP_MARGIN_PX || rect.bottom < box.top - FILL_GAP_MARGIN_PX) continue;
      const gap = { before: Number(row.dataset.gapBefore), after: Number(row.dataset.gapAfter) };
      fillGap(gap, rect.top >= box.top ? 'above' : 'below');
      return;
    }
  }, [fillGap, olderError]);
  const timeline = useMemo(
    () => buildTimeline(messages, { firstUnreadSeq, gaps: true }),
    [messages, firstUnreadSeq],
  );
  const lastMessage = messages.at(-1);
  const pendingList = pending ?? [];
  const lastKey =
    pendingList.length > 0 ? `p-${pendingList.at(-1)!.clientMsgId}` : lastMessage && `m-${lastMessage.seq}`;

  // Only what was on screen is read: nothing before the list has landed where it opens (the
  // history arrives and lays out first, and may be scrolled anywhere meanwhile), and then the
  // last message whose end is inside the viewport.
  const markVisibleRead = useCallback(() => {
    const el = scrollerRef.current;
    if (!el || !landedRef.current || document.visibilityState !== 'visible') return;
    const seq = lastSeqSeen(el);
    if (seq !== undefined && seq > lastReadRef.current) {
      lastReadRef.current = seq;
      actions.markRead(convId, seq);
    }
  }, [actions, convId]);

  const loadOlder = useCallback(() => {
    if (loadingOlderRef.current || !history.hasOlder || !opened || olderError) return;
    loadingOlderRef.current = true;
    setLoadingOlder(true);
    actions
      .loadOlder(convId)
      .catch((err: unknown) => setOlderError(toChatError(err).message))
      .finally(() => {
        loadingOlderRef.current = false;
        setLoadingOlder(false);
      });
  }, [actions, convId, history.hasOlder, opened, olderError]);

  const onScroll = useCallback(() => {
    const el = scrollerRef.current;
    if (!el) return;
    atBottomRef.current = isAtBottom(el);
    setAwayFromBottom(!atBottomRef.current);
    if (snapshotRef.current) snapshotRef.current.anchor = findAnchor(el);
    if (el.scrollTop < LOAD_OLDER_MARGIN_PX) loadOlder();
    fillNearGap();
    markVisibleRead();
  }, [loadOlder, markVisibleRead, fillNearGap, isAtBottom]);

  // After every commit: keep the reader's place when older rows were prepended (the anchor row
  // stays where it was on screen), follow the bottom when new rows were appended, and land once
  // on the first unread after opening.
  useLayoutEffect(() => {
    const el = scrollerRef.current;
    if (!el) return;
    const prev = snapshotRef.current;
    const firstSeq = messages[0]?.seq;
    if (!landedRef.current) {
      // Until it lands, the list follows nothing: the first page lays out first (and a jump
      // being loaded lands it on its message instead).
      if (opened && !jumpPendingRef.current) {
        landedRef.current = true;
        const divider = el.querySelector<HTMLElement>('[data-testid="unread-divider"]');
        if (divider) el.scrollTop = Math.max(0, divider.offsetTop - 12);
        else el.scrollTop = el.scrollHeight;
      }
    } else if (
      prev?.anchor &&
      firstSeq !== undefined &&
      prev.firstSeq !== undefined &&
      firstSeq < prev.firstSeq
    ) {
      restoreAnchor(el, prev.anchor);
    } else if (prev && lastKey !== prev.lastKey) {
      const ownNewest = pendingList.length > 0 && lastKey?.startsWith('p-');
      if (atBottomRef.current || ownNewest) el.scrollTop = el.scrollHeight;
    } else if (prev?.anchor && messages.length !== prev.count) {
      // Rows added in the middle (a hole filled above the viewport) must not move what is seen.
      restoreAnchor(el, prev.anchor);
    }
    atBottomRef.current = isAtBottom(el);
    setAwayFromBottom(!atBottomRef.current);
    snapshotRef.current = { firstSeq, lastKey, count: messages.length, anchor: findAnchor(el) };
    if (opened) {
      markVisibleRead();
      // A short first page (or a tall screen) leaves no scrollbar to pull: keep loading.
      if (el.scrollTop < LOAD_OLDER_MARGIN_PX && el.scrollHeight > 0) loadOlder();
      fillNearGap();
    }
  });

  // Stay pinned to the bottom when the viewport shrinks (composer grows, keyboard opens).
  useEffect(() => {
    const el = scrollerRef.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => {
      if (atBottomRef.current && landedRef.current) el.scrollTop = el.scrollHeight;
      if (snapshotRef.current) snapshotRef.current.anchor = findAnchor(el);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const onVisible = () => markVisibleRead();
    document.addEventListener('visibilitychange', onVisible);
    window.addEventListener('focus', onVisible);
    return () => {
      document.removeEventListener('visibilitychange', onVisible);
      window.removeEventListener('focus', onVisible);
    };
  }, [markVisibleRead]);

  const jumpToBottom = () => {
    const el = scrollerRef.current;
    if (el) el.scrollTo({ top: el.scrollHeight, behavior: 'smooth' });
  };

  const lastStored: Message | undefined = lastMessage;
  const myName = me?.username ?? 'me';

  return (
    <div className="message-list-wrap">
      <div
        ref={scrollerRef}
        className="message-scroller"
        onScroll={onScroll}
        data-testid="message-scroller"
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the history must be scrollable by keyboard
        tabIndex={0}
        role="log"
        aria-label={`Messages in ${title}`}
        aria-busy={!opened || loadingOlder}
      >
        <div className="history-top">
          {!opened && !openError ? null : olderError ? (
            <div className="history-loading" role="alert">
              Could not load older messages.
              <button type="button" className="link-button" onClick={() => setOlderError(undefined)}>
                Try again
              </button>
            </div>
          ) : history.hasOlder ? (
            <div className="history-loading" aria-hidden={!loadingOlder}>
              <span className="spinner" /> Loading older messages…
            </div>
          ) : (
            <div className="history-start">
              <strong>This is the beginning of {title}.</strong>
            </div>
          )}
        </div>
        {openError && (
          <p className="history-error" role="alert">
            Could not load messages: {openError}{' '}
            <button type="button" className="link-button" onClick={() => setOpenAttempt((n) => n + 1)}>
              Try again
            </button>
          </p>
        )}
        {!opened && !openError && messages.length === 0 && <MessageSkeleton />}
        <ol className="messages">
          {timeline.map((item) => {
            if (item.kind === 'day') {
              return (
                <li key={item.key} className="day-separator">
                  <span>{item.label}</span>
                </li>
              );
            }
            if (item.kind === 'unread') {
              return (
                <li key={item.key} className="unread-divider" data-testid="unread-divider">
                  <span>New messages</span>
                </li>
              );
            }
            if (item.kind === 'gap') {
              return (
                <li
                  key={item.key}
                  className="history-gap"
                  data-testid="history-gap"
                  data-gap-before={item.before}
                  data-gap-after={item.before - item.missing - 1}
                >
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => loadGap(item.before, item.missing)}
                    disabled={gapLoading === item.before}
                  >
                    {gapLoading === item.before
                      ? 'Loading…'
                      : `Show ${item.missing} more message${item.missing === 1 ? '' : 's'}`}
                  </button>
                </li>
              );
            }
            const m = item.message;
            return (
              <MessageRow
                key={item.key}
                message={m}
                senderName={users.get(m.from)?.username ?? 'unknown'}
                own={m.from === me?.id}
                continued={item.continued && m.replyTo === undefined}
                parent={m.replyTo !== undefined ? bySeq.get(m.replyTo) : undefined}
                highlighted={highlightSeq === m.seq}
              />
            );
          })}
          {pendingList.map((p, i) => {
            const prevOwn =
              i > 0 ||
              (lastStored !== undefined &&
                lastStored.from === me?.id &&
                p.createdAt - lastStored.ts < GROUP_WINDOW_MS);
            return (
              <PendingRow
                key={`p-${p.clientMsgId}`}
                pending={p}
                parent={p.replyTo !== undefined ? bySeq.get(p.replyTo) : undefined}
                senderName={myName}
                continued={prevOwn}
                onRetry={() => actions.retry(convId, p.clientMsgId)}
                onDiscard={() => actions.discard(convId, p.clientMsgId)}
              />
            );
          })}
        </ol>
        {opened && messages.length === 0 && pendingList.length === 0 && (
          <p className="history-empty">No messages yet. Say hello!</p>
        )}
      </div>
      {awayFromBottom && conversation.unread > 0 && (
        <button
          type="button"
          className="jump-to-bottom"
          onClick={jumpToBottom}
          data-testid="new-messages-pill"
        >
          <ArrowDownIcon />
          {`${conversation.unread} new message${conversation.unread === 1 ? '' : 's'}`}
        </button>
      )}
    </div>
  );
}

function MessageSkeleton() {
  return (
    <div className="message-skeleton" aria-hidden="true">
      {[72, 46, 88, 60, 38].map((width) => (
        <div key={width} className="skeleton-row">
          <span className="skeleton-avatar" />
          <span className="skeleton-lines">
            <span className="skeleton-line short" />
            <span className="skeleton-line" style={{ width: `${width}%` }} />
          </span>
        </div>
      ))}
    </div>
  );
}
