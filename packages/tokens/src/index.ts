import { createPublicKey, KeyObject, type webcrypto } from 'node:crypto';
import { asUserId, ChatError, type UserId } from '@relay-chat/protocol';
import { createDecoder, createVerifier, TokenError } from 'fast-jwt';
import {
  type CompactJWSHeaderParameters,
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
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
 * Signatures are checked with node:crypto (fast-jwt), not WebCrypto: about 1.4× less time per
 * verification; jose still selects the key (kid, alg, use) and fetches a remote key set.
 */
export function createAccessTokenVerifier(options: AccessTokenVerifierOptions): AccessTokenVerifier {
  const getKey = toGetKey(options.keys);
  const verifierOptions = {
    algorithms: [ACCESS_TOKEN_ALG] as const,
    allowedIss: options.issuer,
    allowedAud: options.audience,
    checkTyp: ACCESS_TOKEN_TYP,
    // fast-jwt counts tolerance in milliseconds.
    clockTolerance: (options.clockToleranceSec ?? 5) * 1000,
    // iss and aud too: fast-jwt checks a claim's value only when the claim is there.
    requiredClaims: ['sub', 'exp', 'iat', 'iss', 'aud'],
    cache: false,
  };
  // One signature checker per key the key set resolves to: the key is parsed once, not per token.
  const checkers = new WeakMap<object, (token: string) => Record<string, unknown>>();
  const checkerFor = (key: KeyLike): ((token: string) => Record<string, unknown>) => {
    let checker = checkers.get(key);
    if (!checker) {
      const pem = publicKeyObjectOf(key).export({ format: 'pem', type: 'spki' }) as string;
      checker = createVerifier({ ...verifierOptions, algorithms: [...verifierOptions.algorithms], key: pem });
      checkers.set(key, checker);
    }
    return checker;
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
      // The header first: the algorithm must be allowed before a key is looked up by its kid.
      const { header, signature, input } = decodeComplete(token);
      if (header.alg !== ACCESS_TOKEN_ALG) {
        throw new TokenError(TokenError.codes.invalidAlgorithm, 'The token algorithm is invalid.');
      }
      const dot = input.indexOf('.');
      const key = await getKey(header, {
        protected: input.slice(0, dot),
        payload: input.slice(dot + 1),
        signature,
      });
      const payload = checkerFor(key)(token);
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
      if (err instanceof TokenError) {
        if (err.code === TokenError.codes.expired)
          throw new ChatError('token_expired', 'access token expired');
        throw new ChatError('unauthorized', `invalid token (${err.code})`);
      }
      if (err instanceof errors.JWTExpired) throw new ChatError('token_expired', 'access token expired');
      if (err instanceof errors.JOSEError) throw new ChatError('unauthorized', `invalid token (${err.code})`);
      // Key-set fetch failures are the verifier's problem, not the client's.
      throw new ChatError('unavailable', 'cannot verify tokens right now', { cause: err });
    }
  };
}

/** Splits and parses a token (base64url checked strictly) without verifying it. */
const decodeComplete: (token: string) => {
  header: CompactJWSHeaderParameters;
  signature: string;
  input: string;
} = createDecoder({ complete: true });

/** What a key set's getKey resolves to. */
type KeyLike = Awaited<ReturnType<JWTVerifyGetKey>>;

/** The public key a key set resolved to, as a node:crypto KeyObject (verified with crypto.verify). */
function publicKeyObjectOf(key: KeyLike): KeyObject {
  if (key instanceof Uint8Array) throw new TypeError('a secret cannot verify EdDSA');
  const object =
    key instanceof KeyObject
      ? (key as KeyObject)
      : 'algorithm' in key && 'type' in key
        ? KeyObject.from(key as webcrypto.CryptoKey)
        : createPublicKey({ key: key as JWK & { kty: string }, format: 'jwk' });
  // EdDSA covers Ed448 too, as it did with jose; relay-chat's auth signs with Ed25519.
  if (
    object.type !== 'public' ||
    (object.asymmetricKeyType !== 'ed25519' && object.asymmetricKeyType !== 'ed448')
  ) {
    throw new TypeError('access tokens are verified with an EdDSA public key');
  }
  return object;
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
