import { ChatError, type TokenPair as Pair } from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Accounts } from '../accounts.js';
import { DEVICE_COOKIE_TTL_MS } from '../device-cookies.js';
import { type CookieSpec, clearCookie, readCookie, setCookie } from './cookies.js';
import {
  errorResponses,
  LoginBody,
  RefreshBody,
  RefreshTokenBody,
  RegisterBody,
  TokenPair,
  UserResponse,
} from './schemas.js';

export interface SessionRoutesOptions {
  accounts: Accounts;
  /** Life of a refresh token, seconds: the refresh cookie's Max-Age. */
  refreshTokenTtlSec: number;
}

/** The device cookie (see DeviceCookies): sent back only to the login route. */
export const DEVICE_COOKIE = 'relay_device';
/** The refresh token in cookie mode: HttpOnly, sent back only to the refresh route. */
export const REFRESH_COOKIE = 'relay_refresh';

/**
 * POST register, login, refresh, logout; DELETE refresh (mounted under /api/auth).
 *
 * Sessions come in two modes. Body mode (the default): the refresh token is in the answer and
 * the client sends it back in the body. Cookie mode (`session: "cookie"`, for browsers): the
 * refresh token is never in an answer; it lives in the HttpOnly, SameSite=Strict cookie
 * `relay_refresh` with Path=/api/auth/refresh, so page script cannot read it and only the
 * refresh routes receive it. A refresh that reads the cookie must say so with a JSON body
 * `{"session":"cookie"}`: a cross-site form cannot send JSON, and a cross-site fetch with it
 * needs a CORS preflight nobody grants (besides SameSite=Strict keeping the cookie home).
 */
export async function sessionRoutes(app: HttpServer, options: SessionRoutesOptions): Promise<void> {
  const { accounts } = options;
  const deviceCookie: CookieSpec = {
    name: DEVICE_COOKIE,
    path: `${app.prefix}/login`,
    maxAgeSec: DEVICE_COOKIE_TTL_MS / 1000,
  };
  const refreshCookie: CookieSpec = {
    name: REFRESH_COOKIE,
    path: `${app.prefix}/refresh`,
    maxAgeSec: options.refreshTokenTtlSec,
  };

  /** The answer in cookie mode: the refresh token goes into the cookie, not the body. */
  function inCookie(request: FastifyRequest, reply: FastifyReply, pair: Pair): Pair {
    const { refreshToken, ...rest } = pair;
    if (refreshToken === undefined) throw new Error('a new pair always has a refresh token');
    setCookie(reply, request, refreshCookie, refreshToken);
    return rest;
  }

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
          'With session "cookie" the refresh token is set as the HttpOnly cookie relay_refresh (Path=/api/auth/refresh) instead of answered. ' +
          'Wrong password and unknown user get the same 401 invalid_credentials. Repeated failures get 429 rate_limited with Retry-After. ' +
          `A successful login sets the device cookie ${DEVICE_COOKIE} (HttpOnly, SameSite=Strict, Path=this route); ` +
          'a later login with it, for the same username, is spared the lockouts caused by failures from its address or against its account.',
        tags: ['sessions'],
        body: LoginBody,
        response: { 200: TokenPair, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { session, ...credentials } = request.body;
      const { pair, deviceCookie: device } = await accounts.login({
        ...credentials,
        address: request.ip,
        deviceCookie: readCookie(request.headers.cookie, DEVICE_COOKIE),
      });
      setCookie(reply, request, deviceCookie, device);
      return session === 'cookie' ? inCookie(request, reply, pair) : pair;
    },
  );

  app.post(
    '/refresh',
    {
      schema: {
        summary: 'Exchange a refresh token for a new pair (the old one is spent)',
        description:
          'Body mode: {refreshToken} → a pair with the next refresh token. Cookie mode: {session:"cookie"} spends the relay_refresh cookie ' +
          'and sets the next one; the answer has no refresh token. {refreshToken, session:"cookie"} moves a body-mode session into the cookie. ' +
          'A refused cookie is cleared.',
        tags: ['sessions'],
        body: RefreshBody,
        response: { 200: TokenPair, ...errorResponses },
      },
    },
    async (request, reply) => {
      const { refreshToken, session } = request.body;
      if (refreshToken !== undefined) {
        const pair = await accounts.refresh(refreshToken);
        return session === 'cookie' ? inCookie(request, reply, pair) : pair;
      }
      if (session !== 'cookie') {
        throw new ChatError(
          'validation_failed',
          'body: refreshToken is required unless session is "cookie"',
          {
            fields: [{ field: '/refreshToken', message: 'is required unless session is "cookie"' }],
          },
        );
      }
      requireJson(request);
      const fromCookie = readCookie(request.headers.cookie, REFRESH_COOKIE);
      try {
        if (fromCookie === undefined) throw new ChatError('invalid_refresh_token', 'no refresh cookie');
        // A session read from the cookie stays there: never answered to script.
        return inCookie(request, reply, await accounts.refresh(fromCookie));
      } catch (err) {
        if (err instanceof ChatError && err.code === 'invalid_refresh_token') {
          clearCookie(reply, request, refreshCookie);
        }
        throw err;
      }
    },
  );

  app.delete(
    '/refresh',
    {
      schema: {
        summary: 'Log out a cookie-mode session (always 204); the cookie is cleared',
        tags: ['sessions'],
        response: { 204: Type.Null({ description: 'Logged out' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const fromCookie = readCookie(request.headers.cookie, REFRESH_COOKIE);
      if (fromCookie !== undefined) await accounts.logout(fromCookie);
      clearCookie(reply, request, refreshCookie);
      return reply.code(204).send(null);
    },
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

/**
 * Cookie-mode refreshes must come as JSON (CSRF): refused when another parser is ever added
 * for a type a cross-site form can send.
 */
function requireJson(request: FastifyRequest): void {
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new ChatError('unsupported_media_type', 'a cookie-mode refresh must be application/json');
  }
}
