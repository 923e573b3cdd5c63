import { type Message, type Reaction, toChatError, type User, type UserId } from '@relay-chat/protocol';
import { type KeyboardEvent, memo, useEffect, useId, useMemo, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import {
  canDelete,
  canEdit,
  pickerEmoji,
  QUICK_EMOJI,
  reactedBy,
  reactionTooltip,
  replyCountLabel,
  snippet,
} from '../lib/changes.js';
import { mentionsIn } from '../lib/mentions.js';
import { fullTimeLabel, timeLabel } from '../lib/timeline.js';
import type { PendingMessage } from '../store/chat-state.js';
import { Avatar } from './avatar.js';
import { useOptionalConversationUi } from './conversation-ui.js';
import {
  AlertIcon,
  CheckIcon,
  ClockIcon,
  EditIcon,
  ReplyIcon,
  SmileIcon,
  ThreadIcon,
  TrashIcon,
} from './icons.js';
import { MessageText } from './message-text.js';

export interface MessageRowProps {
  message: Message;
  senderName: string;
  own: boolean;
  /** Continues the previous sender run: no avatar or name. */
  continued: boolean;
  /** Shown in the thread panel: no thread summary, no "reply in thread". */
  inThread?: boolean;
  /** The message this one answers, when loaded (for the quote). */
  parent?: Message | undefined;
  /** Flashed after a jump to it. */
  highlighted?: boolean;
}

/** How long a touch must rest on a message to open its actions. */
const LONG_PRESS_MS = 500;

/**
 * One stored message: a reply's quote, the body (or "Message deleted"), "(edited)", the
 * reaction chips, a thread summary, and its actions — on hover or keyboard focus on desktop,
 * after a long press on touch screens. Own ones carry a "sent" tick.
 */
export const MessageRow = memo(function MessageRow({
  message,
  senderName,
  own,
  continued,
  inThread = false,
  parent,
  highlighted = false,
}: MessageRowProps) {
  const ui = useOptionalConversationUi();
  const me = useChatState((s) => s.me?.id);
  const users = useChatState((s) => s.users);
  const [actionsOpen, setActionsOpen] = useState(false);
  const [picker, setPicker] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const pressTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const actions = useChatActions();
  const deleted = message.deleted === true;
  const editing = ui !== undefined && !inThread && ui.editingSeq === message.seq;
  const conversation = ui?.conversation;
  const nameOf = (id: UserId) => (id === me ? 'you' : (users.get(id)?.username ?? 'someone'));

  const mentioned = useMemo(() => {
    if (!message.mentions || message.mentions.length === 0) return undefined;
    const map = new Map<string, UserId>();
    for (const id of message.mentions) {
      const name = users.get(id)?.username;
      if (name) map.set(name.toLowerCase(), id);
    }
    return map;
  }, [message.mentions, users]);
  const mentionsMe = me !== undefined && !own && (message.mentions?.includes(me) ?? false);

  const run = (work: () => Promise<void>) => {
    setError(undefined);
    work().catch((err: unknown) => setError(toChatError(err).message));
  };
  const react = (emoji: string, on: boolean) => {
    if (!conversation) return;
    run(() => actions.react(conversation.id, message.seq, emoji, on));
  };

  const mayEdit = conversation !== undefined && canEdit(message, me);
  const mayDelete = conversation !== undefined && canDelete(message, me, conversation);
  const rootSeq = message.threadRoot ?? message.seq;

  const onTouchStart = () => {
    clearTimeout(pressTimer.current);
    pressTimer.current = setTimeout(() => setActionsOpen(true), LONG_PRESS_MS);
  };
  const cancelPress = () => clearTimeout(pressTimer.current);
  useEffect(() => () => clearTimeout(pressTimer.current), []);
  // Actions opened by a long press close on a touch anywhere else.
  const rowRef = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (!actionsOpen) return;
    const onDown = (e: PointerEvent) => {
      if (rowRef.current && !rowRef.current.contains(e.target as Node)) setActionsOpen(false);
    };
    document.addEventListener('pointerdown', onDown);
    return () => document.removeEventListener('pointerdown', onDown);
  }, [actionsOpen]);

  return (
    <li
      ref={rowRef}
      className={`message${continued ? ' continued' : ''}${own ? ' own' : ''}${deleted ? ' deleted' : ''}${
        actionsOpen || picker ? ' actions-open' : ''
      }${highlighted ? ' highlighted' : ''}${mentionsMe ? ' mentions-me' : ''}${editing ? ' editing' : ''}`}
      data-seq={message.seq}
      data-testid={inThread ? 'thread-message' : 'message'}
      data-deleted={deleted ? 'true' : undefined}
      onTouchStart={onTouchStart}
      onTouchEnd={cancelPress}
      onTouchMove={cancelPress}
      onContextMenu={(e) => {
        // The long press of a touch screen opens our actions, not the browser's menu.
        if (actionsOpen) e.preventDefault();
      }}
    >
      <div className="message-gutter">
        {continued ? (
          <time className="message-hover-time" dateTime={new Date(message.ts).toISOString()}>
            {timeLabel(message.ts)}
          </time>
        ) : (
          <Avatar name={senderName} size={36} />
        )}
      </div>
      <div className="message-main">
        {message.replyTo !== undefined && !(inThread && message.replyTo === message.threadRoot) && (
          <ReplyQuote
            replyTo={message.replyTo}
            parent={parent}
            nameOf={(id) => users.get(id)?.username ?? 'someone'}
            onJump={ui && !inThread ? () => ui.jumpTo(message.replyTo!) : undefined}
          />
        )}
        {!continued && (
          <div className="message-meta">
            <span className="message-sender">{senderName}</span>
            <time
              className="message-time"
              dateTime={new Date(message.ts).toISOString()}
              title={fullTimeLabel(message.ts)}
            >
              {timeLabel(message.ts)}
            </time>
          </div>
        )}
        {editing && conversation ? (
          <EditBox
            message={message}
            members={conversation.members}
            me={me}
            onDone={() => {
              ui.setEditingSeq(undefined);
              ui.focusComposer();
            }}
          />
        ) : (
          <div className="message-body">
            {deleted ? (
              <p className="message-deleted" data-testid="message-deleted">
                Message deleted
              </p>
            ) : (
              <CollapsibleText body={message.body} mentioned={mentioned} me={me} />
            )}
            {message.editedAt !== undefined && !deleted && (
              <span
                className="message-edited"
                title={`Edited ${fullTimeLabel(message.editedAt)}`}
                data-testid="message-edited"
              >
                (edited)
              </span>
            )}
            {own && !deleted && (
              <span className="message-status sent" title="Sent" data-status="sent">
                <CheckIcon />
                <span className="visually-hidden">Sent</span>
              </span>
            )}
          </div>
        )}
        {!deleted && message.reactions && message.reactions.length > 0 && (
          // biome-ignore lint/a11y/useSemanticElements: a row of toggle buttons, not a form's fieldset
          <div className="reactions" role="group" aria-label="Reactions" data-testid="reactions">
            {message.reactions.map((r) => (
              <ReactionChip
                key={r.emoji}
                reaction={r}
                mine={reactedBy(r, me)}
                title={reactionTooltip(r, nameOf, me)}
                onToggle={(on) => react(r.emoji, on)}
              />
            ))}
          </div>
        )}
        {!inThread && message.replyCount !== undefined && ui && (
          <button
            type="button"
            className="thread-summary"
            onClick={() => ui.openThread(message.seq)}
            data-testid="thread-summary"
          >
            <ThreadIcon />
            <span className="thread-count">{replyCountLabel(message.replyCount)}</span>
            {message.lastReplyAt !== undefined && (
              <span className="thread-last" title={fullTimeLabel(message.lastReplyAt)}>
                Last reply {timeLabel(message.lastReplyAt)}
              </span>
            )}
          </button>
        )}
        {error && (
          <p className="message-action-error" role="alert">
            {error}
          </p>
        )}
        {confirmDelete && conversation && (
          <DeleteDialog
            message={message}
            onCancel={() => setConfirmDelete(false)}
            onConfirm={async () => {
              await actions.deleteMessage(conversation.id, message.seq);
              setConfirmDelete(false);
            }}
          />
        )}
      </div>
      {ui && !editing && (
        <div
          className="message-actions"
          role="toolbar"
          aria-label={`Actions for the message from ${senderName}`}
          data-testid="message-actions"
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              setActionsOpen(false);
              setPicker(false);
            }
          }}
        >
          {!deleted && (
            <button
              type="button"
              className="message-action"
              aria-label="Add reaction"
              title="Add reaction"
              aria-haspopup="dialog"
              aria-expanded={picker}
              onClick={() => setPicker((v) => !v)}
              data-testid="action-react"
            >
              <SmileIcon />
            </button>
          )}
          {!inThread && (
            <button
              type="button"
              className="message-action"
              aria-label="Reply"
              title="Reply"
              onClick={() => {
                setActionsOpen(false);
                ui.setReplyingTo(message);
                ui.focusComposer();
              }}
              data-testid="action-reply"
            >
              <ReplyIcon />
            </button>
          )}
          {!inThread && (
            <button
              type="button"
              className="message-action"
              aria-label="Reply in thread"
              title="Reply in thread"
              onClick={() => {
                setActionsOpen(false);
                ui.openThread(rootSeq);
              }}
              data-testid="action-thread"
            >
              <ThreadIcon />
            </button>
          )}
          {mayEdit && !inThread && (
            <button
              type="button"
              className="message-action"
              aria-label="Edit message"
              title="Edit"
              onClick={() => {
                setActionsOpen(false);
                ui.setEditingSeq(message.seq);
              }}
              data-testid="action-edit"
            >
              <EditIcon />
            </button>
          )}
          {mayDelete && (
            <button
              type="button"
              className="message-action danger"
              aria-label="Delete message"
              title="Delete"
              onClick={() => {
                setActionsOpen(false);
                setConfirmDelete(true);
              }}
              data-testid="action-delete"
            >
              <TrashIcon />
            </button>
          )}
          {picker && (
            <EmojiPicker
              existing={message.reactions}
              me={me}
              onPick={(emoji, on) => {
                setPicker(false);
                setActionsOpen(false);
                react(emoji, on);
              }}
              onClose={() => {
                setPicker(false);
                setActionsOpen(false);
              }}
            />
          )}
        </div>
      )}
    </li>
  );
});

/** The quote of the message a reply answers; click (or Enter) jumps to it. */
function ReplyQuote({
  replyTo,
  parent,
  nameOf,
  onJump,
}: {
  replyTo: number;
  parent: Message | undefined;
  nameOf: (id: UserId) => string;
  onJump: (() => void) | undefined;
}) {
  const who = parent ? nameOf(parent.from) : undefined;
  const text = parent ? snippet(parent, 90) : 'Original message';
  const content = (
    <>
      <ReplyIcon />
      <span className="visually-hidden">In reply to </span>
      {who && <span className="reply-quote-name">{who}</span>}
      <span className={`reply-quote-text${parent?.deleted ? ' deleted' : ''}`} dir="auto">
        {text}
      </span>
      {onJump && <span className="visually-hidden"> (jump to it)</span>}
    </>
  );
  if (!onJump)
    return (
      <div className="reply-quote" data-testid="reply-quote" data-reply-to={replyTo}>
        {content}
      </div>
    );
  return (
    <button
      type="button"
      className="reply-quote"
      onClick={onJump}
      title="Jump to the message"
      data-testid="reply-quote"
      data-reply-to={replyTo}
    >
      {content}
    </button>
  );
}

function ReactionChip({
  reaction,
  mine,
  title,
  onToggle,
}: {
  reaction: Reaction;
  mine: boolean;
  title: string;
  onToggle: (on: boolean) => void;
}) {
  return (
    <button
      type="button"
      className={`reaction-chip${mine ? ' mine' : ''}`}
      aria-pressed={mine}
      aria-label={`${reaction.emoji} ${reaction.count}: ${title}`}
      title={title}
      onClick={() => onToggle(!mine)}
      data-testid="reaction-chip"
      data-emoji={reaction.emoji}
    >
      <span className="reaction-emoji" aria-hidden="true">
        {reaction.emoji}
      </span>
      <span className="reaction-count" aria-hidden="true">
        {reaction.count}
      </span>
    </button>
  );
}

/** A small grid of emoji: the curated set and the ones already on the message. Escape closes. */
export function EmojiPicker({
  existing,
  me,
  onPick,
  onClose,
}: {
  existing: readonly Reaction[] | undefined;
  me: UserId | undefined;
  onPick: (emoji: string, on: boolean) => void;
  onClose: () => void;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const labelId = useId();
  const list = pickerEmoji(existing);
  useEffect(() => {
    ref.current?.querySelector<HTMLButtonElement>('button')?.focus();
    const onDown = (e: PointerEvent) => {
      if (ref.current && !ref.current.contains(e.target as Node)) onClose();
    };
    document.addEventListener('pointerdown', onDown);
    return () => document.removeEventListener('pointerdown', onDown);
  }, [onClose]);
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
      return;
    }
    const buttons = [...(ref.current?.querySelectorAll<HTMLButtonElement>('button') ?? [])];
    const index = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 6, ArrowUp: -6 }[e.key];
    if (step !== undefined && index >= 0) {
      e.preventDefault();
      buttons[Math.min(buttons.length - 1, Math.max(0, index + step))]?.focus();
    }
  };
  return (
    <div
      ref={ref}
      className="emoji-picker"
      role="dialog"
      aria-labelledby={labelId}
      onKeyDown={onKeyDown}
      data-testid="emoji-picker"
    >
      <span id={labelId} className="visually-hidden">
        Choose a reaction
      </span>
      <div className="emoji-grid">
        {list.map((emoji) => {
          const on = existing?.find((r) => r.emoji === emoji);
          const mine = on !== undefined && reactedBy(on, me);
          return (
            <button
              key={emoji}
              type="button"
              className={`emoji-option${mine ? ' mine' : ''}${
                (QUICK_EMOJI as readonly string[]).includes(emoji) ? ' quick' : ''
              }`}
              aria-label={mine ? `Remove ${emoji}` : `React with ${emoji}`}
              aria-pressed={mine}
              onClick={() => onPick(emoji, !mine)}
              data-emoji={emoji}
            >
              {emoji}
            </button>
          );
        })}
      </div>
    </div>
  );
}

/** Editing a message in place: Enter saves, Shift+Enter breaks the line, Escape cancels. */
function EditBox({
  message,
  members,
  me,
  onDone,
}: {
  message: Message;
  members: readonly User[];
  me: UserId | undefined;
  onDone: () => void;
}) {
  const actions = useChatActions();
  const [text, setText] = useState(message.body);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const ref = useRef<HTMLTextAreaElement>(null);
  const hintId = useId();
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(el.value.length, el.value.length);
  }, []);
  const save = async () => {
    const body = text.trim();
    if (body === message.body.trim()) {
      onDone();
      return;
    }
    if (body.length === 0) {
      setError('A message cannot be empty. Delete it instead.');
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      await actions.edit(message.conv, message.seq, body, mentionsIn(body, members, me));
      onDone();
    } catch (err) {
      setError(toChatError(err).message);
      setBusy(false);
    }
  };
  return (
    <div className="edit-box">
      <textarea
        ref={ref}
        className="edit-input"
        value={text}
        rows={Math.min(8, Math.max(1, text.split('\n').length))}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            e.stopPropagation();
            onDone();
          } else if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            if (!busy) void save();
          }
        }}
        aria-label="Edit message"
        aria-describedby={hintId}
        data-testid="edit-input"
        disabled={busy}
      />
      <div className="edit-footer">
        <span id={hintId} className="composer-hint">
          <kbd>Escape</kbd> to cancel · <kbd>Enter</kbd> to save
        </span>
        <button type="button" className="ghost-button" onClick={onDone} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          className="primary-button"
          onClick={() => void save()}
          disabled={busy}
          data-testid="edit-save"
        >
          Save
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

/** Asks before deleting: a modal dialog; Escape or Cancel keeps the message. */
function DeleteDialog({
  message,
  onCancel,
  onConfirm,
}: {
  message: Message;
  onCancel: () => void;
  onConfirm: () => Promise<void>;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      className="modal confirm-dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        if (!busy) onCancel();
      }}
      data-testid="delete-dialog"
    >
      <div className="modal-body">
        <header className="modal-header">
          <h2 id={titleId}>Delete message?</h2>
        </header>
        <p className="delete-preview" dir="auto">
          {snippet(message, 200)}
        </p>
        <p className="muted">
          Everyone in the conversation will see “Message deleted” instead. This cannot be undone.
        </p>
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <footer className="modal-footer">
          <button type="button" className="ghost-button" onClick={onCancel} disabled={busy}>
            Cancel
          </button>
          <button
            type="button"
            className="danger-button"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              setError(undefined);
              onConfirm().catch((err: unknown) => {
                setError(toChatError(err).message);
                setBusy(false);
              });
            }}
            data-testid="delete-confirm"
          >
            {busy ? 'Deleting…' : 'Delete'}
          </button>
        </footer>
      </div>
    </dialog>
  );
}

/** Bodies longer than this (characters or lines) start collapsed behind "Show more". */
export const COLLAPSE_CHARS = 1200;
export const COLLAPSE_LINES = 15;

export function isLongBody(body: string): boolean {
  if (body.length > COLLAPSE_CHARS) return true;
  let lines = 1;
  for (let i = body.indexOf('\n'); i >= 0; i = body.indexOf('\n', i + 1)) {
    lines += 1;
    if (lines > COLLAPSE_LINES) return true;
  }
  return false;
}

/** A message body; a very long one is cut to a few lines with "Show more". */
function CollapsibleText({
  body,
  mentioned,
  me,
}: {
  body: string;
  mentioned?: ReadonlyMap<string, UserId> | undefined;
  me?: UserId | undefined;
}) {
  const long = isLongBody(body);
  const [expanded, setExpanded] = useState(false);
  const id = useId();
  if (!long) return <MessageText body={body} mentioned={mentioned} me={me} />;
  return (
    <div className="message-long">
      <div id={id} className={`message-collapsible${expanded ? '' : ' collapsed'}`}>
        <MessageText body={body} mentioned={mentioned} me={me} />
      </div>
      <button
        type="button"
        className="link-button show-more"
        aria-expanded={expanded}
        aria-controls={id}
        onClick={() => setExpanded((v) => !v)}
        data-testid="show-more"
      >
        {expanded ? 'Show less' : 'Show more'}
      </button>
    </div>
  );
}

export interface PendingRowProps {
  pending: PendingMessage;
  /** The message it answers, when it is a reply and that message is loaded. */
  parent?: Message | undefined;
  senderName: string;
  continued: boolean;
  onRetry: () => void;
  onDiscard: () => void;
}

/** An own message not stored yet: "Sending…", or failed with Retry / Delete. */
export function PendingRow({ pending, parent, senderName, continued, onRetry, onDiscard }: PendingRowProps) {
  const users = useChatState((s) => s.users);
  const failed = pending.status === 'failed';
  return (
    <li
      className={`message own pending${continued ? ' continued' : ''}${failed ? ' failed' : ''}`}
      data-testid="pending-message"
      data-status={pending.status}
    >
      <div className="message-gutter">{!continued && <Avatar name={senderName} size={36} />}</div>
      <div className="message-main">
        {pending.replyTo !== undefined && (
          <ReplyQuote
            replyTo={pending.replyTo}
            parent={parent}
            nameOf={(id) => users.get(id)?.username ?? 'someone'}
            onJump={undefined}
          />
        )}
        {!continued && (
          <div className="message-meta">
            <span className="message-sender">{senderName}</span>
          </div>
        )}
        <div className="message-body">
          <MessageText body={pending.body} />
        </div>
        {failed ? (
          <div className="message-failure" role="alert">
            <AlertIcon />
            <span title={pending.error}>Not sent{pending.error ? `: ${pending.error}` : ''}</span>
            <button type="button" className="link-button" onClick={onRetry}>
              Retry
            </button>
            <button type="button" className="link-button muted" onClick={onDiscard}>
              Delete
            </button>
          </div>
        ) : (
          <div className="message-sending" aria-live="off">
            <ClockIcon />
            Sending…
          </div>
        )}
      </div>
    </li>
  );
}
