/**
 * Logging out or deleting the account ends that session everywhere within seconds: its
 * open sockets are closed with 4001 and its access token stops working on REST — not at
 * the token's expiry (up to 15 minutes later).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { registerUser, request } from '../support/http.js';

let t: TestServer;
const open: FrameClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  for (const client of open) client.close();
  await t?.close();
});

async function login(username: string, password = 'correct horse battery') {
  const res = await request<{ accessToken: string; refreshToken: string }>(t.url, 'POST', '/api/auth/login', {
    body: { username, password },
  });
  expect(res.status).toBe(200);
  return res.body;
}

async function socket(token: string): Promise<FrameClient> {
  const client = await FrameClient.connect(t.wsUrl, { token });
  open.push(client);
  return client;
}

async function closedWith(client: FrameClient, timeoutMs = 3000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (!client.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return client.closed?.code;
}

describe('ending sessions', () => {
  it('closes the logged-out session’s sockets with 4001 and refuses its token, leaving other logins alone', async () => {
    const user = await registerUser(t.url, 'lena');
    const other = await login('lena');
    const [ended, kept] = [await socket(user.accessToken), await socket(other.accessToken)];

    const out = await request(t.url, 'POST', '/api/auth/logout', {
      body: { refreshToken: user.refreshToken },
    });
    expect(out.status).toBe(204);
    expect(await closedWith(ended)).toBe(4001);
    const rest = await request<{ error: { code: string } }>(t.url, 'GET', '/api/chat/conversations', {
      token: user.accessToken,
    });
    expect([rest.status, rest.body.error.code]).toEqual([401, 'unauthorized']);
    expect(await FrameClient.upgradeStatus(t.wsUrl, { token: user.accessToken })).toBe(401);

    // The other login of the same user goes on.
    expect(kept.closed).toBeUndefined();
    kept.send({ type: 'ping', ref: 'still-here' });
    expect(await kept.next('pong', (f) => f.ref === 'still-here')).toBeTruthy();
  });

  it('ends every session of a deleted account', async () => {
    const user = await registerUser(t.url, 'mira');
    const second = await login('mira');
    const sockets = [await socket(user.accessToken), await socket(second.accessToken)];
    const del = await request(t.url, 'DELETE', '/api/auth/me', {
      token: user.accessToken,
      body: { password: user.password },
    });
    expect(del.status).toBe(204);
    for (const client of sockets) expect(await closedWith(client)).toBe(4001);
    const rest = await request(t.url, 'GET', '/api/chat/conversations', { token: second.accessToken });
    expect(rest.status).toBe(401);
  });
});
