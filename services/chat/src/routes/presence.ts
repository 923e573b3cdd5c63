import { asUserId, ChatError, ErrorResponse, Id, type UserId } from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';

const MAX_USERS = 200;

/** Who is online now, for a directory of users (live changes come as `presence` frames). */
export async function presenceRoutes(
  app: HttpServer,
  onlineAmong: (ids: UserId[]) => Promise<Set<UserId>>,
): Promise<void> {
  app.get(
    '/api/chat/presence',
    {
      schema: {
        summary: `Which of the given users (comma-separated ids, at most ${MAX_USERS}) are online`,
        security: [{ bearer: [] }],
        querystring: Type.Object(
          { users: Type.String({ maxLength: 64 * MAX_USERS }) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ online: Type.Array(Id) }), 400: ErrorResponse, 401: ErrorResponse },
      },
    },
    async (request) => {
      const ids = [...new Set(request.query.users.split(',').filter((id) => id.length > 0))];
      if (ids.length > MAX_USERS) throw new ChatError('validation_failed', `at most ${MAX_USERS} users`);
      if (ids.some((id) => !/^[A-Za-z0-9_-]{1,64}$/.test(id)))
        throw new ChatError('validation_failed', 'bad user id');
      return { online: [...(await onlineAmong(ids.map(asUserId)))] };
    },
  );
}
