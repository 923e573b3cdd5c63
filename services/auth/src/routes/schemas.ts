import { ErrorResponse, Id, LIMITS, TokenPair, User } from '@relay-chat/protocol';
import Type from 'typebox';
import { MAX_REVOCATIONS_PAGE } from '../revocations.js';

/** The route schemas: they validate requests and generate the OpenAPI document. */

/** A username as typed: any case (normalised to lower case), 3..32 of [a-z0-9_.-]. */
export const UsernameInput = Type.String({
  minLength: LIMITS.usernameMinChars,
  maxLength: LIMITS.usernameMaxChars,
  pattern: '^[A-Za-z0-9_.-]+$',
  description: '3 to 32 of a-z, 0-9, _ . - (normalised to lower case)',
  examples: ['alice'],
});

export const NewPassword = Type.String({
  minLength: LIMITS.passwordMinChars,
  maxLength: LIMITS.passwordMaxChars,
  description: '8 to 256 characters, no composition rules',
});

// Login accepts any length a password could ever have had, so a later change of the minimum
// never locks anyone out; the maximum still refuses a long input before hashing.
export const PasswordInput = Type.String({ minLength: 1, maxLength: LIMITS.passwordMaxChars });

export const RegisterBody = Type.Object(
  { username: UsernameInput, password: NewPassword },
  { additionalProperties: false },
);

/** How a session's refresh token travels: `body` (default) or `cookie` (HttpOnly, for browsers). */
export const SessionMode = Type.Union([Type.Literal('body'), Type.Literal('cookie')], {
  description:
    'body (default): the refresh token is answered; cookie: it is set as the HttpOnly cookie relay_refresh',
});

export const LoginBody = Type.Object(
  { username: UsernameInput, password: PasswordInput, session: Type.Optional(SessionMode) },
  { additionalProperties: false },
);

export const DeleteAccountBody = Type.Object({ password: PasswordInput }, { additionalProperties: false });

const RefreshTokenString = Type.String({ minLength: 1, maxLength: 512 });

export const RefreshTokenBody = Type.Object(
  { refreshToken: RefreshTokenString },
  { additionalProperties: false },
);

/** `{refreshToken}` (body mode), `{session:"cookie"}` (the cookie), or both (move into the cookie). */
export const RefreshBody = Type.Object(
  {
    refreshToken: Type.Optional(RefreshTokenString),
    session: Type.Optional(
      Type.Literal('cookie', { description: 'read the refresh cookie, or move the body token into it' }),
    ),
  },
  { additionalProperties: false },
);

export const UserResponse = Type.Object({ user: User });

export const UsersQuery = Type.Object({
  q: Type.Optional(
    Type.String({
      maxLength: LIMITS.usernameMaxChars,
      pattern: '^[A-Za-z0-9_.-]*$',
      description: 'username prefix (any case)',
    }),
  ),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: LIMITS.maxUsersPage, description: 'page size, default 50' }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$', description: 'from nextCursor' }),
  ),
  ids: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: LIMITS.maxUsersPage * 65,
      pattern: '^[A-Za-z0-9_,-]+$',
      description: `comma-separated user ids (at most ${LIMITS.maxUsersPage}); excludes q and cursor`,
    }),
  ),
});

export const UsersPage = Type.Object({
  users: Type.Array(User),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const UserParams = Type.Object({ id: Id });

export const JwksResponse = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.String(),
      crv: Type.String(),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.String(),
      use: Type.String(),
    }),
  ),
});

export const RevocationsQuery = Type.Object({
  after: Type.Optional(
    Type.Integer({ minimum: 0, description: 'the `last` of the previous page; 0 (default) for all kept' }),
  ),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_REVOCATIONS_PAGE, description: 'page size, default 100' }),
  ),
});

export const RevocationsPage = Type.Object({
  revocations: Type.Array(
    Type.Object({
      id: Type.Integer(),
      sid: Type.Union([Type.String(), Type.Null()]),
      userId: Type.String(),
      revokedAt: Type.Integer({ description: 'ms since the epoch' }),
    }),
  ),
  last: Type.Integer(),
});

export { ErrorResponse, TokenPair };

/** The error responses every route may give, for the OpenAPI document. */
export const errorResponses = { '4xx': ErrorResponse, '5xx': ErrorResponse };
