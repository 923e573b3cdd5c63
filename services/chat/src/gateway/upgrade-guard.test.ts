import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BEARER_SUBPROTOCOL_PREFIX, type ErrorBody, SUBPROTOCOL } from '@relay-chat/protocol';
import { freePort } from '@relay-chat/testkit';
import {
  ACCESS_TOKEN_ALG,
  ACCESS_TOKEN_TYP,
  type AccessTokenVerifier,
  createAccessTokenVerifier,
} from '@relay-chat/tokens';
import { exportJWK, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  type AcceptedConnection,
  ConnectionAcceptor,
  type ConnectionAcceptorOptions,
} from './connection-acceptor.js';
import { SessionRegistry } from './session-registry.js';

const ISSUER = 'relay-chat';
const AUDIENCE = 'relay-chat';
const ORIGIN = 'https://chat.example';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: ACCESS_TOKEN_ALG }] };
const localVerifier = createAccessTokenVerifier({ keys: jwks, issuer: ISSUER, audience: AUDIENCE });

/** An access token as the auth service signs one. */
function accessToken(
  userId: string,
  options: { expiresInSec?: number; key?: typeof privateKey; sid?: string } = {},
): Promise<string> {
  const nowSec = Math.floor(Date.now() / 1000);
  return new SignJWT({ username: `name-${userId}`, ...(options.sid ? { sid: options.sid } : {}) })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(userId)
    .setIssuedAt(nowSec - 1)
    .setExpirationTime(nowSec + (options.expiresInSec ?? 600))
    .sign(options.key ?? privateKey);
}

interface Gate {
  wsUrl: string;
  accepted: AcceptedConnection[];
  acceptor: ConnectionAcceptor;
  setBrokerDown(down: boolean): void;
}

const servers: Server[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const ws of sockets.splice(0)) ws.terminate();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A real HTTP server on 127.0.0.1 whose upgrades go through a ConnectionAcceptor. */
async function gate(
  options: Partial<ConnectionAcceptorOptions> = {},
  verify: AccessTokenVerifier = localVerifier,
): Promise<Gate> {
  let brokerDown = false;
  const registry = new SessionRegistry();
  const accepted: AcceptedConnection[] = [];
  const acceptor = new ConnectionAcceptor(
    {
      verify,
      registry,
      brokerDown: () => brokerDown,
      onConnection: (connection) => {
        registry.add(connection.session);
        accepted.push(connection);
      },
    },
    {
      path: '/ws',
      allowedOrigins: [ORIGIN],
      allowNoOrigin: false,
      maxFrameBytes: 64 * 1024,
      maxConnectionsPerUser: 20,
      session: { maxBufferedBytes: 1 << 20, lagGraceMs: 2000, closeTimeoutMs: 1000 },
      ...options,
    },
  );
  const server = createServer((_req, res) => res.writeHead(404).end());
  servers.push(server);
  acceptor.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    accepted,
    acceptor,
    setBrokerDown: (down) => {
      brokerDown = down;
    },
  };
}

type Answer =
  | { status: 101; protocol: string }
  | { status: number; headers: IncomingHttpHeaders; body: ErrorBody };

/** Tries an upgrade with a real WebSocket client; an accepted socket stays open until the test ends. */
function upgrade(
  url: string,
  options: { token?: string; viaSubprotocol?: boolean; protocols?: string[]; origin?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const origin = options.origin === undefined ? ORIGIN : options.origin;
  if (origin !== null) headers.origin = origin;
  let protocols = options.protocols ?? [];
  if (options.token !== undefined) {
    if (options.viaSubprotocol) protocols = [SUBPROTOCOL, BEARER_SUBPROTOCOL_PREFIX + options.token];
    else headers.authorization = `Bearer ${options.token}`;
  }
  const ws = new WebSocket(url, protocols, { headers });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ status: 101, protocol: ws.protocol }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as ErrorBody }),
      );
    });
    ws.once('error', (err) => reject(err));
  });
}

const refusal = (status: number, code: string) => ({
  status,
  body: { error: expect.objectContaining({ code }) },
});

describe('the upgrade guard: tokens', () => {
  it('accepts a valid bearer token and hands over a session for its user and token', async () => {
    const g = await gate();
    const token = await accessToken('u-ann', { sid: 'family-1' });
    expect(await upgrade(g.wsUrl, { token })).toMatchObject({ status: 101 });
    expect(g.accepted).toHaveLength(1);
    const { session } = g.accepted[0]!;
    expect(session.user).toEqual({ id: 'u-ann', username: 'name-u-ann' });
    expect(session.token).toMatchObject({ token, sid: 'family-1' });
    expect(session.token.expiresAt).toBeGreaterThan(Date.now() + 500_000);
  });

  it('takes the token from the subprotocol list, as browsers send it, and answers with relay-chat.v1', async () => {
    const g = await gate();
    const token = await accessToken('u-ann');
    expect(await upgrade(g.wsUrl, { token, viaSubprotocol: true })).toEqual({
      status: 101,
      protocol: SUBPROTOCOL,
    });
  });

  it('ignores a bearer subprotocol without relay-chat.v1 beside it', async () => {
    const g = await gate();
    const token = await accessToken('u-ann');
    const answer = await upgrade(g.wsUrl, { protocols: [BEARER_SUBPROTOCOL_PREFIX + token] });
    expect(answer).toMatchObject(refusal(401, 'unauthorized'));
    expect(g.accepted).toEqual([]);
  });

  it('refuses a missing token with 401 unauthorized and a WWW-Authenticate challenge', async () => {
    const g = await gate();
    const answer = await upgrade(g.wsUrl);
    expect(answer).toMatchObject(refusal(401, 'unauthorized'));
    expect('headers' in answer && answer.headers['www-authenticate']).toBe('Bearer');
  });

  it.each([
    ['a malformed token', async () => 'not.a.jwt'],
    [
      'a token signed with another key',
      async () => accessToken('u-ann', { key: generateKeyPairSync('ed25519').privateKey }),
    ],
  ])('refuses %s with 401 unauthorized', async (_, token) => {
    const g = await gate();
    expect(await upgrade(g.wsUrl, { token: await token() })).toMatchObject(refusal(401, 'unauthorized'));
    expect(g.accepted).toEqual([]);
  });

  it('refuses an expired token with 401 token_expired', async () => {
    const g = await gate();
    const token = await accessToken('u-ann', { expiresInSec: -60 });
    expect(await upgrade(g.wsUrl, { token })).toMatchObject(refusal(401, 'token_expired'));
  });

  it('answers 503 unavailable when the key set cannot be fetched', async () => {
    const nowhere = new URL(`http://127.0.0.1:${await freePort()}/jwks.json`);
    const g = await gate(
      {},
      createAccessTokenVerifier({ keys: nowhere, issuer: ISSUER, audience: AUDIENCE }),
    );
    const token = await accessToken('u-ann');
    expect(await upgrade(g.wsUrl, { token })).toMatchObject(refusal(503, 'unavailable'));
  });
});

describe('the upgrade guard: Origin allowlist', () => {
  it('refuses an Origin that is not on the list with 403 origin_not_allowed, valid token or not', async () => {
    const g = await gate();
    const token = await accessToken('u-ann');
    for (const origin of ['https://evil.example', 'https://chat.example.evil', 'http://chat.example']) {
      expect(await upgrade(g.wsUrl, { token, origin }), origin).toMatchObject(
        refusal(403, 'origin_not_allowed'),
      );
    }
    expect(await upgrade(g.wsUrl, { origin: 'https://evil.example' })).toMatchObject(
      refusal(403, 'origin_not_allowed'),
    );
    expect(g.accepted).toEqual([]);
  });

  it('requires an Origin unless allowNoOrigin is set', async () => {
    const token = await accessToken('u-ann');
    const strict = await gate({ allowNoOrigin: false });
    expect(await upgrade(strict.wsUrl, { token, origin: null })).toMatchObject({
      status: 403,
      body: { error: { code: 'origin_not_allowed', message: 'an Origin header is required' } },
    });
    const lenient = await gate({ allowNoOrigin: true });
    expect(await upgrade(lenient.wsUrl, { token, origin: null })).toMatchObject({ status: 101 });
    // Allowing requests without an Origin does not let a wrong one through.
    expect(await upgrade(lenient.wsUrl, { token, origin: 'https://evil.example' })).toMatchObject(
      refusal(403, 'origin_not_allowed'),
    );
  });
});

describe('the connection acceptor', () => {
  it('refuses a user past maxConnectionsPerUser with 429 rate_limited and Retry-After, others still connect', async () => {
    const g = await gate({ maxConnectionsPerUser: 2 });
    const ann = await accessToken('u-ann');
    for (let i = 0; i < 2; i++) expect(await upgrade(g.wsUrl, { token: ann })).toMatchObject({ status: 101 });
    const third = await upgrade(g.wsUrl, { token: ann });
    expect(third).toMatchObject(refusal(429, 'rate_limited'));
    expect('headers' in third && third.headers['retry-after']).toBe('5');
    expect(await upgrade(g.wsUrl, { token: await accessToken('u-ben') })).toMatchObject({ status: 101 });
    expect(g.accepted.map((c) => c.session.user.id)).toEqual(['u-ann', 'u-ann', 'u-ben']);
  });

  it('answers 503 unavailable while the broker is down, before looking at the token', async () => {
    const g = await gate();
    const token = await accessToken('u-ann');
    g.setBrokerDown(true);
    expect(await upgrade(g.wsUrl, { token })).toMatchObject(refusal(503, 'unavailable'));
    expect(await upgrade(g.wsUrl, { token: 'garbage' })).toMatchObject(refusal(503, 'unavailable'));
    g.setBrokerDown(false);
    expect(await upgrade(g.wsUrl, { token })).toMatchObject({ status: 101 });
  });

  it('answers 503 server_shutting_down once stopped', async () => {
    const g = await gate();
    g.acceptor.stop();
    expect(await upgrade(g.wsUrl, { token: await accessToken('u-ann') })).toMatchObject(
      refusal(503, 'server_shutting_down'),
    );
  });

  it('answers 404 not_found for upgrades on another path, and accepts a query string on its own', async () => {
    const g = await gate();
    const token = await accessToken('u-ann');
    expect(await upgrade(g.wsUrl.replace('/ws', '/other'), { token })).toMatchObject(
      refusal(404, 'not_found'),
    );
    expect(await upgrade(`${g.wsUrl}?v=1`, { token })).toMatchObject({ status: 101 });
  });
});
