import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEVICE_COOKIE_TTL_MS, DeviceCookies } from './device-cookies.js';

const NOW = 1_700_000_000_000;
const signingKey = () => generateKeyPairSync('ed25519').privateKey;

describe('DeviceCookies', () => {
  it('verifies a cookie it issued, for the username it was issued to, and yields its device id', () => {
    const cookies = DeviceCookies.fromSigningKey(signingKey());
    const value = cookies.issue('erin', NOW);
    expect(value).toMatch(/^d1\.[A-Za-z0-9_-]{22}\.\d+\.[A-Za-z0-9_-]{43}$/);
    const deviceId = cookies.verify(value, 'erin', NOW + 1000);
    expect(deviceId).toBe(value.split('.')[1]);
    // Every login hands out a new device id.
    expect(cookies.verify(cookies.issue('erin', NOW), 'erin', NOW)).not.toBe(deviceId);
  });

  it("refuses another user's cookie, a forged or altered one, and garbage", () => {
    const cookies = DeviceCookies.fromSigningKey(signingKey());
    const value = cookies.issue('erin', NOW);
    expect(cookies.verify(value, 'dana', NOW)).toBeUndefined();
    const [version, deviceId, issued, mac] = value.split('.') as [string, string, string, string];
    const flipped = mac[0] === 'A' ? `B${mac.slice(1)}` : `A${mac.slice(1)}`;
    expect(cookies.verify([version, deviceId, issued, flipped].join('.'), 'erin', NOW)).toBeUndefined();
    expect(cookies.verify([version, deviceId, String(Number(issued) + 1), mac].join('.'), 'erin', NOW)).toBe(
      undefined,
    );
    for (const garbage of [undefined, '', 'x', 'd1.a.b.c', `${value}.x`, 'A'.repeat(500)]) {
      expect(cookies.verify(garbage, 'erin', NOW)).toBeUndefined();
    }
  });

  it('honours a cookie for DEVICE_COOKIE_TTL_MS after it was issued, not longer', () => {
    const cookies = DeviceCookies.fromSigningKey(signingKey());
    const value = cookies.issue('erin', NOW);
    expect(cookies.verify(value, 'erin', NOW + DEVICE_COOKIE_TTL_MS - 1000)).toBeDefined();
    expect(cookies.verify(value, 'erin', NOW + DEVICE_COOKIE_TTL_MS + 1000)).toBeUndefined();
  });

  it('shares its key between replicas that share the signing key (or AUTH_DEVICE_COOKIE_KEY)', () => {
    const key = signingKey();
    const value = DeviceCookies.fromSigningKey(key).issue('erin', NOW);
    expect(DeviceCookies.fromSigningKey(key).verify(value, 'erin', NOW)).toBeDefined();
    expect(DeviceCookies.fromSigningKey(signingKey()).verify(value, 'erin', NOW)).toBeUndefined();

    const secret = 'a shared secret of at least 32 characters';
    const fromSecret = DeviceCookies.fromSecret(secret).issue('erin', NOW);
    expect(DeviceCookies.fromSecret(secret).verify(fromSecret, 'erin', NOW)).toBeDefined();
    expect(DeviceCookies.fromSecret(`${secret}!`).verify(fromSecret, 'erin', NOW)).toBeUndefined();
  });
});
