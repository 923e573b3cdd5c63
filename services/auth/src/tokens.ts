import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { User } from '@relay-chat/protocol';
import { ACCESS_TOKEN_ALG, ACCESS_TOKEN_TYP } from '@relay-chat/tokens';
import { calculateJwkThumbprint, type JSONWebKeySet, type JWK, SignJWT } from 'jose';

/** A public key as published in the JWKS. */
export interface PublicJwk extends JWK {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: typeof ACCESS_TOKEN_ALG;
  use: 'sig';
}

/**
 * The service's Ed25519 signing key and the public keys it publishes. The current key signs;
 * a previous public key (during a rotation) is only published, so tokens it signed keep
 * verifying until they expire. `kid` is the RFC 7638 JWK thumbprint.
 */
export class SigningKeys {
  private constructor(
    readonly privateKey: KeyObject,
    readonly current: PublicJwk,
    private readonly published: readonly PublicJwk[],
  ) {}

  static async create(source: {
    /** PKCS#8 PEM of the signing key; absent → `keyFile` (read, or generated at first start). */
    privateKeyPem?: string | undefined;
    keyFile: string;
    /** SPKI PEM of the previous public key, published beside the current one. */
    previousPublicKeyPem?: string | undefined;
  }): Promise<SigningKeys> {
    const privateKey = createPrivateKey(source.privateKeyPem ?? readOrCreateKeyFile(source.keyFile));
    const current = await publicJwkOf(createPublicKey(privateKey));
    const published = [current];
    if (source.previousPublicKeyPem) {
      const previous = await publicJwkOf(createPublicKey(source.previousPublicKeyPem));
      if (previous.kid !== current.kid) published.push(previous);
    }
    return new SigningKeys(privateKey, current, Object.freeze(published));
  }

  /** The published public keys: the current one first, then the previous one if any. */
  publicKeys(): PublicJwk[] {
    return this.published.map((key) => ({ ...key }));
  }

  /** The JWKS document (`publicKeys` as a key set). */
  jwks(): JSONWebKeySet {
    return { keys: this.publicKeys() };
  }
}

function readOrCreateKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  mkdirSync(dirname(path), { recursive: true });
  // Written aside then renamed: a crash never leaves a half-written key behind.
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, pem, { mode: 0o600 });
  renameSync(temp, path);
  return pem;
}

async function publicJwkOf(key: KeyObject): Promise<PublicJwk> {
  if (key.asymmetricKeyType !== 'ed25519') throw new Error('signing keys must be Ed25519');
  const jwk = key.export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; x: string };
  const kid = await calculateJwkThumbprint({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'sha256');
  return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: ACCESS_TOKEN_ALG, use: 'sig' };
}

export interface AccessTokenIssuerOptions {
  keys: SigningKeys;
  issuer: string;
  audience: string;
  /** Token life, seconds. */
  ttlSec: number;
}

/**
 * Signs access tokens (RFC 9068 style): header `alg: EdDSA`, `typ: at+jwt`, `kid`; claims `iss`,
 * `aud`, `sub` (user id), `username`, `iat`, `exp`, and `sid` (the session: the refresh-token
 * family) for tokens of a login. The verifier in @relay-chat/tokens requires all but `sid`.
 */
export class AccessTokenIssuer {
  constructor(private readonly options: AccessTokenIssuerOptions) {}

  get ttlSec(): number {
    return this.options.ttlSec;
  }

  /**
   * A signed token for `user`, issued at `nowMs` (milliseconds since the epoch), of the session
   * `sid` when given.
   */
  issue(user: User, nowMs: number = Date.now(), sid?: string): Promise<string> {
    const { keys, issuer, audience, ttlSec } = this.options;
    const iat = Math.floor(nowMs / 1000);
    return new SignJWT(sid === undefined ? { username: user.username } : { username: user.username, sid })
      .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: keys.current.kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(user.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttlSec)
      .sign(keys.privateKey);
  }
}

/** Refresh tokens are 256 random bits, base64url (43 characters). */
export const REFRESH_TOKEN_BYTES = 32;

/** A new opaque refresh token. Only its hash (`hashRefreshToken`) is ever stored. */
export function newRefreshToken(): string {
  return randomBytes(REFRESH_TOKEN_BYTES).toString('base64url');
}

/**
 * SHA-256 of a refresh token, hex. A fast hash suffices: the token is 256 random bits, so a
 * stolen table cannot be brute-forced back to tokens.
 */
export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
