import { createHmac, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a device cookie is honoured after it was issued (every successful login issues a new one), ms. */
export const DEVICE_COOKIE_TTL_MS = 180 * 24 * 3600_000;

const VERSION = 'd1';
const DEVICE_ID_BYTES = 16;

/**
 * OWASP's device cookies ("Slow Down Online Guessing Attacks with Device Cookies"): a
 * successful login hands the client a cookie that says "this browser logged in as `username`
 * before", signed with HMAC-SHA256, so a later login presenting it is known to come from a
 * device the owner used, and is spared the lockouts that an attacker's failures cause for
 * everyone sharing an address or guessing an account.
 *
 * The value is `d1.<deviceId>.<issuedAtSec>.<mac>`, the MAC covering the version, device id,
 * issue time and the username, which is not in the cookie (it comes with the login, and a
 * cookie only verifies for the username it was issued to). Nothing is stored: the per-device
 * failure count lives with the other login failures, under the device id.
 * https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies
 */
export class DeviceCookies {
  private constructor(private readonly key: Buffer) {}

  /** From AUTH_DEVICE_COOKIE_KEY (any secret of at least 32 characters), shared by every replica. */
  static fromSecret(secret: string): DeviceCookies {
    return new DeviceCookies(derive(Buffer.from(secret, 'utf8')));
  }

  /**
   * From the Ed25519 signing key (HKDF-SHA256), so replicas that share AUTH_SIGNING_KEY share
   * this key without another secret. Rotating the signing key voids every device cookie: the
   * next login of each device is treated as untrusted once, then gets a new cookie.
   */
  static fromSigningKey(privateKey: KeyObject): DeviceCookies {
    return new DeviceCookies(derive(privateKey.export({ format: 'der', type: 'pkcs8' })));
  }

  /** A new cookie value for a device that just logged in as `username` (normalised). */
  issue(username: string, nowMs: number): string {
    const deviceId = randomBytes(DEVICE_ID_BYTES).toString('base64url');
    const issuedAtSec = Math.floor(nowMs / 1000);
    return `${VERSION}.${deviceId}.${issuedAtSec}.${this.mac(username, deviceId, issuedAtSec)}`;
  }

  /**
   * The device id of `value` when it is a cookie this service issued to `username` within
   * DEVICE_COOKIE_TTL_MS; undefined for anything else (absent, malformed, forged, another
   * user's, expired).
   */
  verify(value: string | undefined, username: string, nowMs: number): string | undefined {
    if (!value || value.length > 200) return undefined;
    const parts = value.split('.');
    if (parts.length !== 4 || parts[0] !== VERSION) return undefined;
    const [, deviceId, issued, mac] = parts as [string, string, string, string];
    if (!/^[A-Za-z0-9_-]{22}$/.test(deviceId) || !/^\d{1,12}$/.test(issued)) return undefined;
    const issuedAtSec = Number(issued);
    const ageMs = nowMs - issuedAtSec * 1000;
    if (ageMs < -60_000 || ageMs > DEVICE_COOKIE_TTL_MS) return undefined;
    const expected = Buffer.from(this.mac(username, deviceId, issuedAtSec), 'utf8');
    const given = Buffer.from(mac, 'utf8');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return deviceId;
  }

  private mac(username: string, deviceId: string, issuedAtSec: number): string {
    return createHmac('sha256', this.key)
      .update(`${VERSION}\n${deviceId}\n${issuedAtSec}\n${username}`, 'utf8')
      .digest('base64url');
  }
}

function derive(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'relay-chat', 'device-cookie v1', 32));
}
