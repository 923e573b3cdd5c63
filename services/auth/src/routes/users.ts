import { asUserId, ChatError, LIMITS, type User, type UserId } from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import { type AccessClaims, type AccessTokenVerifier, bearerTokenOf } from '@relay-chat/tokens';
import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { Accounts } from '../accounts.js';
import { normalizeUsername } from '../accounts.js';
import type { UserStore } from '../store/user-store.js';
import {
  DeleteAccountBody,
  errorResponses,
  UserParams,
  UserResponse,
  UsersPage,
  UsersQuery,
} from './schemas.js';

export interface UserRoutesOptions {
  accounts: Accounts;
  store: UserStore;
  verifyAccessToken: AccessTokenVerifier;
}

const DEFAULT_PAGE = 50;
const security = [{ bearer: [] }];

/** GET/DELETE me, users (directory search / lookup by ids), users/:id — bearer token required. */
export async function userRoutes(app: HttpServer, options: UserRoutesOptions): Promise<void> {
  const { accounts, store, verifyAccessToken } = options;

  async function authenticate(request: FastifyRequest): Promise<AccessClaims> {
    const token = bearerTokenOf(request.headers.authorization);
    if (!token) throw new ChatError('unauthorized', 'a bearer token is required');
    return verifyAccessToken(token);
  }

  app.get(
    '/me',
    {
      schema: {
        summary: 'The caller',
        tags: ['users'],
        security,
        response: { 200: UserResponse, ...errorResponses },
      },
    },
    async (request) => {
      const claims = await authenticate(request);
      const user = await accounts.findUser(claims.userId);
      if (!user) throw new ChatError('unauthorized', 'the account no longer exists');
      return { user };
    },
  );

  app.delete(
    '/me',
    {
      schema: {
        summary: 'Delete the caller’s account (password required)',
        description:
          'Deletes the user, their refresh tokens and sessions, and revokes every access token issued to them so far. ' +
          'The username becomes free again. A wrong password is 401 invalid_credentials; attempts are throttled like logins (429 rate_limited).',
        tags: ['users'],
        security,
        body: DeleteAccountBody,
        response: { 204: Type.Null({ description: 'Deleted' }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const claims = await authenticate(request);
      await accounts.deleteAccount({
        userId: claims.userId,
        password: request.body.password,
        address: request.ip,
      });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/users',
    {
      schema: {
        summary: 'The user directory: search by username prefix, or look up by ids',
        tags: ['users'],
        security,
        querystring: UsersQuery,
        response: { 200: UsersPage, ...errorResponses },
      },
    },
    async (request) => {
      await authenticate(request);
      const { q, limit, cursor, ids } = request.query;
      if (ids !== undefined) {
        if (q !== undefined || cursor !== undefined) {
          throw invalid('/ids', 'cannot be combined with q or cursor');
        }
        return { users: await store.findUsersByIds(parseIds(ids)), nextCursor: null };
      }
      const pageSize = limit ?? DEFAULT_PAGE;
      // One extra row tells whether another page follows.
      const rows = await store.searchUsers({
        prefix: normalizeUsername(q ?? ''),
        after: cursor === undefined ? undefined : decodeCursor(cursor),
        limit: pageSize + 1,
      });
      const users: User[] = rows.slice(0, pageSize);
      const last = users.at(-1);
      const nextCursor = rows.length > pageSize && last ? encodeCursor(last.username) : null;
      return { users, nextCursor };
    },
  );

  app.get(
    '/users/:id',
    {
      schema: {
        summary: 'One user by id',
        tags: ['users'],
        security,
        params: UserParams,
        response: { 200: UserResponse, ...errorResponses },
      },
    },
    async (request) => {
      await authenticate(request);
      const user = await accounts.findUser(asUserId(request.params.id));
      if (!user) throw new ChatError('not_found', 'no such user');
      return { user };
    },
  );
}

function parseIds(value: string): UserId[] {
  const ids = value.split(',');
  if (ids.length > LIMITS.maxUsersPage) throw invalid('/ids', `at most ${LIMITS.maxUsersPage} ids`);
  for (const id of ids) {
    if (id.length === 0 || id.length > 64) throw invalid('/ids', 'each id must be 1 to 64 characters');
  }
  return ids.map(asUserId);
}

/** Cursors are opaque to clients: the base64url of the last username of the page. */
function encodeCursor(username: string): string {
  return Buffer.from(username, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const username = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z0-9_.-]{1,32}$/.test(username)) throw invalid('/cursor', 'is not a cursor this service issued');
  return username;
}

function invalid(field: string, message: string): ChatError {
  return new ChatError('validation_failed', `querystring${field}: ${message}`, {
    fields: [{ field, message }],
  });
}
