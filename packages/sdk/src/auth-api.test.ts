import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuthService, createAuthService, loadAuthConfig } from '@relay-chat/auth';
import { ChatError } from '@relay-chat/protocol';
import { createHttpServer, createLogger, type HttpServer } from '@relay-chat/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from './api.js';
import { AuthApi } from './auth-api.js';
import { Session } from './session.js';

const PASSWORD = 'correct horse battery staple';

/**
 * The browser's part in cookie mode, for Node's fetch (which keeps no cookies): stores what
 * `Set-Cookie` sets (Max-Age=0 deletes) and sends back each cookie whose Path covers the URL.
 */
function cookieJarFetch() {
  const jar = new Map<string, { value: string; path: string }>();
  const fetchWithCookies: FetchLike = async (input, init = {}) => {
    const url = new URL(input);
    const cookies = [...jar]
      .filter(([, c]) => url.pathname === c.path || url.pathname.startsWith(`${c.path}/`))
      .map(([name, c]) => `${name}=${c.value}`);
    const headers = new Headers(init.headers);
    if (cookies.length > 0) headers.set('cookie', cookies.join('; '));
    const response = await fetch(input, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split('; ');
      const [name, value] = pair!.split('=') as [string, string];
      const path = attributes.find((a) => a.startsWith('Path='))?.slice(5) ?? '/';
      if (attributes.includes('Max-Age=0')) jar.delete(name);
      else jar.set(name, { value, path });
    }
    return response;
  };
  return { fetch: fetchWithCookies, jar };
}

async function rejection(promise: Promise<unknown>): Promise<ChatError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ChatError) return err;
    throw err;
  }
  throw new Error('expected a ChatError');
}

describe('AuthApi against the real auth service', () => {
  let dataDir: string;
  let service: AuthService;
  let app: HttpServer;
  let baseUrl: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'sdk-auth-'));
    const logger = createLogger({ name: 'sdk-auth-test', level: 'silent' });
    service = await createAuthService(loadAuthConfig({ DATA_DIR: dataDir }), logger, {
      // A test cost: the production one is measured in services/auth.
      passwordParams: { N: 2 ** 10, r: 8, p: 1 },
    });
    app = createHttpServer({ logger });
    await service.register(app);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    if (typeof address !== 'object' || !address) throw new Error('not listening');
    baseUrl = `http://localhost:${address.port}`;
    await new AuthApi(new ApiClient({ baseUrl })).register('nia', PASSWORD);
    await new AuthApi(new ApiClient({ baseUrl })).register('oli', PASSWORD);
  });
  afterAll(async () => {
    await app?.close();
    await service?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('body mode: login and refresh answer the refresh token, logout ends the session', async () => {
    const auth = new AuthApi(new ApiClient({ baseUrl }));
    const pair = await auth.login('nia', PASSWORD);
    expect(pair.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const next = await auth.refresh(pair.refreshToken);
    expect(next.refreshToken).not.toBe(pair.refreshToken);
    await auth.logout(next.refreshToken);
    expect((await rejection(auth.refresh(next.refreshToken))).code).toBe('invalid_refresh_token');
  });

  it('cookie mode: the refresh token never reaches the caller, and a Session refreshes through the cookie', async () => {
    const browser = cookieJarFetch();
    const auth = new AuthApi(new ApiClient({ baseUrl, fetch: browser.fetch }));
    const pair = await auth.loginWithCookie('nia', PASSWORD);
    expect(pair.refreshToken).toBeUndefined();
    expect(browser.jar.get('relay_refresh')?.path).toBe('/api/auth/refresh');
    const first = browser.jar.get('relay_refresh')!.value;

    const session = new Session({ refreshWithCookie: () => auth.refreshWithCookie() });
    session.set(pair);
    expect(session.tokens?.refreshToken).toBeUndefined();
    // (Within the same second the new access token may equal the old one: same claims.)
    expect(await session.getToken({ forceRefresh: true })).toEqual(expect.any(String));
    expect(browser.jar.get('relay_refresh')!.value).not.toBe(first);

    await auth.logoutWithCookie();
    expect(browser.jar.has('relay_refresh')).toBe(false);
    expect((await rejection(auth.refreshWithCookie())).code).toBe('invalid_refresh_token');
  });

  it('moves a body-mode session into the cookie', async () => {
    const browser = cookieJarFetch();
    const auth = new AuthApi(new ApiClient({ baseUrl, fetch: browser.fetch }));
    const { refreshToken } = await auth.login('nia', PASSWORD);
    const moved = await auth.moveSessionToCookie(refreshToken);
    expect(moved.refreshToken).toBeUndefined();
    expect((await auth.refreshWithCookie()).user.username).toBe('nia');
    // The body token was spent by the move.
    expect(browser.jar.get('relay_refresh')?.value).not.toBe(refreshToken);
  });

  it('deletes the account after checking its password', async () => {
    const tokenless = new AuthApi(new ApiClient({ baseUrl }));
    const session = new Session({ refresh: (t) => tokenless.refresh(t) });
    session.set(await tokenless.login('oli', PASSWORD));
    const auth = new AuthApi(new ApiClient({ baseUrl, getToken: session.getToken }));
    expect((await rejection(auth.deleteAccount('not the password'))).code).toBe('invalid_credentials');
    await auth.deleteAccount(PASSWORD);
    expect((await rejection(tokenless.login('oli', PASSWORD))).code).toBe('invalid_credentials');
  });
});
