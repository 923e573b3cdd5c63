import type { ErrorCode } from '@relay-chat/protocol';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, bearer, type Harness, startAuth } from '../testing/harness.js';

interface BadRequest {
  name: string;
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  /** A raw string is sent as is; an object as JSON. */
  body?: string | object;
  contentType?: string;
  /** Send the caller's bearer token. Default true for GET. */
  auth?: boolean;
  headers?: Record<string, string>;
  status: number;
  code: ErrorCode;
  /** For validation_failed: the field that must be named. */
  field?: string;
}

const ok = { username: 'valid_user', password: 'a fine password' };
const json = 'application/json';

const CASES: BadRequest[] = [
  // --- the body is not JSON, or not a JSON object ---
  {
    name: 'register: malformed JSON',
    url: 'register',
    body: '{"username": "x",',
    contentType: json,
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'login: malformed JSON',
    url: 'login',
    body: '{username: alice}',
    contentType: json,
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'refresh: malformed JSON',
    url: 'refresh',
    body: '"unterminated',
    contentType: json,
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'register: empty JSON body',
    url: 'register',
    body: '',
    contentType: json,
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'login: text/plain body',
    url: 'login',
    body: 'username=alice',
    contentType: 'text/plain',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'register: form-encoded body',
    url: 'register',
    body: 'username=a&password=b',
    contentType: 'application/x-www-form-urlencoded',
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'register: a JSON array',
    url: 'register',
    body: '[1,2]',
    contentType: json,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'login: JSON null',
    url: 'login',
    body: 'null',
    contentType: json,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'logout: a JSON string',
    url: 'logout',
    body: '"token"',
    contentType: json,
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'register: __proto__ pollution',
    url: 'register',
    body: '{"username":"a_user","password":"long enough","__proto__":{"admin":true}}',
    contentType: json,
    status: 400,
    code: 'bad_request',
  },
  {
    name: 'register: body over 16 KiB',
    url: 'register',
    body: { username: 'big_user', password: 'x'.repeat(17 * 1024) },
    status: 413,
    code: 'payload_too_large',
  },
  // --- missing, extra and wrongly typed fields ---
  {
    name: 'register: missing password',
    url: 'register',
    body: { username: 'no_password' },
    status: 400,
    code: 'validation_failed',
    field: '/',
  },
  {
    name: 'register: missing username',
    url: 'register',
    body: { password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/',
  },
  {
    name: 'register: extra field',
    url: 'register',
    body: { ...ok, admin: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'register: username is a number',
    url: 'register',
    body: { username: 12345, password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: password is null',
    url: 'register',
    body: { username: 'null_pw', password: null },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  {
    name: 'register: password is an object',
    url: 'register',
    body: { username: 'obj_pw', password: { $ne: '' } },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  {
    name: 'login: extra field',
    url: 'login',
    body: { ...ok, remember: true },
    status: 400,
    code: 'validation_failed',
  },
  {
    name: 'login: username is an array',
    url: 'login',
    body: { username: ['alice'], password: 'whatever' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'login: empty password',
    url: 'login',
    body: { username: 'alice', password: '' },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  { name: 'refresh: missing refreshToken', url: 'refresh', body: {}, status: 400, code: 'validation_failed' },
  {
    name: 'refresh: refreshToken is a number',
    url: 'refresh',
    body: { refreshToken: 42 },
    status: 400,
    code: 'validation_failed',
    field: '/refreshToken',
  },
  {
    name: 'refresh: empty refreshToken',
    url: 'refresh',
    body: { refreshToken: '' },
    status: 400,
    code: 'validation_failed',
    field: '/refreshToken',
  },
  {
    name: 'refresh: refreshToken too long',
    url: 'refresh',
    body: { refreshToken: 'r'.repeat(513) },
    status: 400,
    code: 'validation_failed',
    field: '/refreshToken',
  },
  {
    name: 'logout: extra field',
    url: 'logout',
    body: { refreshToken: 'abc', everywhere: true },
    status: 400,
    code: 'validation_failed',
  },
  // --- username and password rules ---
  {
    name: 'register: username too short',
    url: 'register',
    body: { username: 'ab', password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: username too long',
    url: 'register',
    body: { username: 'a'.repeat(33), password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: username with a space',
    url: 'register',
    body: { username: 'al ice', password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: username with non-ASCII letters',
    url: 'register',
    body: { username: 'ålice', password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: username with a slash',
    url: 'register',
    body: { username: '../etc', password: 'long enough' },
    status: 400,
    code: 'validation_failed',
    field: '/username',
  },
  {
    name: 'register: password too short',
    url: 'register',
    body: { username: 'short_pw', password: '1234567' },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  {
    name: 'register: password over 256 characters',
    url: 'register',
    body: { username: 'long_pw', password: 'p'.repeat(257) },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  {
    name: 'login: password over 256 characters',
    url: 'login',
    body: { username: 'alice', password: 'p'.repeat(257) },
    status: 400,
    code: 'validation_failed',
    field: '/password',
  },
  // --- query strings and parameters ---
  {
    name: 'users: limit 0',
    method: 'GET',
    url: 'users?limit=0',
    status: 400,
    code: 'validation_failed',
    field: '/limit',
  },
  {
    name: 'users: limit 101',
    method: 'GET',
    url: 'users?limit=101',
    status: 400,
    code: 'validation_failed',
    field: '/limit',
  },
  {
    name: 'users: limit not a number',
    method: 'GET',
    url: 'users?limit=ten',
    status: 400,
    code: 'validation_failed',
    field: '/limit',
  },
  {
    name: 'users: q with a wildcard',
    method: 'GET',
    url: 'users?q=a%25',
    status: 400,
    code: 'validation_failed',
    field: '/q',
  },
  {
    name: 'users: q too long',
    method: 'GET',
    url: `users?q=${'a'.repeat(33)}`,
    status: 400,
    code: 'validation_failed',
    field: '/q',
  },
  {
    name: 'users: a forged cursor',
    method: 'GET',
    url: `users?cursor=${Buffer.from('<script>').toString('base64url')}`,
    status: 400,
    code: 'validation_failed',
    field: '/cursor',
  },
  {
    name: 'users: cursor with bad characters',
    method: 'GET',
    url: 'users?cursor=a%2Bb%2F',
    status: 400,
    code: 'validation_failed',
    field: '/cursor',
  },
  {
    name: 'users: ids with a space',
    method: 'GET',
    url: 'users?ids=a%20b',
    status: 400,
    code: 'validation_failed',
    field: '/ids',
  },
  {
    name: 'users: ids with an empty entry',
    method: 'GET',
    url: 'users?ids=a,,b',
    status: 400,
    code: 'validation_failed',
    field: '/ids',
  },
  {
    name: 'users: ids combined with q',
    method: 'GET',
    url: 'users?ids=a&q=b',
    status: 400,
    code: 'validation_failed',
    field: '/ids',
  },
  {
    name: 'users/:id: id with bad characters',
    method: 'GET',
    url: 'users/a.b',
    status: 400,
    code: 'validation_failed',
    field: '/id',
  },
  // --- authentication and routing ---
  { name: 'me: no token', method: 'GET', url: 'me', auth: false, status: 401, code: 'unauthorized' },
  {
    name: 'me: garbage bearer token',
    method: 'GET',
    url: 'me',
    auth: false,
    headers: { authorization: 'Bearer not.a.jwt' },
    status: 401,
    code: 'unauthorized',
  },
  {
    name: 'me: oversized bearer token',
    method: 'GET',
    url: 'me',
    auth: false,
    headers: { authorization: `Bearer ${'a'.repeat(5000)}` },
    status: 401,
    code: 'unauthorized',
  },
  { name: 'users: no token', method: 'GET', url: 'users', auth: false, status: 401, code: 'unauthorized' },
  { name: 'POST to a GET route', url: 'me', body: {}, status: 404, code: 'not_found' },
  { name: 'GET on a POST route', method: 'GET', url: 'login', status: 404, code: 'not_found' },
  { name: 'PUT register', method: 'PUT', url: 'register', body: ok, status: 404, code: 'not_found' },
  { name: 'unknown route', method: 'GET', url: 'admin', status: 404, code: 'not_found' },
];

describe.each(BACKENDS)('bad input on $name', (backend) => {
  describe.skipIf(!backend.available)('every malformed request gets its 4xx code', () => {
    let h: Harness;
    let token: string;

    beforeAll(async () => {
      h = await startAuth(backend);
      token = await h.service.issueAccessToken(await h.seedUser('bad_input_user'));
    });
    afterAll(async () => {
      await h?.close();
    });

    it('has at least 30 cases', () => {
      expect(CASES.length).toBeGreaterThanOrEqual(30);
    });

    it.each(CASES)('$name → $status $code', async (c) => {
      const method = c.method ?? 'POST';
      const headers: Record<string, string> = { ...c.headers };
      if (c.auth ?? method === 'GET') Object.assign(headers, bearer(token));
      const request: InjectOptions = { method, url: `/api/auth/${c.url}`, headers };
      if (c.body !== undefined) {
        request.payload = typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
        headers['content-type'] = c.contentType ?? json;
      }
      const res = await h.app.inject(request);
      expect({ status: res.statusCode, code: res.json().error?.code }).toEqual({
        status: c.status,
        code: c.code,
      });
      expect(res.json().error.message).toEqual(expect.any(String));
      if (c.field !== undefined) {
        expect(res.json().error.fields).toEqual(
          expect.arrayContaining([expect.objectContaining({ field: c.field })]),
        );
      }
    });

    it('is still healthy and serves a valid request afterwards', async () => {
      expect((await h.app.inject({ method: 'GET', url: '/api/auth/health' })).statusCode).toBe(200);
      expect((await h.app.inject({ method: 'GET', url: '/api/auth/ready' })).statusCode).toBe(200);
      const res = await h.app.inject({ method: 'POST', url: '/api/auth/register', payload: ok });
      expect(res.statusCode).toBe(201);
    });
  });
});
