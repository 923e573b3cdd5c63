import {
  ChatError,
  ConversationIdSchema,
  ErrorResponse,
  Id,
  LIMITS,
  MESSAGE_TEXT_PATTERN,
  Message,
} from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';
import type { ChatCore } from '../chat.js';
import { callerOf } from './authenticate.js';

const IdParams = Type.Object({ id: ConversationIdSchema });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
};
const security = [{ bearer: [] }];
const Ack = Type.Object({
  conv: Id,
  id: Id,
  seq: Type.Integer(),
  ts: Type.Integer(),
  clientMsgId: Type.String(),
  duplicate: Type.Boolean(),
});

/** History, sending over HTTP, and read markers. */
export async function messageRoutes(app: HttpServer, core: ChatCore): Promise<void> {
  app.get(
    '/api/chat/conversations/:id/messages',
    {
      schema: {
        summary: 'A page of history in ascending seq: the newest page by default, or before/after a seq',
        security,
        params: IdParams,
        querystring: Type.Object(
          {
            before: Type.Optional(Type.Integer({ minimum: 1 })),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxHistoryPage, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ messages: Type.Array(Message) }), ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { before, after, limit } = request.query;
      if (before !== undefined && after !== undefined) {
        throw new ChatError('validation_failed', 'give either before or after, not both');
      }
      const page = {
        limit,
        ...(before !== undefined ? { before } : {}),
        ...(after !== undefined ? { after } : {}),
      };
      return { messages: await core.history(user.id, request.params.id, page) };
    },
  );

  app.post(
    '/api/chat/conversations/:id/messages',
    {
      schema: {
        summary: 'Send a message over HTTP (idempotent on clientMsgId, like the socket)',
        security,
        params: IdParams,
        body: Type.Object(
          {
            clientMsgId: Type.String({
              minLength: 1,
              maxLength: LIMITS.maxClientMsgIdChars,
              pattern: MESSAGE_TEXT_PATTERN,
            }),
            body: Type.String({
              minLength: 1,
              maxLength: LIMITS.maxBodyChars,
              pattern: MESSAGE_TEXT_PATTERN,
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Ack, 201: Ack, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = callerOf(request);
      const { clientMsgId, body } = request.body;
      const { ack, duplicate } = await core.send(request.params.id, user.id, clientMsgId, body);
      const { type: _type, ...fields } = ack;
      return reply.code(duplicate ? 200 : 201).send({ ...fields, duplicate });
    },
  );

  app.post(
    '/api/chat/conversations/read',
    {
      schema: {
        summary:
          'Mark every conversation of the caller read at its last message; `read` lists the markers that moved (every device gets a `read` frame for each)',
        security,
        response: {
          200: Type.Object({
            read: Type.Array(Type.Object({ conv: ConversationIdSchema, seq: Type.Integer({ minimum: 0 }) })),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      return { read: await core.markAllRead(user.id) };
    },
  );

  app.post(
    '/api/chat/conversations/:id/read',
    {
      schema: {
        summary: "Move the caller's read marker forward (drives unread badges on every device)",
        security,
        params: IdParams,
        body: Type.Object({ seq: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
        response: { 200: Type.Object({ lastReadSeq: Type.Integer() }), ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      return { lastReadSeq: await core.markRead(request.params.id, user.id, request.body.seq) };
    },
  );
}
