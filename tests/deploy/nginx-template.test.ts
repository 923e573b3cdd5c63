/**
 * What the nginx template says, read directive by directive: the security headers equal
 * the embedded server's table (apps/server/src/security-headers.ts) for every kind of path,
 * every error nginx answers itself is a contract body with its code's status, and the
 * internal routes are closed. (nginx-edge.test.ts checks the same against a running nginx.)
 */
import { type NginxDirective, nginxDirectivesOf, renderNginxConfig } from '@relay-chat/cluster';
import { ERROR_CODES, isErrorBody, isErrorCode } from '@relay-chat/protocol';
import { COMMON_SECURITY_HEADERS, securityHeadersFor } from '@relay-chat/server';
import { describe, expect, it } from 'vitest';

const config = renderNginxConfig({
  listen: '127.0.0.1:8080',
  webRoot: '/srv/web',
  authServers: ['127.0.0.1:8001'],
  chatServers: ['127.0.0.1:8002'],
  pidFile: '/tmp/x/nginx.pid',
  errorLog: 'stderr',
  accessLog: 'off',
  tempDir: '/tmp/x',
});
const directives = nginxDirectivesOf(config);
const SERVER = ['http', 'server'];

const inServer = (d: NginxDirective) => d.blocks.join('|') === SERVER.join('|');
const locationOf = (d: NginxDirective) => d.blocks[2];

/** The paths of each kind the web client, the API and the docs serve. */
const SAMPLE_PATHS = [
  '/',
  '/c/some-conversation',
  '/assets/index-abc123.js',
  '/ws',
  '/api/chat/conversations',
  '/api/auth/login',
  '/api/nope',
  '/api/auth/docs',
  '/api/chat/docs/json',
];

/** Evaluates `map <source> $<variable>` for `input` as nginx does: first matching regex, else default. */
function mapValue(variable: string, input: string): string {
  const entries = directives.filter(
    (d) => d.blocks[1]?.startsWith('map ') && d.blocks[1].endsWith(` $${variable}`),
  );
  expect(entries.length, `map for $${variable}`).toBeGreaterThan(0);
  for (const { name, args } of entries) {
    if (name.startsWith('~') && new RegExp(name.slice(1)).test(input)) return args[0] ?? '';
  }
  return entries.find((e) => e.name === 'default')?.args[0] ?? '';
}

describe('the nginx template', () => {
  it('sends, at server level, the same common security headers as the embedded server', () => {
    const literal: Record<string, string> = {};
    for (const d of directives.filter((x) => inServer(x) && x.name === 'add_header')) {
      const [name = '', value = ''] = d.args;
      expect(d.args.at(-1), `${name} is sent on errors too`).toBe('always');
      if (!value.startsWith('$')) literal[name.toLowerCase()] = value;
    }
    expect(literal).toEqual(COMMON_SECURITY_HEADERS);
  });

  it('has no location with add_header of its own (it would drop every header of the server)', () => {
    expect(directives.filter((d) => d.name === 'add_header' && !inServer(d))).toEqual([]);
  });

  it('sends the same Content-Security-Policy as the embedded server, path by path', () => {
    const csp = directives.find(
      (d) => inServer(d) && d.name === 'add_header' && /^content-security-policy$/i.test(d.args[0] ?? ''),
    );
    expect(csp?.args[1]).toBe('$content_security_policy');
    for (const path of SAMPLE_PATHS) {
      const fromNginx = mapValue('content_security_policy', path);
      expect(fromNginx === '' ? undefined : fromNginx, path).toBe(
        securityHeadersFor(path)['content-security-policy'],
      );
    }
  });

  it("limits the web client's connections to its own origin", () => {
    const csp = securityHeadersFor('/')['content-security-policy'] ?? '';
    expect(csp.split('; ')).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/ws:|wss:/);
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('drops the upstreams’ own copies of the security headers', () => {
    const hidden = directives
      .filter((d) => inServer(d) && d.name === 'proxy_hide_header')
      .map((d) => d.args[0]?.toLowerCase());
    for (const name of Object.keys(securityHeadersFor('/'))) expect(hidden, name).toContain(name);
  });

  it('answers every error it raises itself with a contract body and the status of its code', () => {
    const pages = new Map<number, string>();
    for (const d of directives.filter((x) => inServer(x) && x.name === 'error_page')) {
      const uri = d.args.at(-1) ?? '';
      const rewrite = d.args.find((a) => a.startsWith('='));
      for (const status of d.args.filter((a) => /^\d{3}$/.test(a))) {
        pages.set(Number(status), uri);
        const target = directives.find((x) => locationOf(x) === `location = ${uri}` && x.name === 'return');
        expect(target, `${status} → ${uri}`).toBeDefined();
        const [answered = '', text = ''] = target?.args ?? [];
        const body: unknown = JSON.parse(text);
        expect(isErrorBody(body), `${uri} body`).toBe(true);
        const code = (body as { error: { code: string } }).error.code;
        expect(isErrorCode(code) && ERROR_CODES[code].status, `${uri}: status of ${code}`).toBe(
          Number(answered),
        );
        expect(rewrite, `${status} is answered as ${answered}`).toBe(`=${answered}`);
        expect(
          directives.some((x) => locationOf(x) === `location = ${uri}` && x.name === 'internal'),
          `${uri} is internal`,
        ).toBe(true);
      }
    }
    expect([...pages.keys()].sort()).toEqual([400, 413, 414, 431, 494, 500, 502, 503, 504]);
    const codeOf = (status: number) => {
      const uri = pages.get(status);
      const target = directives.find((x) => locationOf(x) === `location = ${uri}` && x.name === 'return');
      return (JSON.parse(target?.args[1] ?? '{}') as { error: { code: string } }).error.code;
    };
    expect([400, 414, 431, 494].map(codeOf)).toEqual([
      'bad_request',
      'bad_request',
      'bad_request',
      'bad_request',
    ]);
    expect(codeOf(413)).toBe('payload_too_large');
    expect(codeOf(500)).toBe('internal');
    expect([502, 503, 504].map(codeOf)).toEqual(['unavailable', 'unavailable', 'unavailable']);
  });

  it('closes metrics and internal routes of every service with a JSON not_found', () => {
    const closed = directives.filter(
      (d) => d.name === 'return' && d.args[0] === '404' && locationOf(d)?.startsWith('location ~ '),
    );
    const patterns = closed.map((d) => new RegExp((locationOf(d) ?? '').replace(/^location ~ /, '')));
    const isClosed = (path: string) => patterns.some((p) => p.test(path));
    for (const path of [
      '/api/chat/metrics',
      '/api/auth/metrics',
      '/api/auth/internal/revocations',
      '/api/x/internal/',
    ]) {
      expect(isClosed(path), path).toBe(true);
    }
    for (const path of [
      '/api/chat/conversations',
      '/api/auth/login',
      '/api/chat/metricsish',
      '/api/chat/docs/internal',
    ]) {
      expect(isClosed(path), path).toBe(false);
    }
    const internal = closed.find((d) => /metrics/.test(locationOf(d) ?? ''));
    expect(JSON.parse(internal?.args[1] ?? '{}')).toMatchObject({ error: { code: 'not_found' } });
  });
});
