import { type ChatError, type ErrorCode, errorCodeOfClose, isErrorCode } from '@relay-chat/protocol';

/**
 * `idle`: never started. `connecting`: the first attempt since `start()`. `open`: the server
 * sent `ready` on the current socket. `reconnecting`: the connection was lost or an attempt
 * failed; waiting for, or making, the next attempt. `closed`: stopped by the client, or by a
 * failure that retrying cannot fix (then `StateChange.error` says which).
 */
export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Why a state change happened. */
export type StateReason =
  | { kind: 'connect' }
  | { kind: 'ready'; url: string }
  /** The socket closed (or never opened: code 1006). `errorCode` is the server's typed reason, if any. */
  | {
      kind: 'socket_closed';
      url: string;
      code: number;
      reason: string;
      errorCode?: ErrorCode;
      wasOpen: boolean;
    }
  /** The socket could not even be created (malformed URL). */
  | { kind: 'socket_error'; url: string; error: ChatError }
  | { kind: 'connect_timeout'; url: string }
  | { kind: 'heartbeat_timeout'; url: string }
  /** The token provider threw. */
  | { kind: 'token_failed'; error: ChatError }
  | { kind: 'reconnect_requested' }
  | { kind: 'client_closed' };

/** A state transition (the `state` event). A `reconnecting` → `reconnecting` change announces a new retry. */
export interface StateChange {
  state: ConnectionState;
  previous: ConnectionState;
  reason: StateReason;
  /** With `reconnecting`: milliseconds until the next attempt. */
  retryInMs?: number;
  /** With `reconnecting`: failed attempts since the last `ready` (1-based). */
  attempt?: number;
  /** With `closed` after a failure: what made retrying pointless. */
  error?: ChatError;
}

/** What a close code tells the client to do. Pure; exported for tests. */
export interface CloseDisposition {
  /** Stop reconnecting: nothing automatic will help. */
  fatal: boolean;
  /** The server rejected the token: get a fresh one before the next attempt. */
  authRejected: boolean;
  errorCode?: ErrorCode;
}

/** Maps a close (code and reason; the server puts the error code in the reason) to what to do next. */
export function closeDisposition(code: number, reason: string): CloseDisposition {
  const errorCode = isErrorCode(reason) ? reason : errorCodeOfClose(code);
  const base = errorCode === undefined ? {} : { errorCode };
  if (errorCode === 'unauthorized' || errorCode === 'token_expired') {
    return { fatal: false, authRejected: true, ...base };
  }
  if (errorCode === 'forbidden') return { fatal: true, authRejected: false, ...base };
  // 1012 restart, 4008 slow consumer, 1006 network, 1011 internal, 1009 …: reconnect and resume.
  return { fatal: false, authRejected: false, ...base };
}
