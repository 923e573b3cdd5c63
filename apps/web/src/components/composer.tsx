import { type ConversationId, LIMITS, type Message, type User } from '@relay-chat/protocol';
import {
  type FormEvent,
  type KeyboardEvent,
  useEffect,
  useId,
  useLayoutEffect,
  useRef,
  useState,
} from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { snippet } from '../lib/changes.js';
import { checkDraft, counterVisible } from '../lib/composer.js';
import { completeMention, mentionCandidates, mentionQueryAt, mentionsIn } from '../lib/mentions.js';
import { draftsOf } from '../store/drafts.js';
import { CloseIcon, ReplyIcon, SendIcon } from './icons.js';

export interface ComposerProps {
  convId: ConversationId;
  /** Placeholder target, e.g. "#general" or "bob". */
  placeholderName: string;
  /** The conversation's members, for `@` autocomplete and mentions. */
  members?: readonly User[];
  /** The message being answered (shown above the box; Escape or × drops it). */
  replyingTo?: Message | undefined;
  onCancelReply?: () => void;
  /** ↑ in an empty box: edit the last own message. */
  onEditLast?: () => void;
  /** A thread's composer: every message answers this root; drafts are kept apart. */
  threadRoot?: number;
  /** Gets the textarea, so the view can put the focus back in it. */
  inputRef?: (el: HTMLTextAreaElement | null) => void;
}

/** Tallest the textarea grows before it scrolls, in px. */
const MAX_HEIGHT_PX = 200;

/**
 * The message box: Enter sends, Shift+Enter breaks the line; an empty or over-limit draft is
 * refused with the reason shown below. Drafts are kept per conversation across reloads.
 */
export function Composer({
  convId,
  placeholderName,
  members = [],
  replyingTo,
  onCancelReply,
  onEditLast,
  threadRoot,
  inputRef,
}: ComposerProps) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me?.id);
  const users = useChatState((s) => s.users);
  const drafts = draftsOf(me ?? 'anonymous');
  const draftKey = threadRoot === undefined ? convId : (`${convId}:thread:${threadRoot}` as ConversationId);
  const [draft, setDraft] = useState(() => drafts.get(draftKey));
  // The `@query` being typed and the highlighted suggestion.
  const [mention, setMention] = useState<{ start: number; query: string } | undefined>();
  const [active, setActive] = useState(0);
  const listId = useId();
  const candidates = mention ? mentionCandidates(members, mention.query, me) : [];
  const suggesting = candidates.length > 0;
  const [refusal, setRefusal] = useState<string | undefined>();
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const hintId = useId();
  const errorId = useId();

  // Ready to type on opening; not on touch screens, where focus pops the keyboard over the history.
  useEffect(() => {
    if (threadRoot !== undefined) return;
    if (window.matchMedia?.('(pointer: coarse)').matches) return;
    textareaRef.current?.focus({ preventScroll: true });
  }, [threadRoot]);

  // Grow with the text up to MAX_HEIGHT_PX.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-measure whenever the draft changes
  useLayoutEffect(() => {
    const el = textareaRef.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT_PX)}px`;
  }, [draft]);

  const findMention = (value: string) => {
    const el = textareaRef.current;
    const caret = el ? el.selectionStart : value.length;
    const found = mentionQueryAt(value, caret);
    setMention(found);
    setActive(0);
  };

  const pick = (user: User) => {
    const el = textareaRef.current;
    if (!mention || !el) return;
    const done = completeMention(draft, mention.start, el.selectionStart, user.username);
    setDraft(done.text);
    drafts.set(draftKey, done.text);
    setMention(undefined);
    requestAnimationFrame(() => {
      el.focus();
      el.setSelectionRange(done.caret, done.caret);
    });
  };

  const update = (value: string) => {
    setDraft(value);
    drafts.set(draftKey, value);
    findMention(value);
    if (refusal) {
      const check = checkDraft(value);
      if (check.ok || !check.tooLong) setRefusal(undefined);
    }
    if (value.trim().length > 0) actions.typing(convId);
  };

  const submit = () => {
    const check = checkDraft(draft);
    if (!check.ok) {
      setRefusal(check.reason);
      return;
    }
    const replyTo = threadRoot ?? replyingTo?.seq;
    const known = new Map<string, User>();
    for (const m of members) known.set(m.id, m);
    for (const u of users.values()) if (!known.has(u.id)) known.set(u.id, u);
    const mentions = mentionsIn(check.body, members.length > 0 ? members : [...known.values()], me);
    actions.send(convId, check.body, {
      ...(replyTo !== undefined ? { replyTo } : {}),
      ...(mentions.length > 0 ? { mentions } : {}),
    });
    if (threadRoot === undefined) onCancelReply?.();
    setDraft('');
    drafts.set(draftKey, '');
    setMention(undefined);
    setRefusal(undefined);
    textareaRef.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (suggesting) {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        setActive((i) => (i + step + candidates.length) % candidates.length);
        return;
      }
      if ((event.key === 'Enter' || event.key === 'Tab') && !event.nativeEvent.isComposing) {
        event.preventDefault();
        const chosen = candidates[Math.min(active, candidates.length - 1)];
        if (chosen) pick(chosen);
        return;
      }
      if (event.key === 'Escape') {
        event.preventDefault();
        event.stopPropagation();
        setMention(undefined);
        return;
      }
    }
    if (event.key === 'Escape' && replyingTo && threadRoot === undefined) {
      event.preventDefault();
      event.stopPropagation();
      onCancelReply?.();
      return;
    }
    if (
      event.key === 'ArrowUp' &&
      draft.length === 0 &&
      onEditLast &&
      !event.shiftKey &&
      !event.altKey &&
      !event.metaKey &&
      !event.ctrlKey
    ) {
      event.preventDefault();
      onEditLast();
      return;
    }
    // isComposing: Enter confirms an IME composition (Japanese, Chinese …) rather than sending.
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      submit();
    }
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit();
  };

  const length = draft.trim().length;
  const over = length > LIMITS.maxBodyChars;
  return (
    <form
      className={`composer${threadRoot !== undefined ? ' thread-composer' : ''}`}
      onSubmit={onSubmit}
      aria-label={threadRoot !== undefined ? 'Reply in thread' : 'Send a message'}
    >
      {replyingTo && threadRoot === undefined && (
        <div className="composer-reply" data-testid="composer-reply">
          <ReplyIcon />
          <span className="composer-reply-text">
            Replying to <strong>{users.get(replyingTo.from)?.username ?? 'someone'}</strong>
            <span className="composer-reply-snippet" dir="auto">
              {snippet(replyingTo, 100)}
            </span>
          </span>
          <button
            type="button"
            className="icon-button"
            onClick={() => onCancelReply?.()}
            aria-label="Cancel reply"
            data-testid="cancel-reply"
          >
            <CloseIcon />
          </button>
        </div>
      )}
      {suggesting && (
        <div
          className="mention-list"
          id={listId}
          role="listbox"
          aria-label="Mention someone"
          data-testid="mention-list"
        >
          {candidates.map((user, i) => (
            <div
              key={user.id}
              id={`${listId}-${i}`}
              role="option"
              tabIndex={-1}
              aria-selected={i === active}
              className={`mention-option${i === active ? ' active' : ''}`}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(user);
              }}
              data-testid="mention-option"
              data-username={user.username}
            >
              @{user.username}
            </div>
          ))}
        </div>
      )}
      <div className={`composer-box${refusal ? ' refused' : ''}`}>
        <textarea
          ref={(el) => {
            textareaRef.current = el;
            inputRef?.(el);
          }}
          aria-controls={suggesting ? listId : undefined}
          aria-activedescendant={
            suggesting ? `${listId}-${Math.min(active, candidates.length - 1)}` : undefined
          }
          aria-autocomplete="list"
          onSelect={(e) => {
            if (mention) findMention(e.currentTarget.value);
          }}
          onBlur={() => setMention(undefined)}
          className="composer-input"
          rows={1}
          value={draft}
          onChange={(e) => update(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={threadRoot !== undefined ? 'Reply…' : `Message ${placeholderName}`}
          aria-label={threadRoot !== undefined ? 'Reply in thread' : `Message ${placeholderName}`}
          aria-describedby={refusal ? errorId : hintId}
          aria-invalid={refusal ? true : undefined}
          data-testid={threadRoot !== undefined ? 'thread-composer-input' : 'composer-input'}
        />
        <button
          type="submit"
          className="send-button"
          aria-label={threadRoot !== undefined ? 'Send reply' : 'Send message'}
          title="Send (Enter)"
        >
          <SendIcon />
        </button>
      </div>
      <div className="composer-footer">
        {refusal ? (
          <span id={errorId} className="composer-refusal" role="alert" data-testid="composer-refusal">
            {refusal}
          </span>
        ) : (
          <span id={hintId} className="composer-hint">
            <kbd>Enter</kbd> to send · <kbd>Shift</kbd>+<kbd>Enter</kbd> for a new line
          </span>
        )}
        {counterVisible(length) && (
          <span className={`composer-counter${over ? ' over' : ''}`} aria-live="polite">
            {length.toLocaleString('en')} / {LIMITS.maxBodyChars.toLocaleString('en')}
          </span>
        )}
      </div>
    </form>
  );
}
