/**
 * The local cluster for real: auth, three chat replicas and nginx (Debian's, with the one
 * configuration from deploy/nginx) started by the launcher against a fresh PostgreSQL
 * database and a private Redis prefix. Everything below goes through nginx.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Cluster, startCluster } from '@relay-chat/cluster';
import {
  cleanRedisPrefix,
  createTestDatabase,
  pgAvailable,
  redisAvailable,
  redisTestPrefix,
  type TestDatabase,
  waitFor,
} from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CHROMIUM,
  conversationItem,
  expectText,
  launchChromium,
  openDmWith,
  sendFromComposer,
  signUp as signUpInBrowser,
  waitOnline,
} from '../browser/harness.js';
import { ensureWebBuilt } from '../browser/web-build.js';

const ready = (await pgAvailable()) && (await redisAvailable());
interface Session {
  token: string;
  userId: string;
}

interface Frame {
  type: string;
  [key: string]: unknown;
}

describe.skipIf(!ready)('local cluster behind nginx', () => {
  let database: TestDatabase;
  let cluster: Cluster;
  let redisPrefix: string;

  beforeAll(async () => {
    // nginx serves the real client (built now if missing or stale), as `npm run cluster` does.
    await ensureWebBuilt();
    database = await createTestDatabase('cluster');
    redisPrefix = redisTestPrefix('cluster');
    cluster = await startCluster({ replicas: 3, port: 0, databaseUrl: database.url, redisPrefix });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    await database?.drop();
    if (redisPrefix) await cleanRedisPrefix(redisPrefix);
  }, 60_000);

  async function api(path: string, init: RequestInit & { token?: string; json?: unknown } = {}) {
    const headers = new Headers(init.headers);
    if (init.token) headers.set('authorization', `Bearer ${init.token}`);
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    const response = await fetch(`${cluster.url}${path}`, {
      ...init,
      headers,
      body: init.json === undefined ? init.body : JSON.stringify(init.json),
    });
    const text = await response.text();
    const body = text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
    return { status: response.status, headers: response.headers, body };
  }

  async function signUp(): Promise<Session> {
    const username = `u${randomBytes(5).toString('hex')}`;
    const password = 'correct horse battery';
    const registered = await api('/api/auth/register', { method: 'POST', json: { username, password } });
    expect(registered.status).toBe(201);
    const login = await api('/api/auth/login', { method: 'POST', json: { username, password } });
    expect(login.status).toBe(200);
    return { token: login.body.accessToken, userId: login.body.user.id };
  }

  /** Opens a socket through nginx and resolves with it and its first frame. */
  function connect(token: string, options: WebSocket.ClientOptions = {}, protocols?: string[]) {
    return new Promise<{ socket: WebSocket; first: Frame }>((resolve, reject) => {
      const socket = new WebSocket(cluster.wsUrl, protocols, {
        headers: protocols ? {} : { authorization: `Bearer ${token}` },
        ...options,
      });
      socket.once('message', (data) => resolve({ socket, first: JSON.parse(String(data)) as Frame }));
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`upgrade refused with HTTP ${response.statusCode}`)),
      );
      socket.once('error', reject);
    });
  }

  function chatUpstreamsInAccessLog(): Set<string> {
    const log = readFileSync(join(cluster.logDir, 'nginx-access.log'), 'utf8');
    const upstreams = new Set<string>();
    for (const line of log.split('\n')) {
      if (!line.includes('"GET /api/chat/health"')) continue;
      for (const address of line.matchAll(/127\.0\.0\.1:(\d+)/g)) {
        const url = `http://127.0.0.1:${address[1]}`;
        if (cluster.chatUrls.includes(url)) upstreams.add(url);
      }
    }
    return upstreams;
  }

  it('routes /api/auth/ to auth and /api/chat/ to chat', async () => {
    const jwks = await api('/api/auth/jwks.json');
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys.length).toBeGreaterThan(0);
    expect((await api('/api/auth/health')).body).toEqual({ status: 'ok' });
    const chatReady = await api('/api/chat/ready');
    expect(chatReady.status).toBe(200);
    expect(chatReady.body.checks).toHaveProperty('bus', 'ok');
  });

  it('answers unknown API paths with a JSON not_found, from nginx and from a service', async () => {
    for (const path of ['/api/nope', '/api/chat/nope', '/api/auth/nope']) {
      const response = await api(path);
      expect(response.status, path).toBe(404);
      expect(response.body.error.code, path).toBe('not_found');
    }
  });

  it('serves the web client shell at / and at client-side routes with security headers', async () => {
    for (const path of ['/', '/some/client/route']) {
      const response = await api(path);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      const csp = response.headers.get('content-security-policy') ?? '';
      for (const directive of [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
      ]) {
        expect(csp).toContain(directive);
      }
      expect(response.headers.get('x-content-type-options')).toBe('nosniff');
      expect(response.headers.get('x-frame-options')).toBe('DENY');
      expect(response.headers.get('server')).toBe('nginx');
    }
  });

  it('caches hashed assets for a year and never answers a missing one with the app shell', async () => {
    const missing = await api('/assets/no-such-file.js');
    expect(missing.status).toBe(404);
    if (!cluster.servesWebClient) return;
    const shell = String((await api('/')).body);
    const asset = /(?:src|href)="(\/assets\/[^"]+)"/.exec(shell)?.[1];
    expect(asset, 'index.html links a hashed asset').toBeDefined();
    const response = await api(asset ?? '');
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  });

  it('compresses large API responses, but not the token-bearing auth ones', async () => {
    const headers = { 'accept-encoding': 'gzip' };
    const chatDocs = await api('/api/chat/docs/json', { headers });
    expect(chatDocs.status).toBe(200);
    expect(chatDocs.headers.get('content-encoding')).toBe('gzip');
    const authDocs = await api('/api/auth/docs/json', { headers });
    expect(authDocs.status).toBe(200);
    expect(authDocs.headers.get('content-encoding')).toBeNull();
  });

  it('refuses request bodies over 16 KiB with a JSON payload_too_large', async () => {
    const response = await api('/api/auth/login', {
      method: 'POST',
      json: { username: 'someone', password: 'x'.repeat(20_000) },
    });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('payload_too_large');
  });

  it('upgrades /ws through nginx with a token from a login through nginx', async () => {
    const { token, userId } = await signUp();
    const { socket, first } = await connect(token);
    expect(first.type).toBe('ready');
    expect((first.user as { id: string }).id).toBe(userId);
    socket.close();

    // The browser way: token in the subprotocol list, an allowed Origin.
    const browser = await connect(token, { origin: cluster.url }, ['relay-chat.v1', `bearer.${token}`]);
    expect(browser.first.type).toBe('ready');
    expect(browser.socket.protocol).toBe('relay-chat.v1');
    browser.socket.close();
  });

  it('refuses an upgrade without a token before any 101', async () => {
    await expect(connect('', { headers: {} })).rejects.toThrow('HTTP 401');
  });

  it('spreads requests over more than one replica', async () => {
    for (let i = 0; i < 12; i++) expect((await api('/api/chat/health')).status).toBe(200);
    expect(chatUpstreamsInAccessLog().size).toBeGreaterThan(1);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    'runs the web client in Chromium through nginx: a DM arrives live, and the CSP blocks nothing',
    async () => {
      expect(cluster.servesWebClient).toBe(true);
      const browser = await launchChromium();
      const problems: string[] = [];
      try {
        const open = async () => {
          const context = await browser.newContext({ baseURL: cluster.url });
          const page = await context.newPage();
          page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
          page.on('console', (msg) => {
            if (msg.type() === 'error' || /Content Security Policy/i.test(msg.text())) {
              problems.push(`console: ${msg.text()}`);
            }
          });
          return page;
        };
        const [alicePage, bobPage] = [await open(), await open()];
        const alice = `alice${randomBytes(3).toString('hex')}`;
        const bob = `bob${randomBytes(3).toString('hex')}`;
        await signUpInBrowser(bobPage, bob);
        await waitOnline(bobPage);
        await signUpInBrowser(alicePage, alice);
        await waitOnline(alicePage);
        await openDmWith(alicePage, bob);
        await sendFromComposer(alicePage, 'hello through nginx');
        // Bob's sidebar shows the DM arriving live (over his socket, likely on another
        // replica); opening it shows the message.
        await expect
          .poll(() => conversationItem(bobPage, alice).textContent(), { timeout: 30_000 })
          .toContain('hello through nginx');
        await conversationItem(bobPage, alice).click();
        await expectText(bobPage.locator('[data-testid="message"] .message-text'), 'hello through nginx');
      } catch (err) {
        await Promise.all(
          browser
            .contexts()
            .map((c, i) => c.pages()[0]?.screenshot({ path: `/tmp/cluster-browser-${i}.png` })),
        );
        throw new Error(`${(err as Error).message}\npage problems: ${JSON.stringify(problems)}`, {
          cause: err,
        });
      } finally {
        await browser.close();
      }
      expect(problems.filter((p) => !/Failed to load resource/.test(p))).toEqual([]);
    },
    120_000,
  );

  it('keeps serving through nginx when a replica is killed, and takes it back after a restart', async () => {
    const { token } = await signUp();
    const sockets = await Promise.all([0, 1, 2, 3, 4, 5].map(() => connect(token)));
    const closed = sockets.map(
      ({ socket }) => new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
    );

    const victim = cluster.replicas[0]!;
    const exit = await victim.kill('SIGKILL');
    expect(exit?.signal).toBe('SIGKILL');

    // Reads and writes land on the surviving replicas.
    for (let i = 0; i < 10; i++) expect((await api('/api/chat/health')).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const created = await api('/api/chat/conversations', {
        method: 'POST',
        token,
        json: { kind: 'channel', name: `after-kill-${i}-${randomBytes(3).toString('hex')}` },
      });
      expect(created.status).toBe(201);
    }
    // Clients whose socket died reconnect through nginx and land on a live replica; the
    // others never noticed.
    const dropped = await waitFor(
      async () => {
        const states = await Promise.all(closed.map((c) => Promise.race([c, Promise.resolve(false)])));
        return states.filter(Boolean).length || undefined;
      },
      { timeoutMs: 10_000, what: "the killed replica's sockets to close" },
    );
    expect(dropped).toBeLessThan(sockets.length);
    for (let i = 0; i < dropped; i++) {
      const again = await connect(token);
      expect(again.first.type).toBe('ready');
      again.socket.close();
    }
    for (const { socket } of sockets) socket.terminate();

    const mark = accessLogLength();
    await victim.restart();
    expect(victim.running).toBe(true);
    expect((await fetch(`${cluster.chatUrls[0]}/api/chat/ready`)).status).toBe(200);
    // Once its fail_timeout has passed, nginx sends it requests again.
    const port = new URL(cluster.chatUrls[0]!).port;
    await waitFor(
      async () => {
        await api('/api/chat/health');
        return accessLogSince(mark).some((line) => line.includes(`127.0.0.1:${port} 200`));
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'nginx to route to the restarted replica' },
    );
  }, 120_000);

  function accessLogLength(): number {
    return readFileSync(join(cluster.logDir, 'nginx-access.log'), 'utf8').length;
  }

  function accessLogSince(mark: number): string[] {
    return readFileSync(join(cluster.logDir, 'nginx-access.log'), 'utf8').slice(mark).split('\n');
  }
});
