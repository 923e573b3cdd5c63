import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, type Harness, startAuth } from '../testing/harness.js';
import { readCookie } from './cookies.js';

const PASSWORD = 'correct horse battery staple';
/** One address shared by everyone behind a NAT (an office, a campus, a mobile carrier). */
const SHARED = '198.51.100.50';
const MAX_PER_ADDRESS = 10;

/** The device cookie a login answer sets, as a `Cookie` header value would carry it. */
function deviceCookieOf(res: { headers: Record<string, unknown> }): string {
  const setCookie = res.headers['set-cookie'];
  const list = Array.isArray(setCookie) ? setCookie : [String(setCookie)];
  const line = list.find((c: string) => c.startsWith('relay_device='));
  if (!line) throw new Error('no device cookie set');
  return readCookie(line.split(';')[0], 'relay_device')!;
}

describe.each(BACKENDS)('device cookies on $name', (backend) => {
  describe.skipIf(!backend.available)('a NAT address locked by an attacker', () => {
    let h: Harness;
    let erinCookie: string;

    const login = (
      username: string,
      password: string,
      cookie?: string,
      headers: Record<string, string> = {},
    ) =>
      h.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username, password },
        remoteAddress: SHARED,
        headers: cookie ? { ...headers, cookie: `theme=dark; relay_device=${cookie}` } : headers,
      });

    beforeAll(async () => {
      h = await startAuth(backend, { options: { throttle: { maxPerAddress: MAX_PER_ADDRESS } } });
      for (const username of ['erin', 'dana']) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/api/auth/register',
          payload: { username, password: PASSWORD },
          remoteAddress: '192.0.2.1',
        });
        expect(res.statusCode).toBe(201);
      }
    });
    afterAll(async () => {
      await h?.close();
    });

    it('sets an HttpOnly, SameSite=Strict device cookie scoped to the login route on success', async () => {
      const res = await login('erin', PASSWORD);
      expect(res.statusCode).toBe(200);
      const line = [res.headers['set-cookie']].flat().find((c) => String(c).startsWith('relay_device='));
      const attributes = String(line).split('; ');
      expect(attributes).toEqual(
        expect.arrayContaining(['Path=/api/auth/login', 'HttpOnly', 'SameSite=Strict', 'Secure']),
      );
      expect(attributes.find((a) => a.startsWith('Max-Age='))).toBe(`Max-Age=${180 * 24 * 3600}`);
      erinCookie = deviceCookieOf(res);
    });

    it('marks the cookie Secure over https or on the local machine, not over plain http elsewhere', async () => {
      const plain = await login('erin', PASSWORD, undefined, { host: 'chat.example' });
      expect(String([plain.headers['set-cookie']].flat()[0])).not.toContain('Secure');
      // The default harness peer is loopback, a trusted proxy: its X-Forwarded-Proto is believed.
      const https = await h.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'erin', password: PASSWORD },
        headers: { host: 'chat.example', 'x-forwarded-proto': 'https', 'x-forwarded-for': SHARED },
      });
      expect(String([https.headers['set-cookie']].flat()[0])).toContain('; Secure');
    });

    it('an attacker exhausts the address: someone without a device cookie gets 429 even with the right password', async () => {
      for (let i = 0; i < MAX_PER_ADDRESS; i++) {
        expect((await login(`victim${i}`, 'guess')).statusCode).toBe(401);
      }
      const res = await login('dana', PASSWORD);
      expect(res.statusCode).toBe(429);
      expect(res.json().error.code).toBe('rate_limited');
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('a user who logged in from there before still logs in with the device cookie and the right password', async () => {
      const res = await login('erin', PASSWORD, erinCookie);
      expect(res.statusCode).toBe(200);
      expect(res.json().user.username).toBe('erin');
      // A fresh device cookie for next time.
      erinCookie = deviceCookieOf(res);
    });

    it("does not honour erin's cookie for another username, nor an altered cookie", async () => {
      expect((await login('dana', PASSWORD, erinCookie)).statusCode).toBe(429);
      const altered = `${erinCookie.slice(0, -1)}${erinCookie.endsWith('A') ? 'B' : 'A'}`;
      expect((await login('erin', PASSWORD, altered)).statusCode).toBe(429);
    });

    it('treats a device cookie as untrusted after its own failure bound (5)', async () => {
      for (let i = 0; i < 5; i++) {
        expect((await login('erin', `wrong ${i}`, erinCookie)).statusCode).toBe(401);
      }
      // Now an ordinary attempt from the locked address.
      const res = await login('erin', PASSWORD, erinCookie);
      expect(res.statusCode).toBe(429);
      expect(res.json().error.code).toBe('rate_limited');
    });
  });
});
