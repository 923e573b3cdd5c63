import { useState } from 'react';
import { HashIcon, PlusIcon, UsersIcon } from './icons.js';

export interface NextActionsProps {
  onFindPeople: () => void;
  onBrowseChannels: () => void;
  onCreateChannel: () => void;
}

/** What a newcomer can do next, as buttons: start a DM, join a channel, create one. */
export function NextActions({ onFindPeople, onBrowseChannels, onCreateChannel }: NextActionsProps) {
  return (
    <div className="next-actions">
      <button
        type="button"
        className="primary-button"
        onClick={onFindPeople}
        data-testid="action-find-people"
      >
        <UsersIcon width="16" height="16" /> Start a direct message
      </button>
      <button
        type="button"
        className="ghost-button"
        onClick={onBrowseChannels}
        data-testid="action-browse-channels"
      >
        <HashIcon width="16" height="16" /> Join a channel
      </button>
      <button
        type="button"
        className="ghost-button"
        onClick={onCreateChannel}
        data-testid="action-create-channel"
      >
        <PlusIcon /> Create a channel
      </button>
    </div>
  );
}

/** Copies the address of this relay to the clipboard, to invite someone. */
export function CopyLinkButton() {
  const [copied, setCopied] = useState<'yes' | 'no' | undefined>();
  const link = window.location.origin;
  return (
    <div className="copy-link">
      <button
        type="button"
        className="primary-button"
        onClick={() => {
          navigator.clipboard
            ?.writeText(link)
            .then(() => setCopied('yes'))
            .catch(() => setCopied('no'));
          if (!navigator.clipboard) setCopied('no');
        }}
        data-testid="copy-invite-link"
      >
        Copy the invite link
      </button>
      <span className="muted small" role="status">
        {copied === 'yes' ? 'Copied.' : copied === 'no' ? `Copy it from here: ${link}` : ''}
      </span>
    </div>
  );
}
