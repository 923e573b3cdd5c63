import { toChatError } from '@relay-chat/protocol';
import { useEffect, useId, useRef, useState, useSyncExternalStore } from 'react';
import { useAlerts, useChatActions, useChatState } from '../hooks/use-chat.js';
import type { AlertCenter, DesktopPermission } from '../store/alert-center.js';
import { CheckAllIcon, CloseIcon } from './icons.js';

export interface AlertsDialogProps {
  onClose: () => void;
}

const NO_SETTINGS = { desktop: false, sound: false };
const noSubscribe = () => () => {};

/**
 * Notification settings: desktop notifications (the browser's permission is asked here, from
 * the button, never on load), the sound, and "Mark all as read".
 */
export function AlertsDialog({ onClose }: AlertsDialogProps) {
  const alerts = useAlerts();
  const actions = useChatActions();
  const conversations = useChatState((s) => s.conversations);
  // Muted conversations count too: "Mark all" reads them as well.
  const anyUnread = [...conversations.values()].some((c) => c.unread > 0);
  const [markError, setMarkError] = useState<string | undefined>();
  const settings = useSyncExternalStore(
    alerts?.subscribe ?? noSubscribe,
    alerts?.getSettings ?? (() => NO_SETTINGS),
  );
  const [permission, setPermission] = useState<DesktopPermission>(
    () => alerts?.permission() ?? 'unsupported',
  );
  const [asking, setAsking] = useState(false);
  const dialogRef = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const soundId = useId();

  useEffect(() => {
    const dialog = dialogRef.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);

  const turnOn = async (center: AlertCenter) => {
    setAsking(true);
    try {
      setPermission(await center.enableDesktop());
    } finally {
      setAsking(false);
    }
  };

  const desktopOn = settings.desktop && permission === 'granted';
  return (
    <dialog
      ref={dialogRef}
      className="modal"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
      onKeyDown={() => {}}
      data-testid="alerts-dialog"
    >
      <div className="modal-body">
        <header className="modal-header">
          <h2 id={titleId}>Notifications</h2>
          <button type="button" className="icon-button" onClick={onClose} aria-label="Close">
            <CloseIcon />
          </button>
        </header>
        <p className="muted">Direct messages and mentions of you, while relay is in another tab.</p>

        <section className="settings-row">
          <div className="settings-text">
            <strong>Desktop notifications</strong>
            <span className="muted small" data-testid="desktop-status">
              {permission === 'unsupported'
                ? 'This browser cannot show notifications.'
                : permission === 'denied'
                  ? 'Blocked in the browser’s site settings.'
                  : desktopOn
                    ? 'On'
                    : 'Off'}
            </span>
          </div>
          {alerts && (permission === 'default' || permission === 'granted') && (
            <button
              type="button"
              className={desktopOn ? 'ghost-button' : 'primary-button'}
              disabled={asking}
              onClick={() => (desktopOn ? alerts.update({ desktop: false }) : void turnOn(alerts))}
              data-testid="desktop-toggle"
            >
              {desktopOn ? 'Turn off' : 'Turn on'}
            </button>
          )}
        </section>

        <section className="settings-row">
          <label className="settings-text" htmlFor={soundId}>
            <strong>Sound</strong>
            <span className="muted small">A short beep for new direct messages and mentions.</span>
          </label>
          <input
            id={soundId}
            type="checkbox"
            className="switch"
            checked={settings.sound}
            disabled={!alerts}
            onChange={(e) => alerts?.update({ sound: e.target.checked })}
            data-testid="sound-toggle"
          />
        </section>

        {markError && (
          <p className="form-error" role="alert">
            {markError}
          </p>
        )}
        <footer className="modal-footer spread">
          <button
            type="button"
            className="ghost-button"
            disabled={!anyUnread}
            onClick={() => {
              setMarkError(undefined);
              actions.markAllRead().catch((err: unknown) => setMarkError(toChatError(err).message));
            }}
            data-testid="mark-all-read"
          >
            <CheckAllIcon />
            Mark all as read
          </button>
          <button type="button" className="primary-button" onClick={onClose}>
            Done
          </button>
        </footer>
      </div>
    </dialog>
  );
}
