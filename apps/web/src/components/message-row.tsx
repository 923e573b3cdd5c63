import type { Message } from '@relay-chat/protocol';
import { memo, useId, useState } from 'react';
import { fullTimeLabel, timeLabel } from '../lib/timeline.js';
import type { PendingMessage } from '../store/chat-state.js';
import { Avatar } from './avatar.js';
import { AlertIcon, CheckIcon, ClockIcon } from './icons.js';
import { MessageText } from './message-text.js';

export interface MessageRowProps {
  message: Message;
  senderName: string;
  own: boolean;
  /** Continues the previous sender run: no avatar or name. */
  continued: boolean;
}

/** One stored message. Own ones carry a "sent" tick. */
export const MessageRow = memo(function MessageRow({ message, senderName, own, continued }: MessageRowProps) {
  return (
    <li
      className={`message${continued ? ' continued' : ''}${own ? ' own' : ''}`}
      data-seq={message.seq}
      data-testid="message"
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
        <div className="message-body">
          <CollapsibleText body={message.body} />
          {own && (
            <span className="message-status sent" title="Sent" data-status="sent">
              <CheckIcon />
              <span className="visually-hidden">Sent</span>
            </span>
          )}
        </div>
      </div>
    </li>
  );
});

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
function CollapsibleText({ body }: { body: string }) {
  const long = isLongBody(body);
  const [expanded, setExpanded] = useState(false);
  const id = useId();
  if (!long) return <MessageText body={body} />;
  return (
    <div className="message-long">
      <div id={id} className={`message-collapsible${expanded ? '' : ' collapsed'}`}>
        <MessageText body={body} />
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
  senderName: string;
  continued: boolean;
  onRetry: () => void;
  onDiscard: () => void;
}

/** An own message not stored yet: "Sending…", or failed with Retry / Delete. */
export function PendingRow({ pending, senderName, continued, onRetry, onDiscard }: PendingRowProps) {
  const failed = pending.status === 'failed';
  return (
    <li
      className={`message own pending${continued ? ' continued' : ''}${failed ? ' failed' : ''}`}
      data-testid="pending-message"
      data-status={pending.status}
    >
      <div className="message-gutter">{!continued && <Avatar name={senderName} size={36} />}</div>
      <div className="message-main">
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
