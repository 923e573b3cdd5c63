import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';
import type { Accounts } from '../accounts.js';
import { DEVICE_COOKIE_TTL_MS } from '../device-cookies.js';
import { type CookieSpec, readCookie, setCookie } from './cookies.js';
import {
  errorResponses,
  LoginBody,
  RefreshTokenBody,
  RegisterBody,
  TokenPair,
  UserResponse,
} from './schemas.js';

export interface SessionRoutesOptions {
  accounts: Accounts;
}

/** The device cookie (see DeviceCookies): sent back only to the login route. */
export const DEVICE_COOKIE = 'relay_device';

/** POST register, login, refresh, logout (mounted under /api/auth). */
export async function sessionRoutes(app: HttpServer, { accounts }: SessionRoutesOptions): Promise<void> {
  const deviceCookie: CookieSpec = {
    name: DEVICE_COOKIE,
    path: `${app.prefix}/login`,
    maxAgeSec: DEVICE_COOKIE_TTL_MS / 1000,
  };

  // Token responses must not be cached anywhere (RFC 6749 §5.1).
  app.addHook('onSend', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });

  app.post(
    '/register',
    {
      schema: {
        summary: 'Create an account',
        tags: ['sessions'],
        body: RegisterBody,
        response: { 201: UserResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const user = await accounts.register({ ...request.body, address: request.ip });
      return reply.code(201).send({ user });
    },
  );

  app.post(
    '/login',
    {
      schema: {
        summary: 'Log in: an access token and a refresh token',
        description:
          'Wrong password and unknown user get the same 401 invalid_credentials. Repeated failures get 429 rate_limited with Retry-After. ' +
          `A successful login sets the device cookie ${DEVICE_COOKIE} (HttpOnly, SameSite=Strict, Path=this route); ` +
          'a later login with it, for the same username, is spared the lockouts caused by failures from its address or against its account.',
        tags: ['sessions'],
        body: LoginBody,
        response: { 200: TokenPair, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { pair, deviceCookie: device } = await accounts.login({
        ...request.body,
        address: request.ip,
        deviceCookie: readCookie(request.headers.cookie, DEVICE_COOKIE),
      });
      setCookie(reply, request, deviceCookie, device);
      return pair;
    },
  );

  app.post(
    '/refresh',
    {
      schema: {
        summary: 'Exchange a refresh token for a new pair (the old one is spent)',
        tags: ['sessions'],
        body: RefreshTokenBody,
        response: { 200: TokenPair, ...errorResponses },
      },
    },
    async (request) => accounts.refresh(request.body.refreshToken),
  );

  app.post(
    '/logout',
    {
      schema: {
        summary: 'End the session of a refresh token (always 204)',
        tags: ['sessions'],
        body: RefreshTokenBody,
        response: { 204: Type.Null({ description: 'Logged out' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      await accounts.logout(request.body.refreshToken);
      return reply.code(204).send(null);
    },
  );
}
