import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { BEARER_SUBPROTOCOL_PREFIX, ChatError, SUBPROTOCOL } from '@relay-chat/protocol';
import { type AccessClaims, type AccessTokenVerifier, bearerTokenOf } from '@relay-chat/tokens';
import type { SessionToken } from './session.js';

export interface UpgradeGuardOptions {
  verify: AccessTokenVerifier;
  /** Exact-match Origin allowlist. */
  allowedOrigins: readonly string[];
  /** Accept upgrades without an Origin header (non-browser clients). */
  allowNoOrigin: boolean;
}

export interface AuthenticatedUpgrade {
  claims: AccessClaims;
  token: string;
}

/**
 * Decides whether an upgrade request may become a WebSocket: the Origin must be allowed
 * and a valid access token must come either as `Authorization: Bearer …` or, from
 * browsers, as the subprotocol entry `bearer.<jwt>` next to `relay-chat.v1`.
 * Throws ChatError (`origin_not_allowed`, `unauthorized`, `token_expired`, `unavailable`).
 */
export async function authenticateUpgrade(
  request: IncomingMessage,
  options: UpgradeGuardOptions,
): Promise<AuthenticatedUpgrade> {
  const origin = request.headers.origin;
  if (origin === undefined ? !options.allowNoOrigin : !options.allowedOrigins.includes(origin)) {
    throw new ChatError(
      'origin_not_allowed',
      origin === undefined ? 'an Origin header is required' : undefined,
    );
  }
  const token = tokenOf(request);
  if (!token) throw new ChatError('unauthorized', 'an access token is required');
  const claims = await options.verify(token);
  return { claims, token };
}

function tokenOf(request: IncomingMessage): string | undefined {
  const fromHeader = bearerTokenOf(request.headers.authorization);
  if (fromHeader) return fromHeader;
  const protocols = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!protocols.includes(SUBPROTOCOL)) return undefined;
  const bearer = protocols.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  return bearer?.slice(BEARER_SUBPROTOCOL_PREFIX.length);
}

/** Answers a refused upgrade with a plain HTTP error (no 101) and closes the socket. */
export function rejectUpgrade(socket: Duplex, error: ChatError): void {
  const body = JSON.stringify(error.toBody());
  const headers = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  if (error.status === 401) headers.push('WWW-Authenticate: Bearer');
  if (error.retryAfterSec !== undefined) headers.push(`Retry-After: ${Math.ceil(error.retryAfterSec)}`);
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

/** The session token of a verified access token. */
export function sessionTokenOf(token: string, claims: AccessClaims): SessionToken {
  return { token, expiresAt: claims.exp * 1000, issuedAt: claims.iat * 1000, sid: claims.sid };
}
