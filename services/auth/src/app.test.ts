import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { asUserId } from '@relay-chat/protocol';
import { calculateJwkThumbprint } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type Harness, startAuth } from './testing/harness.js';

describe.each(BACKENDS)('auth service on $name', (backend) => {
  describe.skipIf(!backend.available)('common routes', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await startAuth(backend);
    });
    afterAll(async () => {
      await h?.close();
    });

    it('answers health', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ok' });
    });

    it('is ready when the database answers', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/ready' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok' } });
    });

    it('serves Prometheus metrics including its own', async () => {
      await h.app.inject({ method: 'POST', url: '/api/auth/refresh', payload: { refreshToken: 'x' } });
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      expect(res.body).toContain('auth_refresh_total{outcome="invalid"}');
      expect(res.body).toContain('http_request_duration_seconds');
    });

    it('serves an OpenAPI document generated from the request schemas', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/docs/json' });
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/api/auth/register',
          '/api/auth/login',
          '/api/auth/refresh',
          '/api/auth/logout',
          '/api/auth/me',
          '/api/auth/users',
          '/api/auth/users/{id}',
          '/api/auth/jwks.json',
        ]),
      );
      const register = doc.paths['/api/auth/register'].post;
      const body = register.requestBody.content['application/json'].schema;
      expect(body.additionalProperties).toBe(false);
      expect(body.required).toEqual(['username', 'password']);
      expect(body.properties.password).toMatchObject({ minLength: 8, maxLength: 256 });
      const ui = await h.app.inject({ method: 'GET', url: '/api/auth/docs' });
      expect(ui.statusCode).toBeLessThan(400);
    });

    it('publishes its signing key in the JWKS with the thumbprint as kid', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/jwks.json' });
      expect(res.statusCode).toBe(200);
      const { keys } = res.json();
      expect(keys).toHaveLength(1);
      const expected = createPublicKey(h.signingKey).export({ format: 'jwk' });
      expect(keys[0]).toEqual({
        kty: 'OKP',
        crv: 'Ed25519',
        x: expected.x,
        alg: 'EdDSA',
        use: 'sig',
        kid: await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: expected.x as string }),
      });
      expect(h.service.jwks()).toEqual({ keys });
    });

    it('answers an unknown route with not_found', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/auth/nothing-here' });
      expect(res.statusCode).toBe(404);
      expect(res.json().error.code).toBe('not_found');
    });

    it('finds users by ids for the embedded chat', async () => {
      const a = await h.seedUser('lookup-a');
      const b = await h.seedUser('lookup-b');
      expect(await h.service.findUsersByIds([b.id, asUserId('no-such-id'), a.id])).toEqual([a, b]);
    });
  });

  describe.skipIf(!backend.available)('during a key rotation', () => {
    it('publishes the previous public key beside the current one', async () => {
      const previous = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' });
      const h = await startAuth(backend, { env: { AUTH_PREVIOUS_PUBLIC_KEY: previous.toString() } });
      try {
        const { keys } = (await h.app.inject({ method: 'GET', url: '/api/auth/jwks.json' })).json();
        expect(keys).toHaveLength(2);
        expect(keys[1].x).toBe(createPublicKey(previous).export({ format: 'jwk' }).x);
        expect(keys[0].kid).not.toBe(keys[1].kid);
      } finally {
        await h.close();
      }
    });
  });

  describe.skipIf(!backend.available)('when the database is gone', () => {
    it('is not ready, and says so with unavailable', async () => {
      const h = await startAuth(backend);
      await h.service.close();
      try {
        const res = await h.app.inject({ method: 'GET', url: '/api/auth/ready' });
        expect(res.statusCode).toBe(503);
        expect(res.json().error.code).toBe('unavailable');
        expect((await h.app.inject({ method: 'GET', url: '/api/auth/health' })).statusCode).toBe(200);
      } finally {
        await h.app.close();
        await h.store.close();
      }
    });
  });
});
