import { type ConversationId, LIMITS, toChatError, type User } from '@relay-chat/protocol';
import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { useChatActions, useChatState } from '../hooks/use-chat.js';
import { Avatar } from './avatar.js';
import { CloseIcon, SearchIcon } from './icons.js';

export type CreateKind = 'group' | 'channel';

export interface CreateDialogProps {
  kind: CreateKind;
  onClose: () => void;
  onCreated: (id: ConversationId) => void;
}

/**
 * Creating a group (a name and chosen members) or a public channel (a name; anyone may
 * join). A native modal <dialog>: focus stays inside, Escape closes.
 */
export function CreateDialog({ kind, onClose, onCreated }: CreateDialogProps) {
  const actions = useChatActions();
  const me = useChatState((s) => s.me);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const nameId = useId();
  const nameErrorId = useId();
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState<string | undefined>();
  const [members, setMembers] = useState<User[]>([]);
  const [membersError, setMembersError] = useState<string | undefined>();
  const [formError, setFormError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [query, setQuery] = useState('');
  const [candidates, setCandidates] = useState<User[]>([]);

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  useEffect(() => {
    if (kind !== 'group') return;
    let cancelled = false;
    const timer = setTimeout(() => {
      actions
        .users(query.trim().toLowerCase())
        .then((page) => {
          if (!cancelled) setCandidates(page.users.filter((u) => u.id !== me?.id));
        })
        .catch(() => {});
    }, 150);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [actions, kind, me?.id, query]);

  const toggle = (user: User) => {
    setMembersError(undefined);
    setMembers((list) =>
      list.some((u) => u.id === user.id) ? list.filter((u) => u.id !== user.id) : [...list, user],
    );
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = name.trim();
    let invalid = false;
    if (trimmed.length === 0) {
      setNameError('Give it a name.');
      invalid = true;
    } else if (trimmed.length > LIMITS.maxConversationNameChars) {
      setNameError(`At most ${LIMITS.maxConversationNameChars} characters.`);
      invalid = true;
    }
    if (kind === 'group' && members.length === 0) {
      setMembersError('Choose at least one member.');
      invalid = true;
    }
    if (invalid) return;
    setBusy(true);
    setFormError(undefined);
    try {
      const id =
        kind === 'group'
          ? await actions.createGroup(
              trimmed,
              members.map((m) => m.id),
            )
          : await actions.createChannel(trimmed);
      onCreated(id);
    } catch (err) {
      const error = toChatError(err);
      const field = error.fields?.find((f) => f.field.startsWith('/name'));
      if (field || error.code === 'conflict') setNameError(field?.message ?? error.message);
      else setFormError(error.message);
      setBusy(false);
    }
  };

  const title = kind === 'group' ? 'New group' : 'New channel';
  return (
    // The dialog's own cancel event (Escape) closes it through onClose.
    <dialog
      ref={dialogRef}
      className="modal"
      aria-labelledby={`${nameId}-title`}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={() => {}}
    >
      <form className="modal-body" onSubmit={submit} noValidate>
        <header className="modal-header">
          <h2 id={`${nameId}-title`}>{title}</h2>
          <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
            <CloseIcon />
          </button>
        </header>
        <p className="muted">
          {kind === 'group'
            ? 'A private conversation with the people you choose.'
            : 'A public room: anyone can find it and join.'}
        </p>
        <div className="field">
          <label htmlFor={nameId}>Name</label>
          <input
            id={nameId}
            value={name}
            onChange={(e) => {
              setName(e.target.value);
              setNameError(undefined);
            }}
            maxLength={LIMITS.maxConversationNameChars}
            placeholder={kind === 'group' ? 'Weekend plans' : 'general'}
            aria-invalid={nameError ? true : undefined}
            aria-describedby={nameError ? nameErrorId : undefined}
            autoComplete="off"
            autoFocus
            data-testid="create-name"
          />
          {nameError && (
            <span id={nameErrorId} className="field-error" role="alert">
              {nameError}
            </span>
          )}
        </div>
        {kind === 'group' && (
          <fieldset className="field member-picker">
            <legend>Members</legend>
            {members.length > 0 && (
              <ul className="chips" aria-label="Chosen members">
                {members.map((m) => (
                  <li key={m.id}>
                    <button
                      type="button"
                      className="chip"
                      onClick={() => toggle(m)}
                      aria-label={`Remove ${m.username}`}
                    >
                      {m.username} <CloseIcon />
                    </button>
                  </li>
                ))}
              </ul>
            )}
            <label className="search-field">
              <SearchIcon />
              <span className="visually-hidden">Search people to add</span>
              <input
                className="bare"
                type="search"
                value={query}
                onChange={(e) => setQuery(e.target.value)}
                placeholder="Search people to add"
                autoComplete="off"
                data-testid="member-search"
              />
            </label>
            <ul className="picker-list">
              {candidates.map((u) => {
                const chosen = members.some((m) => m.id === u.id);
                return (
                  <li key={u.id}>
                    <label className="picker-item">
                      <input
                        type="checkbox"
                        checked={chosen}
                        onChange={() => toggle(u)}
                        data-username={u.username}
                      />
                      <Avatar name={u.username} size={28} />
                      <span>{u.username}</span>
                    </label>
                  </li>
                );
              })}
              {candidates.length === 0 && <li className="muted small">No one found.</li>}
            </ul>
            {membersError && (
              <span className="field-error" role="alert">
                {membersError}
              </span>
            )}
          </fieldset>
        )}
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        <footer className="modal-footer">
          <button type="button" className="ghost-button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary-button" disabled={busy} data-testid="create-submit">
            {busy ? 'Creating…' : kind === 'group' ? 'Create group' : 'Create channel'}
          </button>
        </footer>
      </form>
    </dialog>
  );
}
