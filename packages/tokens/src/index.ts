import { asUserId, ChatError, type UserId } from '@relay-chat/protocol';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';

/** The only signing algorithm relay-chat accepts (Ed25519). */
export const ACCESS_TOKEN_ALG = 'EdDSA';
/** `typ` header of access tokens (RFC 9068), so that no other JWT passes as one. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** What a verified access token says. */
export interface AccessClaims {
  userId: UserId;
  username: string;
  /** Issue time, seconds since the epoch. */
  iat: number;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /**
   * The session the token belongs to: the id of the refresh-token family of the login that
   * started it (tokens from refreshes keep it). Logging that session out revokes it. Absent
   * in tokens issued outside a login (tooling, tokens from before this claim existed); those
   * stay valid until they expire.
   */
  sid?: string;
}

export interface AccessTokenVerifierOptions {
  /** Where the public keys come from: a JWKS URL (fetched, cached, refetched on unknown kid) or a key set. */
  keys: URL | JSONWebKeySet | JWTVerifyGetKey;
  issuer: string;
  audience: string;
  /** Allowed clock skew, seconds. Default 5. */
  clockToleranceSec?: number;
  /**
   * How many verified tokens to remember (default 10 000; 0 = none), so a token presented
   * again — a reconnect storm, a token renewal on every device — skips the signature check.
   * A remembered token is still refused once it expires; like any JWT it stays valid until
   * then even if its key is retired.
   */
  cacheSize?: number;
}

export type AccessTokenVerifier = (token: string) => Promise<AccessClaims>;

/**
 * Builds the verifier shared by auth (`/me`) and chat (the WebSocket upgrade and REST).
 * Every failure is a ChatError: `token_expired` for an expired token, `unauthorized` otherwise.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const getKey = toGetKey(options.keys);
  const verifyOptions = {
    algorithms: [ACCESS_TOKEN_ALG],
    issuer: options.issuer,
    audience: options.audience,
    typ: ACCESS_TOKEN_TYP,
    clockTolerance: options.clockToleranceSec ?? 5,
    requiredClaims: ['sub', 'exp', 'iat'],
  };
  const cacheSize = options.cacheSize ?? 10_000;
  const verified = new Map<string, AccessClaims>();
  return async (token) => {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new ChatError('unauthorized', 'missing or malformed token');
    }
    const known = verified.get(token);
    if (known) {
      if (known.exp * 1000 > Date.now()) return { ...known };
      verified.delete(token);
      throw new ChatError('token_expired', 'access token expired');
    }
    try {
      const { payload } = await jwtVerify(token, getKey, verifyOptions);
      const username = payload.username;
      if (
        typeof payload.sub !== 'string' ||
        typeof username !== 'string' ||
        typeof payload.exp !== 'number' ||
        typeof payload.iat !== 'number' ||
        (payload.sid !== undefined && typeof payload.sid !== 'string')
      ) {
        throw new ChatError('unauthorized', 'token claims are incomplete');
      }
      const claims: AccessClaims = {
        userId: asUserId(payload.sub),
        username,
        iat: payload.iat,
        exp: payload.exp,
      };
      if (typeof payload.sid === 'string') claims.sid = payload.sid;
      if (cacheSize > 0) {
        // Oldest first out: a Map iterates in insertion order.
        if (verified.size >= cacheSize) verified.delete(verified.keys().next().value!);
        verified.set(token, claims);
      }
      return { ...claims };
    } catch (err) {
      if (err instanceof ChatError) throw err;
      if (err instanceof errors.JWTExpired) throw new ChatError('token_expired', 'access token expired');
      if (err instanceof errors.JOSEError) throw new ChatError('unauthorized', `invalid token (${err.code})`);
      // Key-set fetch failures are the verifier's problem, not the client's.
      throw new ChatError('unavailable', 'cannot verify tokens right now', { cause: err });
    }
  };
}

function toGetKey(keys: AccessTokenVerifierOptions['keys']): JWTVerifyGetKey {
  if (keys instanceof URL)
    return createRemoteJWKSet(keys, { cooldownDuration: 10_000, cacheMaxAge: 10 * 60_000 });
  if (typeof keys === 'function') return keys;
  return createLocalJWKSet(keys);
}

/** Reads the bearer token from an `Authorization` header value. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  return match?.[1];
}
