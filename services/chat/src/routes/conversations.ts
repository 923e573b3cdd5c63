import {
  ChannelListing,
  Conversation,
  ConversationIdSchema,
  ErrorResponse,
  LIMITS,
  NAME_PATTERN,
  UserIdSchema,
} from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import Type from 'typebox';
import type { ChatCore } from '../chat.js';
import { callerOf } from './authenticate.js';

// Checked again after NFKC normalisation in the chat core (normalizeName).
const Name = Type.String({
  minLength: 1,
  maxLength: LIMITS.maxConversationNameChars,
  pattern: NAME_PATTERN,
});
const CreateBody = Type.Union([
  Type.Object({ kind: Type.Literal('dm'), with: UserIdSchema }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('group'),
      name: Name,
      members: Type.Array(UserIdSchema, { minItems: 1, maxItems: LIMITS.maxGroupMembers - 1 }),
    },
    { additionalProperties: false },
  ),
  Type.Object({ kind: Type.Literal('channel'), name: Name }, { additionalProperties: false }),
]);
// Checked again after NFKC normalisation in the chat core (normalizeTopic); empty or null: no topic.
const Topic = Type.Union([Type.String({ maxLength: LIMITS.maxTopicChars }), Type.Null()]);
const UpdateBody = Type.Object(
  { name: Type.Optional(Name), topic: Type.Optional(Topic) },
  { additionalProperties: false, minProperties: 1 },
);
const AddMembersBody = Type.Object(
  { members: Type.Array(UserIdSchema, { minItems: 1, maxItems: LIMITS.maxGroupMembers - 1 }) },
  { additionalProperties: false },
);
const SettingsBody = Type.Object(
  { muted: Type.Optional(Type.Boolean()), hidden: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
const IdParams = Type.Object({ id: ConversationIdSchema });
const MemberParams = Type.Object({ id: ConversationIdSchema, userId: UserIdSchema });
const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
  503: ErrorResponse,
};
const security = [{ bearer: [] }];

/** Conversations, the channel directory, joining and leaving, managing a conversation and one's own settings. */
export async function conversationRoutes(app: HttpServer, core: ChatCore): Promise<void> {
  app.get(
    '/api/chat/conversations',
    {
      schema: {
        summary:
          "The caller's conversations, most recent activity first, with unread counts; one page at a time (`cursor` = the previous page's `nextCursor`)",
        security,
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            conversations: Type.Array(Conversation),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      const { cursor, limit } = request.query;
      return core.conversationsOf(user.id, token, cursor, limit);
    },
  );

  app.post(
    '/api/chat/conversations',
    {
      schema: {
        summary: 'Create a DM (idempotent per pair), a group, or a public channel',
        security,
        body: CreateBody,
        response: {
          200: Type.Object({ conversation: Conversation }),
          201: Type.Object({ conversation: Conversation }),
          409: ErrorResponse,
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { user, token } = callerOf(request);
      const { conversation, created } = await core.createConversation(user, request.body, token);
      return reply.code(created ? 201 : 200).send({ conversation });
    },
  );

  app.get(
    '/api/chat/conversations/:id',
    {
      schema: {
        summary: 'One of the caller’s conversations',
        security,
        params: IdParams,
        response: { 200: Type.Object({ conversation: Conversation }), ...errors },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      return { conversation: await core.conversationOf(request.params.id, user.id, token) };
    },
  );

  app.get(
    '/api/chat/channels',
    {
      schema: {
        summary: 'The public channel directory, by name; `q` is a name prefix',
        security,
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ maxLength: LIMITS.maxConversationNameChars })),
            limit: Type.Integer({ minimum: 1, maximum: 100, default: 50 }),
            cursor: Type.Optional(Type.String({ maxLength: 200 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            channels: Type.Array(ChannelListing),
            nextCursor: Type.Union([Type.String(), Type.Null()]),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { user } = callerOf(request);
      const { q, limit, cursor } = request.query;
      const channels = await core.listChannels(user.id, q, limit + 1, cursor);
      const page = channels.slice(0, limit);
      return { channels: page, nextCursor: channels.length > limit ? (page.at(-1)?.name ?? null) : null };
    },
  );

  app.post(
    '/api/chat/conversations/:id/join',
    {
      schema: {
        summary: 'Join a public channel (idempotent)',
        security,
        params: IdParams,
        response: { 200: Type.Object({ conversation: Conversation }), ...errors },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      return { conversation: await core.join(request.params.id, user, token) };
    },
  );

  app.post(
    '/api/chat/conversations/:id/leave',
    {
      schema: {
        summary: 'Leave a group or channel',
        security,
        params: IdParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { user, token } = callerOf(request);
      await core.leave(request.params.id, user, token);
      return reply.code(204).send(null);
    },
  );

  app.patch(
    '/api/chat/conversations/:id',
    {
      schema: {
        summary:
          'Rename a group or channel and/or set its topic (null or empty: none) — its owner only; every member gets `updated`',
        security,
        params: IdParams,
        body: UpdateBody,
        response: { 200: Type.Object({ conversation: Conversation }), 409: ErrorResponse, ...errors },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      return { conversation: await core.updateConversation(request.params.id, user, request.body, token) };
    },
  );

  app.post(
    '/api/chat/conversations/:id/members',
    {
      schema: {
        summary:
          'Add people to a group — its owner only; each must have written to the owner, as at creation',
        security,
        params: IdParams,
        body: AddMembersBody,
        response: { 200: Type.Object({ conversation: Conversation }), ...errors },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      return {
        conversation: await core.addMembers(request.params.id, user, request.body.members, token),
      };
    },
  );

  app.delete(
    '/api/chat/conversations/:id/members/:userId',
    {
      schema: {
        summary: 'Remove someone from a group — its owner only (removing yourself is leaving)',
        security,
        params: MemberParams,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const { user, token } = callerOf(request);
      await core.removeMember(request.params.id, user, request.params.userId, token);
      return reply.code(204).send(null);
    },
  );

  app.put(
    '/api/chat/conversations/:id/settings',
    {
      schema: {
        summary:
          "The caller's own settings of a conversation: `muted`; `hidden` (DMs only: left out of the list until its next message). Absent fields stay as they are",
        security,
        params: IdParams,
        body: SettingsBody,
        response: { 200: Type.Object({ conversation: Conversation }), ...errors },
      },
    },
    async (request) => {
      const { user, token } = callerOf(request);
      return { conversation: await core.updateSettings(request.params.id, user, request.body, token) };
    },
  );
}
