import { ChatError } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { KEY_BYTES, OWASP_SCRYPT_PARAMS, PasswordHasher, paramsOf, SALT_BYTES } from './passwords.js';

// Fast parameters for the behaviour tests; the production ones are asserted separately.
const cheap = new PasswordHasher({ N: 2 ** 10, r: 8, p: 1 });

describe('PasswordHasher', () => {
  it('uses OWASP scrypt parameters by default: N=2^17, r=8, p=1, 16-byte salt, 32-byte key', async () => {
    expect(OWASP_SCRYPT_PARAMS).toEqual({ N: 131072, r: 8, p: 1 });
    expect(SALT_BYTES).toBe(16);
    expect(KEY_BYTES).toBe(32);
    const hasher = new PasswordHasher();
    expect(hasher.params).toEqual(OWASP_SCRYPT_PARAMS);
    const stored = await hasher.hash('correct horse battery staple');
    expect(stored).toMatch(/^scrypt\$N=131072,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(paramsOf(stored)).toEqual(OWASP_SCRYPT_PARAMS);
    expect(await hasher.verify('correct horse battery staple', stored)).toBe(true);
    expect(hasher.needsRehash(stored)).toBe(false);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    const stored = await cheap.hash('hunter2hunter2');
    expect(await cheap.verify('hunter2hunter2', stored)).toBe(true);
    expect(await cheap.verify('hunter2hunter3', stored)).toBe(false);
    expect(await cheap.verify('', stored)).toBe(false);
  });

  it('salts every hash', async () => {
    expect(await cheap.hash('same password')).not.toBe(await cheap.hash('same password'));
  });

  it('never truncates: a 256-character password differs from its 255-character prefix', async () => {
    const long = `${'x'.repeat(255)}y`;
    const stored = await cheap.hash(long);
    expect(await cheap.verify(long, stored)).toBe(true);
    expect(await cheap.verify(`${'x'.repeat(255)}z`, stored)).toBe(false);
    expect(await cheap.verify('x'.repeat(255), stored)).toBe(false);
  });

  it('counts characters, not bytes: 256 emoji are allowed', async () => {
    const emoji = '🔑'.repeat(256);
    expect(await cheap.verify(emoji, await cheap.hash(emoji))).toBe(true);
  });

  it('refuses a password over 256 characters before hashing', async () => {
    const error = await cheap.hash('x'.repeat(257)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ChatError);
    expect((error as ChatError).code).toBe('validation_failed');
    await expect(cheap.verify('x'.repeat(257), await cheap.hash('short one'))).rejects.toThrow(ChatError);
  });

  it('normalises Unicode (NFKC): composed and decomposed forms match', async () => {
    const stored = await cheap.hash('caf\u00e9 au lait');
    expect(await cheap.verify('cafe\u0301 au lait', stored)).toBe(true);
  });

  it('treats malformed or dangerous stored hashes as a mismatch, without computing them', async () => {
    for (const stored of [
      '',
      'plaintext',
      'bcrypt$2b$10$abc',
      'scrypt$N=131072,r=8,p=1$c2FsdA$',
      'scrypt$N=1000,r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5',
      `scrypt$N=${2 ** 30},r=8,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5`,
      'scrypt$N=1024,r=800,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5',
    ]) {
      expect(await cheap.verify('anything', stored)).toBe(false);
    }
  });

  it('verifies hashes made with other parameters and says they need a rehash', async () => {
    const old = await cheap.hash('an old password');
    const current = new PasswordHasher({ N: 2 ** 11, r: 8, p: 1 });
    expect(await current.verify('an old password', old)).toBe(true);
    expect(current.needsRehash(old)).toBe(true);
    expect(current.needsRehash('garbage')).toBe(true);
  });

  it('pays for a verification against a dummy hash for unknown users', async () => {
    expect(await cheap.verifyDummy('whatever it is')).toBe(false);
    expect(await cheap.verifyDummy('again')).toBe(false);
  });
});

describe('sign-up hashing', () => {
  it('makes hashes the normal path verifies, on a thread of its own', async () => {
    const hasher = new PasswordHasher({ N: 2 ** 12, r: 8, p: 1 });
    try {
      const stored = await hasher.hash('correct horse battery', { signup: true });
      expect(await hasher.verify('correct horse battery', stored)).toBe(true);
      expect(await hasher.verify('wrong horse battery', stored)).toBe(false);
      const [a, b] = await Promise.all([
        hasher.hash('same password', { signup: true }),
        hasher.hash('same password', { signup: true }),
      ]);
      expect(a).not.toBe(b);
    } finally {
      await hasher.close();
    }
  });
});
