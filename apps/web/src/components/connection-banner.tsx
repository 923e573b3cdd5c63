import { useChatActions, useChatState } from '../hooks/use-chat.js';

/** A banner while the live connection is down; history catches up by itself when it is back. */
export function ConnectionBanner() {
  const link = useChatState((s) => s.link);
  const synced = useChatState((s) => s.synced);
  const actions = useChatActions();
  if (link === 'open' || (link === 'connecting' && !synced)) return null;
  const offline = link === 'offline';
  return (
    <div
      className={`connection-banner${offline ? ' offline' : ''}`}
      role="status"
      data-testid="connection-banner"
    >
      <span className="spinner small" aria-hidden="true" />
      {offline ? 'You are offline. Messages will be sent when the connection is back.' : 'Reconnecting…'}
      <button type="button" className="link-button" onClick={() => actions.reconnectNow()}>
        Retry now
      </button>
    </div>
  );
}
