import {
  ChatError,
  ConversationIdSchema,
  ErrorResponse,
  Id,
  LIMITS,
  MESSAGE_TEXT_PATTERN,
  Message,
  UserIdSchema,
} from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';
import type { ChatCore } from '../chat.js';
import { callerOf } from './authenticate.js';

const IdParams = Type.Object({ id: ConversationIdSchema });
const Seq = Type.Integer({ minimum: 1 });
const SeqParams = Type.Object({ id: ConversationIdSchema, seq: Seq });
// Checked as one emoji in the chat core (reactionProblem); percent-encoded in the path.
const ReactionParams = Type.Object({
  id: ConversationIdSchema,
  seq: Seq,
  emoji: Type.String({ minLength: 1, maxLength: LIMITS.maxEmojiChars }),
});
const Body = Type.String({ minLength: 1, maxLength: LIMITS.maxBodyChars, pattern: MESSAGE_TEXT_PATTERN });
const Mentions = Type.Array(UserIdSchema, { maxItems: LIMITS.maxMentions });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  409: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
};
/** What an edit, delete or reaction answers: the message's state after it, and whether this call changed it. */
const ChangeResponse = Type.Object({ message: Message, changed: Type.Boolean() });
const security = [{ bearer: [] }];
const Ack = Type.Object({
  conv: Id,
  id: Id,
  seq: Type.Integer(),
  ts: Type.Integer(),
  clientMsgId: Type.String(),
  duplicate: Type.Boolean(),
});

/** History, sending over HTTP, changing messages (edits, deletes, reactions), changes, threads, and read markers. */
export async function messageRoutes(app: HttpServer, core: ChatCore): Promise<void> {
  app.get(
    '/api/chat/conversations/:id/messages',
    {
      schema: {
        summary:
          'A page of history in ascending seq, each message in its current state: the newest page by default, or before/after a seq, or around one (that seq in the middle)',
        security,
        params: IdParams,
        querystring: Type.Object(
          {
            before: Type.Optional(Type.Integer({ minimum: 1 })),
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            around: Type.Optional(Seq),
            limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxHistoryPage, default: 50 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ messages: Type.Array(Message) }), ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { before, after, around, limit } = request.query;
      if ([before, after, around].filter((v) => v !== undefined).length > 1) {
        throw new ChatError('validation_failed', 'give one of before, after and around, not several');
      }
      if (around !== undefined) {
        return { messages: await core.around(user.id, request.params.id, around, limit) };
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
        summary:
          'Send a message over HTTP (idempotent on clientMsgId, like the socket), optionally a reply (`replyTo`) and with mentions',
        security,
        params: IdParams,
        body: Type.Object(
          {
            clientMsgId: Type.String({
              minLength: 1,
              maxLength: LIMITS.maxClientMsgIdChars,
              pattern: MESSAGE_TEXT_PATTERN,
            }),
            body: Body,
            /** v1.2: the seq of the message of this conversation that this one answers. */
            replyTo: Type.Optional(Seq),
            /** v1.2: members mentioned (user ids). */
            mentions: Type.Optional(Mentions),
          },
          { additionalProperties: false },
        ),
        response: { 200: Ack, 201: Ack, ...errors },
      },
    },
    async (request, reply) => {
      const { user } = callerOf(request);
      const { clientMsgId, body, replyTo, mentions } = request.body;
      const { ack, duplicate } = await core.send(request.params.id, user.id, clientMsgId, body, {
        ...(replyTo !== undefined ? { replyTo } : {}),
        ...(mentions !== undefined ? { mentions } : {}),
      });
      const { type: _type, ...fields } = ack;
      return reply.code(duplicate ? 200 : 201).send({ ...fields, duplicate });
    },
  );

  app.patch(
    '/api/chat/conversations/:id/messages/:seq',
    {
      schema: {
        summary:
          'Edit your own message: a new body and mentions (omitted: none); every member gets a `change` (409 when it is deleted)',
        security,
        params: SeqParams,
        body: Type.Object({ body: Body, mentions: Type.Optional(Mentions) }, { additionalProperties: false }),
        response: { 200: ChangeResponse, ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { id, seq } = request.params;
      return core.editMessage(id, user.id, seq, request.body.body, request.body.mentions);
    },
  );

  app.delete(
    '/api/chat/conversations/:id/messages/:seq',
    {
      schema: {
        summary:
          'Delete a message (your own, or any in a group or channel you own): it becomes a tombstone, its body gone; every member gets a `change`',
        security,
        params: SeqParams,
        response: { 200: ChangeResponse, ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      return core.deleteMessage(request.params.id, user.id, request.params.seq);
    },
  );

  for (const [method, on] of [
    ['PUT', true],
    ['DELETE', false],
  ] as const) {
    app.route({
      method,
      url: '/api/chat/conversations/:id/messages/:seq/reactions/:emoji',
      schema: {
        summary: on
          ? 'Set your reaction with one emoji (percent-encoded in the path); idempotent'
          : 'Clear your reaction with one emoji; idempotent',
        security,
        params: ReactionParams,
        response: { 200: ChangeResponse, ...errors },
      },
      handler: async (request) => {
        const { user } = callerOf(request);
        const { id, seq, emoji } = request.params;
        return core.react(id, user.id, seq, emoji, on);
      },
    });
  }

  app.get(
    '/api/chat/conversations/:id/changes',
    {
      schema: {
        summary:
          'The messages changed after change counter `after`, each once in its current state, in ascending changeSeq; and the conversation’s lastChangeSeq',
        security,
        params: IdParams,
        querystring: Type.Object(
          {
            after: Type.Integer({ minimum: 0, default: 0 }),
            limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxChangesPage, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ messages: Type.Array(Message), lastChangeSeq: Type.Integer({ minimum: 0 }) }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      return core.changes(user.id, request.params.id, request.query.after, request.query.limit);
    },
  );

  app.get(
    '/api/chat/conversations/:id/messages/:seq/thread',
    {
      schema: {
        summary:
          'A thread: its root (`seq` may be any message of the thread) and a page of its replies in ascending seq (those after `after`)',
        security,
        params: SeqParams,
        querystring: Type.Object(
          {
            after: Type.Optional(Type.Integer({ minimum: 0 })),
            limit: Type.Integer({ minimum: 1, maximum: LIMITS.maxChangesPage, default: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ root: Message, messages: Type.Array(Message) }), ...errors },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { after, limit } = request.query;
      return core.thread(user.id, request.params.id, request.params.seq, {
        limit,
        ...(after !== undefined ? { after } : {}),
      });
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
