import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envNetworks } from './config.js';
import { createHttpServer, type HttpServer, registerCommonRoutes } from './http.js';
import { DEFAULT_INTERNAL_NETWORKS, InternalNetworks, parseCidr } from './internal-networks.js';
import { createLogger } from './logger.js';

const logger = createLogger({ name: 'internal-test', level: 'silent' });

/** A service scope as auth and chat build theirs: common routes first, then its own. */
async function service(internalNetworks?: readonly string[]): Promise<HttpServer> {
  const app = createHttpServer({ logger, ...(internalNetworks ? { internalNetworks } : {}) });
  await app.register(async (scope: HttpServer) => {
    await registerCommonRoutes(scope, { prefix: '/api/svc', readiness: {}, title: 't', description: 'd' });
    await scope.register(async (routes: HttpServer) => {
      routes.get('/api/svc/internal/revocations', async () => ({ revoked: [] }));
      routes.get('/api/svc/public', async () => ({ ok: true }));
    });
  });
  await app.ready();
  return app;
}

describe('InternalNetworks', () => {
  const networks = new InternalNetworks();

  it('contains loopback, RFC 1918 and unique-local addresses by default', () => {
    for (const inside of [
      '127.0.0.1',
      '::1',
      '10.1.2.3',
      '172.20.0.5',
      '192.168.1.9',
      '::ffff:10.0.0.7',
      'fd12::1',
    ]) {
      expect(networks.contains(inside), inside).toBe(true);
    }
    for (const outside of [
      '203.0.113.5',
      '172.32.0.1',
      '8.8.8.8',
      '2001:db8::1',
      '::ffff:8.8.8.8',
      '',
      'nonsense',
    ]) {
      expect(networks.contains(outside), outside).toBe(false);
    }
  });

  it('refuses a request that came through a proxy, whatever its peer address', () => {
    expect(networks.admits('10.0.0.2', {})).toBe(true);
    expect(networks.admits('10.0.0.2', { 'x-forwarded-for': '203.0.113.5' })).toBe(false);
    expect(networks.admits('10.0.0.2', { forwarded: 'for=203.0.113.5' })).toBe(false);
    expect(networks.admits('10.0.0.2', { 'x-real-ip': '10.0.0.9' })).toBe(false);
  });

  it('parses addresses and CIDRs, and refuses anything else', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefix: 8, family: 'ipv4' });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefix: 128, family: 'ipv6' });
    for (const bad of ['10.0.0.0/33', 'fc00::/129', 'example.com', '10.0.0.0/8/1', '10.0.0.0/x']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
    expect(() => new InternalNetworks(['everyone'])).toThrow('"everyone"');
  });

  it('is read from the environment as a checked list', () => {
    expect(envNetworks({}, 'INTERNAL_NETWORKS', DEFAULT_INTERNAL_NETWORKS)).toEqual(
      DEFAULT_INTERNAL_NETWORKS,
    );
    expect(envNetworks({ INTERNAL_NETWORKS: '10.0.0.0/8, ::1' }, 'INTERNAL_NETWORKS', [])).toEqual([
      '10.0.0.0/8',
      '::1',
    ]);
    expect(() => envNetworks({ INTERNAL_NETWORKS: '10.0.0.0/8,all' }, 'INTERNAL_NETWORKS', [])).toThrow(
      'INTERNAL_NETWORKS: must list addresses or CIDRs, got "all"',
    );
  });
});

describe('internal routes of a service', () => {
  let app: HttpServer;
  beforeAll(async () => {
    app = await service();
  });
  afterAll(() => app.close());

  const get = (url: string, remoteAddress: string, headers: Record<string, string> = {}) =>
    app.inject({ method: 'GET', url, remoteAddress, headers });

  it('answer direct requests from inside the deployment', async () => {
    for (const from of ['127.0.0.1', '10.0.3.4', '::ffff:192.168.0.2']) {
      const metrics = await get('/api/svc/metrics', from);
      expect(metrics.statusCode, from).toBe(200);
      expect(metrics.body).toContain('http_request_duration_seconds');
      expect((await get('/api/svc/internal/revocations', from)).json()).toEqual({ revoked: [] });
    }
  });

  it('answer not_found, like a route that does not exist, to the outside and to anything proxied', async () => {
    const missing = (await get('/api/svc/nope', '127.0.0.1')).json();
    expect(missing.error.code).toBe('not_found');
    for (const [from, headers] of [
      ['203.0.113.5', {}],
      ['2001:db8::1', {}],
      ['127.0.0.1', { 'x-forwarded-for': '203.0.113.5' }],
      ['10.0.0.2', { 'x-real-ip': '203.0.113.5' }],
      ['10.0.0.2', { forwarded: 'for=203.0.113.5' }],
    ] as const) {
      for (const path of ['/api/svc/metrics', '/api/svc/internal/revocations', '/api/svc/metrics?x=1']) {
        const response = await get(path, from, headers);
        expect(response.statusCode, `${path} from ${from}`).toBe(404);
        expect(response.json()).toEqual({
          error: { code: 'not_found', message: `no route GET ${path.split('?')[0]}` },
        });
      }
    }
  });

  it('leave public routes alone', async () => {
    expect(
      (await get('/api/svc/public', '203.0.113.5', { 'x-forwarded-for': '203.0.113.5' })).statusCode,
    ).toBe(200);
    expect((await get('/api/svc/health', '203.0.113.5')).statusCode).toBe(200);
  });

  it('follow the configured networks', async () => {
    const narrow = await service(['10.0.0.0/8']);
    try {
      expect((await narrow.inject({ url: '/api/svc/metrics', remoteAddress: '127.0.0.1' })).statusCode).toBe(
        404,
      );
      expect((await narrow.inject({ url: '/api/svc/metrics', remoteAddress: '10.9.9.9' })).statusCode).toBe(
        200,
      );
    } finally {
      await narrow.close();
    }
  });
});
