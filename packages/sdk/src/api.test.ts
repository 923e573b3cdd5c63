import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiClient, buildUrl, codeForStatus, errorFromResponse } from './api.js';

describe('errorFromResponse', () => {
  it('uses the typed error body when there is one', () => {
    const body = JSON.stringify({
      error: {
        code: 'validation_failed',
        message: 'bad',
        fields: [{ field: '/username', message: 'short' }],
      },
    });
    const error = errorFromResponse(400, body, null);
    expect(error).toMatchObject({ code: 'validation_failed', message: 'bad' });
    expect(error.fields).toEqual([{ field: '/username', message: 'short' }]);
  });

  it('carries Retry-After (seconds or an HTTP date) as retryAfterSec', () => {
    const body = JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } });
    expect(errorFromResponse(429, body, '7').retryAfterSec).toBe(7);
    const inTenSeconds = new Date(Date.now() + 10_000).toUTCString();
    const fromDate = errorFromResponse(429, body, inTenSeconds).retryAfterSec ?? 0;
    expect(fromDate).toBeGreaterThanOrEqual(8);
    expect(fromDate).toBeLessThanOrEqual(11);
    expect(errorFromResponse(429, body, 'whenever').retryAfterSec).toBeUndefined();
  });

  it('derives the code from the status when the body is not a typed error (a proxy page)', () => {
    expect(errorFromResponse(502, '<html>Bad Gateway</html>', null).code).toBe('unavailable');
    expect(errorFromResponse(404, '', null).code).toBe('not_found');
    expect(
      errorFromResponse(400, JSON.stringify({ error: { code: 'made_up', message: 'x' } }), null).code,
    ).toBe('bad_request');
  });
});

describe('codeForStatus', () => {
  it.each([
    [400, 'bad_request'],
    [401, 'unauthorized'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [418, 'bad_request'],
    [429, 'rate_limited'],
    [500, 'internal'],
    [502, 'unavailable'],
    [503, 'unavailable'],
    [504, 'unavailable'],
  ])('%i → %s', (status, code) => {
    expect(codeForStatus(status)).toBe(code);
  });
});

describe('buildUrl', () => {
  it('joins base and path and encodes the query, skipping empty values', () => {
    expect(buildUrl('http://h:1/', '/api/x', { q: 'a b&c', limit: 5, after: undefined, cursor: null })).toBe(
      'http://h:1/api/x?q=a+b%26c&limit=5',
    );
    expect(buildUrl('http://h', '/api/x')).toBe('http://h/api/x');
    expect(buildUrl('http://h/prefix', '/api/x', {})).toBe('http://h/prefix/api/x');
  });
});

describe('ApiClient and a 401', () => {
  async function serve(code: string): Promise<{ url: string; hits: () => number; close: () => void }> {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code, message: code } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, hits: () => hits, close: () => server.close() };
  }

  it.each([
    ['token_expired', 2, 1],
    ['unauthorized', 2, 1],
    ['invalid_credentials', 1, 0],
  ])('on %s, asks %i time(s) and forces %i token refresh(es)', async (code, requests, refreshes) => {
    const server = await serve(code);
    let forced = 0;
    const client = new ApiClient({
      baseUrl: server.url,
      getToken: async ({ forceRefresh }) => {
        if (forceRefresh) forced += 1;
        return 'token';
      },
    });
    await expect(client.request('DELETE', '/api/auth/me', { body: { password: 'x' } })).rejects.toMatchObject(
      {
        code,
      },
    );
    expect([server.hits(), forced]).toEqual([requests, refreshes]);
    server.close();
  });
});
