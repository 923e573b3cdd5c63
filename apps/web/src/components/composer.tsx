import { type ConversationId, LIMITS } from '@relay-chat/protocol';
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
import { checkDraft, counterVisible } from '../lib/composer.js';
import { draftsOf } from '../store/drafts.js';
import { SendIcon } from './icons.js';

export interface ComposerProps {
  convId: ConversationId;
  /** Placeholder target, e.g. "#general" or "bob". */
  placeholderName: string;
}

/** Tallest the textarea grows before it scrolls, in px. */
const MAX_HEIGHT_PX = 200;

/**
 * The message box: Enter sends, Shift+Enter breaks the line; an empty or over-limit draft is
 * refused with the reason shown below. Drafts are kept per conversation across reloads.
 */
export function Composer({ convId, placeholderName }: ComposerProps) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me?.id);
  const drafts = draftsOf(me ?? 'anonymous');
  const [draft, setDraft] = useState(() => drafts.get(convId));
  const [refusal, setRefusal] = useState<string | undefined>();
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const hintId = useId();
  const errorId = useId();

  // Ready to type on opening; not on touch screens, where focus pops the keyboard over the history.
  useEffect(() => {
    if (window.matchMedia?.('(pointer: coarse)').matches) return;
    textareaRef.current?.focus({ preventScroll: true });
  }, []);

  // Grow with the text up to MAX_HEIGHT_PX.
  // biome-ignore lint/correctness/useExhaustiveDependencies: re-measure whenever the draft changes
  useLayoutEffect(() => {
    const el = textareaRef.current;
    if (!el) return;
    el.style.height = 'auto';
    el.style.height = `${Math.min(el.scrollHeight, MAX_HEIGHT_PX)}px`;
  }, [draft]);

  const update = (value: string) => {
    setDraft(value);
    drafts.set(convId, value);
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
    actions.send(convId, check.body);
    setDraft('');
    drafts.set(convId, '');
    setRefusal(undefined);
    textareaRef.current?.focus();
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
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
    <form className="composer" onSubmit={onSubmit} aria-label="Send a message">
      <div className={`composer-box${refusal ? ' refused' : ''}`}>
        <textarea
          ref={textareaRef}
          className="composer-input"
          rows={1}
          value={draft}
          onChange={(e) => update(e.target.value)}
          onKeyDown={onKeyDown}
          placeholder={`Message ${placeholderName}`}
          aria-label={`Message ${placeholderName}`}
          aria-describedby={refusal ? errorId : hintId}
          aria-invalid={refusal ? true : undefined}
          data-testid="composer-input"
        />
        <button type="submit" className="send-button" aria-label="Send message" title="Send (Enter)">
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
