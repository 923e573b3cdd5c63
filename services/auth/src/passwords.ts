import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ChatError, LIMITS } from '@relay-chat/protocol';
import { ScryptThreads } from './scrypt-threads.js';

/** scrypt cost parameters (RFC 7914). */
export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/**
 * OWASP Password Storage Cheat Sheet's scrypt parameters: N=2^17, r=8, p=1 — 128 MiB and
 * (here) a few hundred milliseconds per hash.
 * https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html#scrypt
 */
export const OWASP_SCRYPT_PARAMS: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
/** Salt length, bytes. */
export const SALT_BYTES = 16;
/** Derived key length, bytes. */
export const KEY_BYTES = 32;

// Stored hashes are parsed from the database: refuse parameters that would make one verification
// a denial of service, whatever the row says.
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

/** How many hashing threads, and how nice they are to the rest of the process. */
export interface HashingThreads {
  /** Threads for logins (verifications, re-hashes). Default 1. */
  login?: number;
  /** Threads for sign-ups. Default 1. */
  signup?: number;
}

/**
 * Niceness of login hashing: a little below the event loop (everyone's messages), above
 * sign-ups. Nice values weigh a thread against every process on the machine, not only this
 * one: a steep value (15 was tried) starved sign-ups for tens of seconds whenever anything
 * else kept the cores busy, and held a shutdown until its deadline. The order within the
 * service is the hash scheduler's job (logins first, bounded waits); these only lean.
 */
const LOGIN_NICE = 2;
/** Niceness of sign-up hashing: below logins, still a fair share of a busy machine. */
const SIGNUP_NICE = 6;

/**
 * Hashes and verifies passwords with scrypt on threads of their own (ScryptThreads), at a
 * lower CPU priority than the event loop: on a busy machine, messages go first, then logins,
 * then sign-ups. A hash is stored self-describing, `scrypt$N=131072,r=8,p=1$<salt>$<key>`
 * (base64url), so the parameters can change later: `needsRehash` tells when a stored hash is
 * weaker. Passwords are NFKC-normalised (NIST SP 800-63B §5.1.1.2), never truncated, and
 * refused above LIMITS.passwordMaxChars before any hashing.
 */
export class PasswordHasher {
  readonly params: Readonly<ScryptParams>;
  private dummy: Promise<string> | undefined;
  private readonly loginThreads: ScryptThreads;
  private readonly signupThreads: ScryptThreads;

  constructor(params: Readonly<ScryptParams> = OWASP_SCRYPT_PARAMS, threads: HashingThreads = {}) {
    this.params = Object.freeze({ ...params });
    this.loginThreads = new ScryptThreads(threads.login ?? 1, LOGIN_NICE);
    this.signupThreads = new ScryptThreads(threads.signup ?? 1, SIGNUP_NICE);
  }

  /** A new hash of `password`; `signup` computes it at the sign-up priority. */
  async hash(password: string, options: { signup?: boolean } = {}): Promise<string> {
    const normalized = normalize(password);
    const salt = randomBytes(SALT_BYTES);
    const threads = options.signup ? this.signupThreads : this.loginThreads;
    const key = await threads.derive(normalized, salt, this.params, KEY_BYTES, maxmemOf(this.params));
    const { N, r, p } = this.params;
    return `scrypt$N=${N},r=${r},p=${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
  }

  /** Whether `password` matches `stored`; false (never a throw) for a malformed stored hash. */
  async verify(password: string, stored: string): Promise<boolean> {
    const normalized = normalize(password);
    const parsed = parse(stored);
    if (!parsed) return false;
    const key = await this.loginThreads.derive(
      normalized,
      parsed.salt,
      parsed.params,
      parsed.key.length,
      maxmemOf(parsed.params),
    );
    return timingSafeEqual(key, parsed.key);
  }

  /**
   * Pays for one verification against a hash of a random password: the unknown-user path of
   * login costs what a wrong password costs, so timing does not reveal which usernames exist.
   */
  async verifyDummy(password: string): Promise<false> {
    await this.verify(password, await this.dummyHash());
    return false;
  }

  /** Computes the dummy hash now (in the background) rather than on the first unknown-user login. */
  prepareDummy(): void {
    this.dummyHash().catch(() => {
      // Retried by the first verifyDummy.
      this.dummy = undefined;
    });
  }

  private dummyHash(): Promise<string> {
    this.dummy ??= this.hash(randomBytes(24).toString('base64url'));
    return this.dummy;
  }

  /** Stops the hashing threads. */
  async close(): Promise<void> {
    await Promise.all([this.loginThreads.close(), this.signupThreads.close()]);
  }

  /** Whether a stored hash was made with other parameters than the current ones. */
  needsRehash(stored: string): boolean {
    const parsed = parse(stored);
    if (!parsed) return true;
    const { N, r, p } = parsed.params;
    return (
      N !== this.params.N || r !== this.params.r || p !== this.params.p || parsed.key.length !== KEY_BYTES
    );
  }
}

/** The parameters a stored hash was made with, or undefined when it is not one of ours. */
export function paramsOf(stored: string): ScryptParams | undefined {
  return parse(stored)?.params;
}

function normalize(password: string): string {
  // The route schema already bounds the length; this guards every other caller.
  if ([...password].length > LIMITS.passwordMaxChars) {
    throw new ChatError('validation_failed', 'password is too long', {
      fields: [
        { field: '/password', message: `must not have more than ${LIMITS.passwordMaxChars} characters` },
      ],
    });
  }
  return password.normalize('NFKC');
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

const HASH_FORMAT = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$/;

function parse(stored: string): ParsedHash | undefined {
  const match = HASH_FORMAT.exec(stored);
  if (!match) return undefined;
  const [, n, r, p, salt, key] = match;
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  const powerOfTwo = params.N > 1 && (params.N & (params.N - 1)) === 0;
  if (
    !powerOfTwo ||
    params.N > MAX_N ||
    params.r < 1 ||
    params.r > MAX_R ||
    params.p < 1 ||
    params.p > MAX_P
  ) {
    return undefined;
  }
  const saltBytes = Buffer.from(salt!, 'base64url');
  const keyBytes = Buffer.from(key!, 'base64url');
  if (saltBytes.length < 8 || keyBytes.length < 16) return undefined;
  return { params, salt: saltBytes, key: keyBytes };
}

/** scrypt needs 128·N·r bytes; Node's default maxmem (32 MiB) is below OWASP's 128 MiB. */
function maxmemOf(params: ScryptParams): number {
  return 128 * params.N * params.r * 2;
}
