import {
  type Conversation,
  LIMITS,
  SYSTEM_USER_ID,
  toChatError,
  type User,
  type UserId,
} from '@relay-chat/protocol';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import type { Presence } from '../store/chat-state.js';
import { Avatar } from './avatar.js';
import { BellIcon, BellOffIcon, CloseIcon, EyeIcon, SearchIcon } from './icons.js';

export interface DetailsDialogProps {
  conversation: Conversation;
  /** The title as shown (with `#` for a channel). */
  title: string;
  onClose: () => void;
}

/** Whether the user owns (created) a group or channel: only they rename it, set its topic, and manage members. */
export function isOwner(conversation: Conversation, me: UserId | undefined): boolean {
  return (
    conversation.kind !== 'dm' &&
    me !== undefined &&
    conversation.createdBy !== undefined &&
    conversation.createdBy !== SYSTEM_USER_ID &&
    conversation.createdBy === me
  );
}

/**
 * A conversation's details: its name and topic (editable by the owner), its members with
 * their presence (the owner of a group adds and removes people), mute, and for a DM "Hide".
 * A native modal <dialog>: focus stays inside, Escape closes.
 */
export function DetailsDialog({ conversation, title, onClose }: DetailsDialogProps) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const owner = isOwner(conversation, me?.id);
  const muted = conversation.muted === true;
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await work();
    } catch (err) {
      setError(toChatError(err).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialogRef}
      className="modal details-dialog"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={() => {}}
      data-testid="details-dialog"
    >
      <div className="modal-body">
        <header className="modal-header">
          <h2 id={titleId}>
            <bdi>{title}</bdi>
          </h2>
          <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
            <CloseIcon />
          </button>
        </header>
        {conversation.kind !== 'dm' &&
          (owner ? (
            <NameTopicForm conversation={conversation} />
          ) : (
            <p className="muted details-topic" data-testid="details-topic" dir="auto">
              {conversation.topic ? conversation.topic : 'No topic.'}
            </p>
          ))}
        <MemberList conversation={conversation} owner={owner} onError={setError} />
        {owner && conversation.kind === 'group' && <AddPeople conversation={conversation} />}
        {error && (
          <p className="form-error" role="alert">
            {error}
          </p>
        )}
        <footer className="modal-footer spread">
          <span className="details-settings">
            <button
              type="button"
              className="ghost-button"
              disabled={busy}
              aria-pressed={muted}
              onClick={() => void run(() => actions.setMuted(conversation.id, !muted))}
              data-testid="mute-toggle"
            >
              {muted ? <BellIcon /> : <BellOffIcon />}
              {muted ? 'Unmute' : 'Mute'}
            </button>
            {conversation.kind === 'dm' && (
              <button
                type="button"
                className="ghost-button"
                disabled={busy}
                onClick={() =>
                  void run(async () => {
                    await actions.hide(conversation.id);
                    onClose();
                  })
                }
                data-testid="hide-dm"
              >
                <EyeIcon off />
                Hide
              </button>
            )}
          </span>
          <button type="button" className="primary-button" onClick={onClose}>
            Done
          </button>
        </footer>
      </div>
    </dialog>
  );
}

function NameTopicForm({ conversation }: { conversation: Conversation }) {
  const actions = useChatActions();
  const nameId = useId();
  const topicId = useId();
  const [name, setName] = useState(conversation.name ?? '');
  const [topic, setTopic] = useState(conversation.topic ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [saved, setSaved] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const change: { name?: string; topic?: string | null } = {};
    const trimmedName = name.trim();
    const trimmedTopic = topic.trim();
    if (trimmedName.length === 0) {
      setError('Give it a name.');
      return;
    }
    if (trimmedName !== (conversation.name ?? '')) change.name = trimmedName;
    if (trimmedTopic !== (conversation.topic ?? '')) change.topic = trimmedTopic === '' ? null : trimmedTopic;
    if (change.name === undefined && change.topic === undefined) return;
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await actions.updateConversation(conversation.id, change);
      setSaved(true);
    } catch (err) {
      const chatError = toChatError(err);
      setError(chatError.fields?.[0]?.message ?? chatError.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="details-form" onSubmit={submit} noValidate>
      <div className="field">
        <label htmlFor={nameId}>Name</label>
        <input
          id={nameId}
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setSaved(false);
          }}
          maxLength={LIMITS.maxConversationNameChars}
          autoComplete="off"
          data-testid="details-name"
        />
      </div>
      <div className="field">
        <label htmlFor={topicId}>Topic</label>
        <input
          id={topicId}
          value={topic}
          onChange={(e) => {
            setTopic(e.target.value);
            setSaved(false);
          }}
          maxLength={LIMITS.maxTopicChars}
          placeholder="What it is about"
          autoComplete="off"
          data-testid="details-topic-input"
        />
      </div>
      <div className="details-form-actions">
        {error && (
          <span className="field-error" role="alert">
            {error}
          </span>
        )}
        {saved && (
          <span className="muted small" role="status">
            Saved
          </span>
        )}
        <button type="submit" className="primary-button" disabled={busy} data-testid="details-save">
          {busy ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

function MemberList({
  conversation,
  owner,
  onError,
}: {
  conversation: Conversation;
  owner: boolean;
  onError: (message: string | undefined) => void;
}) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me);
  const online = useChatState((s) => s.online);
  const fresh = useChatState((s) => s.presenceFresh);
  const [removing, setRemoving] = useState<UserId | undefined>();
  const more = conversation.memberCount - conversation.members.length;
  const remove = async (user: User) => {
    setRemoving(user.id);
    onError(undefined);
    try {
      await actions.removeMember(conversation.id, user.id);
    } catch (err) {
      onError(toChatError(err).message);
    } finally {
      setRemoving(undefined);
    }
  };
  return (
    <section className="details-members" aria-labelledby={`${conversation.id}-members`}>
      <h3 id={`${conversation.id}-members`} className="details-heading">
        {conversation.memberCount} member{conversation.memberCount === 1 ? '' : 's'}
      </h3>
      <ul className="details-member-list" data-testid="member-list">
        {conversation.members.map((m) => {
          const status: Presence = !fresh ? 'unknown' : online.has(m.id) ? 'online' : 'offline';
          const label =
            status === 'online' ? 'online' : status === 'offline' ? 'offline' : 'presence unknown';
          return (
            <li key={m.id} className="details-member" data-testid="member" data-username={m.username}>
              <Avatar name={m.username} size={32} presence={status} />
              <span className="details-member-name">
                <bdi>{m.username}</bdi>
                {m.id === me?.id && ' (you)'}
                {m.id === conversation.createdBy && conversation.kind !== 'dm' && (
                  <span className="muted small"> · owner</span>
                )}
                <span className="visually-hidden">, {label}</span>
              </span>
              {owner && conversation.kind === 'group' && m.id !== me?.id && (
                <button
                  type="button"
                  className="ghost-button small"
                  disabled={removing !== undefined}
                  onClick={() => void remove(m)}
                  aria-label={`Remove ${m.username}`}
                  data-testid="remove-member"
                >
                  {removing === m.id ? 'Removing…' : 'Remove'}
                </button>
              )}
            </li>
          );
        })}
        {more > 0 && <li className="muted small">and {more} more</li>}
      </ul>
    </section>
  );
}

function AddPeople({ conversation }: { conversation: Conversation }) {
  const actions = useChatActions();
  const [query, setQuery] = useState('');
  const [candidates, setCandidates] = useState<User[]>([]);
  const [busy, setBusy] = useState<UserId | undefined>();
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    let cancelled = false;
    const timer = setTimeout(() => {
      actions
        .users(query.trim().toLowerCase())
        .then((page) => {
          if (!cancelled) setCandidates(page.users);
        })
        .catch(() => {});
    }, 150);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [actions, query]);

  const memberIds = new Set(conversation.members.map((m) => m.id));
  const shown = candidates.filter((u) => !memberIds.has(u.id)).slice(0, 20);
  const add = async (user: User) => {
    setBusy(user.id);
    setError(undefined);
    try {
      await actions.addMembers(conversation.id, [user.id]);
    } catch (err) {
      setError(toChatError(err).message);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <section className="details-add member-picker" aria-label="Add people">
      <label className="search-field">
        <SearchIcon />
        <span className="visually-hidden">Search people to add</span>
        <input
          className="bare"
          type="search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          placeholder="Add people"
          autoComplete="off"
          data-testid="add-member-search"
        />
      </label>
      {query.trim() !== '' && (
        <ul className="picker-list">
          {shown.map((u) => (
            <li key={u.id} className="details-member">
              <Avatar name={u.username} size={28} />
              <span className="details-member-name">
                <bdi>{u.username}</bdi>
              </span>
              <button
                type="button"
                className="ghost-button small"
                disabled={busy !== undefined}
                onClick={() => void add(u)}
                aria-label={`Add ${u.username}`}
                data-testid="add-member"
              >
                {busy === u.id ? 'Adding…' : 'Add'}
              </button>
            </li>
          ))}
          {shown.length === 0 && <li className="muted small">No one found.</li>}
        </ul>
      )}
      {error && (
        <span className="field-error" role="alert">
          {error}
        </span>
      )}
    </section>
  );
}
