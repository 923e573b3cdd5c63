/**
 * The embedded server's edge, as a browser and the internet see it: the security headers
 * nginx sends in a cluster (from the same table), internal routes closed to anything but
 * direct requests from inside, contract bodies for errors Node and the router raise, and —
 * in Debian's Chromium — a policy that lets the page open its own socket, blocks any other
 * origin, and cannot be framed.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { securityHeadersFor } from '@relay-chat/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../browser/harness.js';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { registerUser, request } from '../support/http.js';
import { rawGet } from './raw-http.js';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-embedded-edge-'));
  // A page with no policy of its own (the built client adds a <meta> one), so that only the
  // server's header is in force in the browser tests below.
  writeFileSync(
    join(work, 'index.html'),
    '<!doctype html><html><head><title>edge</title></head><body></body></html>\n',
  );
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The embedded server serving the page above as its web client. */
function start(env: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({ WEB_DIR: work, ...env });
}

describe('the embedded server', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server?.close());

  it('sends the security headers for the web client, the API, its errors and the docs', async () => {
    for (const path of [
      '/',
      '/c/some-conversation',
      '/api/chat/conversations',
      '/api/auth/nope',
      '/api/auth/docs/json',
    ]) {
      const response = await fetch(server.url + path);
      await response.arrayBuffer();
      const expected = securityHeadersFor(path);
      for (const [name, value] of Object.entries(expected))
        expect(response.headers.get(name), `${path} ${name}`).toBe(value);
      if (!('content-security-policy' in expected))
        expect(response.headers.get('content-security-policy')).toBeNull();
    }
    const shell = await fetch(server.url);
    expect(shell.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(shell.headers.get('content-security-policy')).toContain("connect-src 'self';");
    expect(shell.headers.get('x-content-type-options')).toBe('nosniff');
    expect(shell.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('answers metrics directly from loopback, and not_found to a proxied request', async () => {
    for (const service of ['auth', 'chat']) {
      const direct = await request<string>(server.url, 'GET', `/api/${service}/metrics`);
      expect(direct.status).toBe(200);
      const proxied = await request(server.url, 'GET', `/api/${service}/metrics`, {
        headers: { 'x-real-ip': '203.0.113.5' },
      });
      expect([proxied.status, proxied.body]).toEqual([
        404,
        { error: { code: 'not_found', message: `no route GET /api/${service}/metrics` } },
      ]);
    }
  });

  it('answers errors from the router and from Node’s parser with contract bodies', async () => {
    const longId = await request(server.url, 'GET', `/api/chat/conversations/${'x'.repeat(150)}`);
    expect([longId.status, longId.body]).toEqual([
      400,
      { error: { code: 'bad_request', message: 'a path segment is longer than 100 characters' } },
    ]);
    const longQuery = await rawGet(server.url, `/api/chat/conversations?q=${'x'.repeat(20_000)}`);
    expect([longQuery.status, longQuery.body]).toEqual([
      400,
      { error: { code: 'bad_request', message: 'the request headers are too large' } },
    ]);
    const extra = await request(server.url, 'POST', '/api/auth/login', {
      body: { username: 'ann', password: 'correct horse battery', remember: true },
    });
    expect(extra.body).toMatchObject({
      error: { code: 'validation_failed', message: 'body: unexpected field "remember"' },
    });
  });
});

describe('the embedded server with INTERNAL_NETWORKS set', () => {
  it('answers metrics only to the listed networks', async () => {
    const server = await start({ INTERNAL_NETWORKS: '10.0.0.0/8' });
    try {
      const metrics = await request(server.url, 'GET', '/api/chat/metrics');
      expect([metrics.status, metrics.body]).toMatchObject([404, { error: { code: 'not_found' } }]);
      expect((await request(server.url, 'GET', '/api/chat/health')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('refuses to start on a value that is not a list of networks', async () => {
    await expect(start({ INTERNAL_NETWORKS: 'everyone' })).rejects.toThrow('INTERNAL_NETWORKS');
  });
});

describe.skipIf(!existsSync(CHROMIUM))('the embedded server in Chromium', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server?.close());

  it("opens its own socket under connect-src 'self', blocks another origin's, and cannot be framed", async () => {
    const user = await registerUser(server.url, 'csp');
    const browser = await launchChromium();
    try {
      const context = await browser.newContext();
      await context.addInitScript(() => {
        const seen: { directive: string; blocked: string; policy: string }[] = [];
        (window as unknown as { violations: typeof seen }).violations = seen;
        document.addEventListener('securitypolicyviolation', (e) =>
          seen.push({ directive: e.effectiveDirective, blocked: e.blockedURI, policy: e.originalPolicy }),
        );
      });
      const page = await context.newPage();
      const console: string[] = [];
      page.on('console', (message) => console.push(message.text()));
      await page.goto(server.url);

      const first = await page.evaluate(
        (token) =>
          new Promise<string>((resolve) => {
            const socket = new WebSocket(`ws://${location.host}/ws`, ['relay-chat.v1', `bearer.${token}`]);
            socket.onmessage = (event) => {
              resolve(JSON.parse(String(event.data)).type);
              socket.close();
            };
            socket.onerror = () => resolve('error');
          }),
        user.accessToken,
      );
      expect(first).toBe('ready');
      const violations = () =>
        page.evaluate(() => (window as unknown as { violations: unknown[] }).violations);
      expect(await violations()).toEqual([]);

      // The same server under another origin (localhost, not 127.0.0.1) is not 'self'.
      const other = server.url.replace('127.0.0.1', 'localhost').replace('http', 'ws');
      await page.evaluate(
        (target) =>
          new Promise<void>((resolve) => {
            try {
              const socket = new WebSocket(`${target}/ws`);
              socket.onerror = () => resolve();
              socket.onopen = () => resolve();
            } catch {
              resolve();
            }
          }),
        other,
      );
      await expect.poll(violations).toEqual([
        expect.objectContaining({
          directive: 'connect-src',
          policy: expect.stringContaining("frame-ancestors 'none'"),
        }),
      ]);

      // A page elsewhere cannot frame the client.
      const framer = await context.newPage();
      const refused: string[] = [];
      framer.on('console', (message) => refused.push(message.text()));
      await framer.setContent(`<iframe src="${server.url}/"></iframe>`);
      await expect.poll(() => refused.join('\n')).toMatch(/frame-ancestors 'none'/);
      await expect.poll(() => framer.frames()[1]?.url()).toMatch(/^chrome-error:/);
      expect(
        console.filter((line) => /Content Security Policy/i.test(line) && !line.includes('localhost')),
      ).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
