import { connect } from 'node:net';
import { isErrorBody } from '@relay-chat/protocol';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerWithin, clientErrorAnswer, createHttpServer, type HttpServer } from './http.js';
import { createLogger } from './logger.js';

const logger = createLogger({ name: 'http-test', level: 'silent' });

async function testServer(): Promise<HttpServer> {
  const app = createHttpServer({ logger });
  app.post(
    '/api/test/items',
    {
      schema: {
        body: Type.Object(
          {
            name: Type.String({ maxLength: 10 }),
            meta: Type.Optional(Type.Object({ tag: Type.String() }, { additionalProperties: false })),
          },
          { additionalProperties: false },
        ),
      },
    },
    async () => ({ ok: true }),
  );
  app.get('/api/test/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  app.get('/api/test/refused', async () => {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  });
  app.get('/api/test/broken', async () => {
    throw new TypeError('secret detail');
  });
  await app.ready();
  return app;
}

/** Sends raw bytes and resolves with everything the server wrote before closing. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      answer += chunk;
    });
    socket.on('close', () => resolve(answer));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNRESET' ? resolve(answer) : reject(err),
    );
    socket.write(bytes);
  });
}

function parseRaw(answer: string): { status: number; headers: string; body: unknown } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body: JSON.parse(body) };
}

describe('createHttpServer error bodies', () => {
  let app: HttpServer;
  beforeAll(async () => {
    app = await testServer();
  });
  afterAll(() => app.close());

  it('names an unexpected body field instead of "schema is false", keeping its path in fields', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/test/items',
      payload: { name: 'a', x: 1 },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: {
        code: 'validation_failed',
        message: 'body: unexpected field "x"',
        fields: [{ field: '/x', message: 'unexpected field "x"' }],
      },
    });
  });

  it('names every unexpected field, nested ones under their object', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/api/test/items',
      payload: { name: 'a', meta: { tag: 't', 'we/ird': 1 }, y: 2 },
    });
    const { error } = response.json();
    expect(error.message).not.toContain('schema is false');
    expect(error.fields).toEqual(
      expect.arrayContaining([
        { field: '/y', message: 'unexpected field "y"' },
        { field: '/meta/we~1ird', message: 'unexpected field "we/ird"' },
      ]),
    );
    expect(error.fields).toHaveLength(2);
    expect(['body: unexpected field "y"', 'body/meta: unexpected field "we/ird"']).toContain(error.message);
  });

  it('keeps the usual message for a wrong value', async () => {
    const response = await app.inject({ method: 'POST', url: '/api/test/items', payload: { name: 5 } });
    expect(response.json().error).toMatchObject({
      code: 'validation_failed',
      message: 'body/name: must be string',
    });
  });

  it('answers a path parameter over 100 characters with a contract bad_request, not a bare 414', async () => {
    const response = await app.inject({ method: 'GET', url: `/api/test/items/${'x'.repeat(101)}` });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.json()).toEqual({
      error: { code: 'bad_request', message: 'a path segment is longer than 100 characters' },
    });
    const ok = await app.inject({ method: 'GET', url: `/api/test/items/${'x'.repeat(100)}` });
    expect(ok.statusCode).toBe(200);
  });

  it('answers a path that is not valid URL encoding with a contract bad_request', async () => {
    const response = await app.inject({ method: 'GET', url: '/api/test/items/%E0%A4%A' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'bad_request' } });
  });

  it('answers a refused database connection with 503 unavailable and anything unknown with 500 internal', async () => {
    const refused = await app.inject({ method: 'GET', url: '/api/test/refused' });
    expect([refused.statusCode, refused.json()]).toEqual([
      503,
      { error: { code: 'unavailable', message: 'The service is unavailable.' } },
    ]);
    const broken = await app.inject({ method: 'GET', url: '/api/test/broken' });
    expect([broken.statusCode, broken.json()]).toEqual([
      500,
      { error: { code: 'internal', message: 'Internal error.' } },
    ]);
  });
});

describe("Node's HTTP parser errors", () => {
  let app: HttpServer;
  let port: number;
  beforeAll(async () => {
    app = await testServer();
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(() => app.close());

  it('answer malformed HTTP with a contract bad_request', async () => {
    const answer = parseRaw(await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n'));
    expect(answer.status).toBe(400);
    expect(answer.headers).toContain('content-type: application/json');
    expect(answer.body).toEqual({ error: { code: 'bad_request', message: 'the request is not valid HTTP' } });
  });

  it('answer headers over the limit (a very long query) with a contract bad_request, not a bare 431', async () => {
    const answer = parseRaw(
      await rawRequest(port, `GET /api/test/items?q=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: a\r\n\r\n`),
    );
    expect(answer.status).toBe(400);
    expect(isErrorBody(answer.body)).toBe(true);
    expect(answer.body).toEqual({
      error: { code: 'bad_request', message: 'the request headers are too large' },
    });
  });

  it('answer a request not received in time with a contract bad_request', () => {
    const timeout = Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' });
    expect(clientErrorAnswer(timeout)?.toBody()).toEqual({
      error: { code: 'bad_request', message: 'the request was not received in time' },
    });
    expect(clientErrorAnswer(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBeUndefined();
  });

  it('still serve well-formed requests on the same server', async () => {
    const answer = await rawRequest(
      port,
      'GET /api/test/items/abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toContain('{"id":"abc"}');
  });
});

describe('answerWithin', () => {
  it('answers a request still running at the deadline with 503 unavailable, and sends nothing after', async () => {
    const app = createHttpServer({ logger });
    let finish: (() => void) | undefined;
    await app.register(async (scope) => {
      const api = scope as unknown as HttpServer;
      answerWithin(api, 200);
      api.get('/slow', async () => {
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
        return { late: true };
      });
      api.get('/fast', async () => ({ ok: true }));
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    try {
      const started = performance.now();
      const slow = await fetch(`http://127.0.0.1:${port}/slow`);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(slow.status).toBe(503);
      expect(slow.headers.get('retry-after')).toBe('1');
      expect(await slow.json()).toMatchObject({ error: { code: 'unavailable' } });
      finish?.();
      const fast = await fetch(`http://127.0.0.1:${port}/fast`);
      expect(await fast.json()).toEqual({ ok: true });
    } finally {
      await app.close();
    }
  });
});
