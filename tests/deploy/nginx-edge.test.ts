/**
 * The edge for real: Debian's nginx with the one configuration (deploy/nginx) in front of the
 * embedded server (both upstreams point at it: the same route modules as auth and chat, on
 * SQLite, so no PostgreSQL or Redis is needed). Every error nginx or a service answers must be
 * a contract body; internal routes must stay unreachable through nginx; security headers must
 * match the embedded server's, path by path.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNginxConfig, ServiceProcess } from '@relay-chat/cluster';
import { isErrorBody } from '@relay-chat/protocol';
import { securityHeadersFor } from '@relay-chat/server';
import { freePort } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawGet, rawRequest } from '../server/raw-http.js';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { request } from '../support/http.js';

const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const MIME_TYPES = '/etc/nginx/mime.types';
const nginxInstalled = spawnSync(NGINX, ['-v']).status === 0 && existsSync(MIME_TYPES);
if (!nginxInstalled) console.warn('\n!!! nginx is not installed: SKIPPING the nginx edge tests !!!\n');

const SECURITY_HEADER_NAMES = Object.keys(securityHeadersFor('/')).concat('content-security-policy');

describe.skipIf(!nginxInstalled)('nginx in front of the services', () => {
  let work: string;
  let server: TestServer;
  let nginx: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'relay-nginx-edge-'));
    // nginx's workers drop to an unprivileged user when started as root.
    chmodSync(work, 0o755);
    const webRoot = join(work, 'web');
    const temp = join(work, 'temp');
    for (const dir of [webRoot, temp]) {
      mkdirSync(dir);
      chmodSync(dir, 0o755);
    }
    writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>relay-chat</title>\n');
    server = await startTestServer({ WEB_DIR: webRoot });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const upstream = [`127.0.0.1:${server.server.port}`];
    writeFileSync(
      join(work, 'nginx.conf'),
      renderNginxConfig({
        listen: `127.0.0.1:${port}`,
        webRoot,
        authServers: upstream,
        chatServers: upstream,
        pidFile: join(work, 'nginx.pid'),
        errorLog: join(work, 'error.log'),
        accessLog: 'off',
        tempDir: temp,
        mimeTypes: MIME_TYPES,
        workerProcesses: 1,
      }),
    );
    nginx = new ServiceProcess({
      name: 'nginx',
      command: NGINX,
      args: ['-p', work, '-c', join(work, 'nginx.conf'), '-g', 'daemon off;'],
      env: process.env,
      cwd: work,
      logFile: join(work, 'nginx.log'),
      verbose: false,
      readyUrl: `${url}/healthz`,
      readyTimeoutMs: 15_000,
      stopTimeoutMs: 5000,
      lastResortSignal: 'SIGTERM',
    });
    await nginx.start();
  }, 60_000);

  afterAll(async () => {
    await nginx?.stop();
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  function securityHeadersOf(headers: Headers | Record<string, string>): Record<string, string> {
    const get = (name: string) => (headers instanceof Headers ? headers.get(name) : headers[name]);
    const found: Record<string, string> = {};
    for (const name of SECURITY_HEADER_NAMES) {
      const value = get(name);
      if (value !== null && value !== undefined) found[name] = value;
    }
    return found;
  }

  it('sends the same security headers as the embedded server, path by path', async () => {
    for (const path of [
      '/',
      '/c/some-conversation',
      '/api/chat/conversations',
      '/api/nope',
      '/api/auth/docs/json',
    ]) {
      const [viaNginx, direct] = await Promise.all([fetch(url + path), fetch(server.url + path)]);
      await Promise.all([viaNginx.arrayBuffer(), direct.arrayBuffer()]);
      expect(securityHeadersOf(viaNginx.headers), `nginx ${path}`).toEqual(securityHeadersFor(path));
      expect(securityHeadersOf(direct.headers), `embedded ${path}`).toEqual(securityHeadersFor(path));
    }
  });

  it('answers 404 not_found for metrics and internal routes, however the path is spelled', async () => {
    for (const path of [
      '/api/chat/metrics',
      '/api/auth/metrics',
      '/api/auth/metrics?format=text',
      '/api/chat//metrics',
      '/api/chat/%6detrics',
      '/api/chat/./metrics',
      '/api/auth/internal/revocations',
      '/api/chat/internal/anything',
    ]) {
      const response = await rawGet(url, path);
      expect(response.status, path).toBe(404);
      expect(response.body, path).toMatchObject({ error: { code: 'not_found' } });
    }
    // From inside, directly, they answer.
    const metrics = await request<string>(server.url, 'GET', '/api/chat/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('http_request_duration_seconds');
  });

  it('answers a request the service sees as proxied to an internal route with not_found too', async () => {
    const proxied = await request(server.url, 'GET', '/api/auth/metrics', {
      headers: { 'x-forwarded-for': '203.0.113.5' },
    });
    expect([proxied.status, proxied.body]).toEqual([
      404,
      { error: { code: 'not_found', message: 'no route GET /api/auth/metrics' } },
    ]);
  });

  it('answers a path id over 100 characters with a contract bad_request from the service', async () => {
    const response = await rawGet(url, `/api/chat/conversations/${'x'.repeat(150)}`);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: { code: 'bad_request', message: 'a path segment is longer than 100 characters' },
    });
  });

  it('answers a URL or headers over its buffers with contract bad_request bodies from nginx', async () => {
    const cases: [string, () => ReturnType<typeof rawGet>, string][] = [
      [
        'long query on the API',
        () => rawGet(url, `/api/chat/conversations?q=${'x'.repeat(10_000)}`),
        'The URL is too long.',
      ],
      ['long query on /ws', () => rawGet(url, `/ws?q=${'x'.repeat(10_000)}`), 'The URL is too long.'],
      [
        'one header over 8 KiB',
        () => rawGet(url, '/api/chat/conversations', { cookie: 'x'.repeat(10_000) }),
        'The request headers are too large.',
      ],
      [
        'headers over 32 KiB in all',
        () =>
          rawGet(
            url,
            '/api/auth/login',
            Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`x-filler-${i}`, 'y'.repeat(7000)])),
          ),
        'The request headers are too large.',
      ],
    ];
    for (const [what, send, message] of cases) {
      const response = await send();
      expect(response.status, what).toBe(400);
      expect(response.headers['content-type'], what).toContain('application/json');
      expect(response.body, what).toEqual({ error: { code: 'bad_request', message } });
    }
  });

  it('answers malformed HTTP with a contract bad_request from nginx', async () => {
    const response = await rawRequest(
      url,
      'GET /api/chat/health HTTP/1.1\r\nHost: a\r\nBroken header line\r\n\r\n',
    );
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: { code: 'bad_request', message: 'The request is malformed.' } });
  });

  it('answers an unexpected field by name, through nginx', async () => {
    const response = await request(url, 'POST', '/api/auth/register', {
      body: { username: 'edgy', password: 'correct horse battery', admin: true },
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: {
        code: 'validation_failed',
        message: 'body: unexpected field "admin"',
        fields: [{ field: '/admin', message: 'unexpected field "admin"' }],
      },
    });
  });

  it('answers bodies over 16 KiB with a contract payload_too_large', async () => {
    const response = await request(url, 'POST', '/api/auth/login', {
      body: { username: 'someone', password: 'x'.repeat(20_000) },
    });
    expect([response.status, isErrorBody(response.body)]).toEqual([413, true]);
    expect(response.body).toMatchObject({ error: { code: 'payload_too_large' } });
  });

  // Last: it stops the upstream.
  it('answers 503 unavailable, with Retry-After and the security headers, when no upstream answers', async () => {
    await server.close();
    for (const path of ['/api/chat/conversations', '/api/auth/health', '/ws']) {
      const response = await rawGet(url, path);
      expect(response.status, path).toBe(503);
      expect(response.body, path).toEqual({
        error: { code: 'unavailable', message: 'The service is unavailable.' },
      });
      expect(response.headers['retry-after'], path).toBe('2');
      expect(securityHeadersOf(response.headers), path).toEqual(securityHeadersFor(path));
    }
  }, 30_000);
});
