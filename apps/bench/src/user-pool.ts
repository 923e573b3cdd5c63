import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { seedUsers } from '@relay-chat/auth';
import { ChatError, type UserId } from '@relay-chat/protocol';
import { ApiClient, AuthApi, type BodyTokenPair } from '@relay-chat/sdk';
import { inParallel } from '@relay-chat/service-kit';
import { BENCH_DIR } from './machine.js';

/** A provisioned bench user as stored under `.bench/users/`. */
export interface StoredUser {
  username: string;
  /**
   * Random: per user when registered over HTTP, shared by each seeded batch. Used only when the
   * refresh token no longer works.
   */
  password: string;
  id: string;
  /** The latest refresh token; every run spends it and stores its successor. */
  refreshToken: string;
  /** When `refreshToken` was issued, ms since the epoch (the newest copy wins when stores merge). */
  issuedAt: number;
}

interface UserFile {
  /** What the users belong to: the auth database URL or the target's origin. */
  key: string;
  /** Random tag in every username, so two stores never collide on one server. */
  tag: string;
  users: StoredUser[];
}

/** A bench user ready to connect. */
export interface BenchUser {
  index: number;
  id: UserId;
  username: string;
  accessToken: string;
}

export interface UserPoolOptions {
  /** Identifies the user database the users live in (file name under `.bench/users/`). */
  key: string;
  /** Auth base URL, e.g. http://127.0.0.1:8080 (routes /api/auth/… are appended). */
  authUrl: string;
  /**
   * The auth service's own database (`postgres://…` or `sqlite:…`), when the bench spawned the
   * target and may write to it: new users are then seeded straight into it (`seedUsers` from
   * @relay-chat/auth) instead of registered over HTTP. Absent: register + login through the API.
   */
  seedDatabaseUrl?: string;
  /** HTTP provisioning: registrations + logins in flight (each costs the server a memory-hard hash). Default 4. */
  provisionConcurrency?: number;
  /** Refreshes in flight. Default 32. */
  refreshConcurrency?: number;
  /** Told about slow steps (provisioning), one line each. */
  log?: (line: string) => void;
  /** Directory of the stores. Default `.bench/users`. */
  dir?: string;
}

/**
 * Bench users, provisioned once and reused: every run exchanges each stored refresh token for a
 * fresh access token at `/api/auth/refresh` (no password hashing) and stores the rotated refresh
 * token.
 *
 * Provisioning takes one of two paths. For a target the bench spawned (`seedDatabaseUrl`), the
 * users are seeded straight into the auth database by the auth service's own code: one real
 * password hash (production cost) shared by the batch, and one refresh-token family per user —
 * seconds for thousands. For any other target, through the real API: register + login per user,
 * two password hashes each (minutes for thousands).
 *
 * Either way nothing in the login path is weakened: a refresh token that no longer works
 * (expired, revoked, database reset) falls back to a real login with the stored password, and an
 * account that is gone is registered again.
 */
export class UserPool {
  private readonly file: string;
  private readonly auth: AuthApi;
  private data: UserFile;

  constructor(private readonly options: UserPoolOptions) {
    const dir = options.dir ?? join(BENCH_DIR, 'users');
    this.file = join(dir, `${options.key.replace(/[^a-z0-9]+/gi, '_').replace(/^_|_$/g, '')}.json`);
    this.auth = new AuthApi(new ApiClient({ baseUrl: options.authUrl, timeoutMs: 120_000 }));
    this.data = existsSync(this.file)
      ? (JSON.parse(readFileSync(this.file, 'utf8')) as UserFile)
      : { key: options.key, tag: randomBytes(3).toString('hex'), users: [] };
  }

  /** Where the store lives. */
  get path(): string {
    return this.file;
  }

  get provisioned(): number {
    return this.data.users.length;
  }

  /** Creates users until `count` exist: seeded when `seedDatabaseUrl` is set, else over HTTP. */
  async provision(count: number): Promise<void> {
    const start = this.data.users.length;
    if (count <= start) return;
    if (this.options.seedDatabaseUrl) await this.seed(this.options.seedDatabaseUrl, count - start);
    else await this.register(count - start);
  }

  /** Seeds `missing` users into the auth database; every stored batch is saved at once. */
  private async seed(databaseUrl: string, missing: number): Promise<void> {
    const log = this.options.log ?? (() => {});
    log(`seeding ${missing} bench users into the auth database (one shared password hash)…`);
    let done = 0;
    try {
      await seedUsers({
        databaseUrl,
        count: missing,
        usernamePrefix: `bench_${this.data.tag}_`,
        onBatch: ({ password, users }) => {
          for (const user of users) this.data.users.push({ ...user, password });
          done += users.length;
          if (done < missing) log(`  ${done}/${missing} seeded`);
          this.save();
        },
      });
    } finally {
      // An interrupted seeding keeps the batches it stored.
      this.save();
    }
  }

  /** Registers and logs in `missing` users over HTTP (in parallel, bounded). */
  private async register(missing: number): Promise<void> {
    const log = this.options.log ?? (() => {});
    log(`provisioning ${missing} bench users (register + login: one password hash each)…`);
    let done = 0;
    let lastSave = Date.now();
    try {
      await inParallel(missing, this.options.provisionConcurrency ?? 4, async () => {
        const username = `bench_${this.data.tag}_${randomBytes(4).toString('hex')}`;
        const password = randomBytes(12).toString('base64url');
        await asTold(() => this.auth.register(username, password));
        const pair = await asTold(() => this.auth.login(username, password));
        this.data.users.push({
          username,
          password,
          id: pair.user.id,
          refreshToken: pair.refreshToken,
          issuedAt: Date.now(),
        });
        done++;
        if (Date.now() - lastSave > 10_000) {
          lastSave = Date.now();
          log(`  ${done}/${missing} provisioned`);
          this.save();
        }
      });
    } finally {
      // An interrupted provisioning keeps what it did.
      this.save();
    }
  }

  /**
   * Fresh access tokens for the first `count` users (provisioning missing ones first). The
   * rotated refresh tokens are saved before this returns.
   */
  async acquire(count: number): Promise<BenchUser[]> {
    await this.provision(count);
    const users = this.data.users.slice(0, count);
    const result: BenchUser[] = new Array(count);
    try {
      await inParallel(count, this.options.refreshConcurrency ?? 32, async (i) => {
        const stored = users[i]!;
        const pair = await this.renew(stored);
        stored.refreshToken = pair.refreshToken;
        stored.issuedAt = Date.now();
        stored.id = pair.user.id;
        result[i] = { index: i, id: pair.user.id, username: stored.username, accessToken: pair.accessToken };
      });
    } finally {
      this.save();
    }
    return result;
  }

  private async renew(stored: StoredUser): Promise<BodyTokenPair> {
    try {
      return await this.auth.refresh(stored.refreshToken);
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'invalid_refresh_token') throw err;
    }
    try {
      return await this.auth.login(stored.username, stored.password);
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'invalid_credentials') throw err;
    }
    await this.auth.register(stored.username, stored.password);
    return this.auth.login(stored.username, stored.password);
  }

  private save(): void {
    this.write(this.data);
  }

  /**
   * Writes the store atomically. Another bench process may have rotated some tokens since
   * this one read the file: per user, the copy with the newest token wins.
   */
  private write(data: UserFile): void {
    mkdirSync(dirname(this.file), { recursive: true });
    if (existsSync(this.file)) {
      const onDisk = JSON.parse(readFileSync(this.file, 'utf8')) as UserFile;
      const mine = new Map(data.users.map((u) => [u.username, u]));
      for (const theirs of onDisk.users) {
        const own = mine.get(theirs.username);
        if (!own) data.users.push(theirs);
        else if ((theirs.issuedAt ?? 0) > (own.issuedAt ?? 0)) Object.assign(own, theirs);
      }
    }
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/**
 * Runs `call` again while auth refuses it as too busy hashing passwords (`rate_limited`,
 * which it answers when the expected wait for a hash slot is too long, as on a loaded
 * machine), after the wait it names (at most 5 s), up to 10 attempts.
 */
async function asTold<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof ChatError) || err.code !== 'rate_limited' || attempt >= 10) throw err;
      await sleep(Math.min(5, err.retryAfterSec ?? 1) * 1000);
    }
  }
}
