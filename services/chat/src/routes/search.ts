import {
  ConversationIdSchema,
  ErrorResponse,
  LIMITS,
  SearchResponse,
  UserIdSchema,
} from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';
import type { MessageSearch } from '../search/message-search.js';
import { callerOf } from './authenticate.js';

const security = [{ bearer: [] }];
const Time = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });

/** Message search over every conversation the caller is a member of. */
export async function searchRoutes(app: HttpServer, search: MessageSearch): Promise<void> {
  app.get(
    '/api/chat/search',
    {
      schema: {
        summary:
          'Messages of the conversations you are a member of that contain every word of q: words, word prefixes, parts of words (3+ characters), CJK text, "quoted phrases" and emoji, ignoring case and accents. Best first: messages where every term is a whole word, then the rest, newest first within each. Each hit carries the UTF-16 ranges of its body to highlight.',
        security,
        querystring: Type.Object(
          {
            q: Type.String({ minLength: 1, maxLength: LIMITS.maxSearchQueryChars }),
            conv: Type.Optional(ConversationIdSchema),
            author: Type.Optional(UserIdSchema),
            before: Type.Optional(Time),
            after: Type.Optional(Time),
            limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxSearchPage, default: 20 }),
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: SearchResponse,
          400: ErrorResponse,
          401: ErrorResponse,
          403: ErrorResponse,
          429: ErrorResponse,
          503: ErrorResponse,
        },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { q, conv, author, before, after, limit, cursor } = request.query;
      return search.search(user.id, {
        q,
        limit,
        ...(conv !== undefined ? { conv } : {}),
        ...(author !== undefined ? { author } : {}),
        ...(before !== undefined ? { before } : {}),
        ...(after !== undefined ? { after } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
    },
  );
}
