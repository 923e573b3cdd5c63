/** Tiny JSON-over-HTTP helpers for tests (real requests to real servers). */
import type { Conversation } from '@relay-chat/protocol';

export interface JsonResponse<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

export async function request<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers,
    ...(options.body !== undefined
      ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }
      : {}),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

/**
 * A request that, like a well-behaved client, waits as told and tries again when the server
 * is busy (429 or 503 with Retry-After) — password hashing refuses what it cannot serve soon,
 * and a service answers 503 when a dependency is slow. `retried` tells which statuses were
 * retried (a retried registration may have gone through the first time).
 */
async function patiently<T>(
  send: () => Promise<JsonResponse<T>>,
  attempts = 20,
  retried = new Set<number>(),
): Promise<JsonResponse<T>> {
  for (let attempt = 1; ; attempt++) {
    const res = await send();
    if ((res.status !== 429 && res.status !== 503) || attempt >= attempts) return res;
    retried.add(res.status);
    const waitSec = Number(res.headers.get('retry-after') ?? '1');
    await new Promise((resolve) => setTimeout(resolve, Math.min(5, Math.max(0.2, waitSec)) * 1000));
  }
}

/** Registers and logs in a user through the real auth routes. */
export async function registerUser(
  baseUrl: string,
  username: string,
  password = 'correct horse battery',
): Promise<TestUser> {
  const retried = new Set<number>();
  const reg = await patiently(
    () =>
      request<{ user: { id: string } }>(baseUrl, 'POST', '/api/auth/register', {
        body: { username, password },
      }),
    20,
    retried,
  );
  // A 503 may come after the account was made (the answer timed out): then the retry finds it taken.
  const madeEarlier = reg.status === 409 && retried.has(503);
  if (reg.status !== 201 && !madeEarlier)
    throw new Error(`register ${username}: HTTP ${reg.status} ${JSON.stringify(reg.body)}`);
  const login = await patiently(() =>
    request<{
      accessToken: string;
      refreshToken: string;
      user: { id: string; username: string };
    }>(baseUrl, 'POST', '/api/auth/login', { body: { username, password } }),
  );
  if (login.status !== 200) throw new Error(`login ${username}: HTTP ${login.status}`);
  return {
    id: login.body.user.id,
    username: login.body.user.username,
    password,
    accessToken: login.body.accessToken,
    refreshToken: login.body.refreshToken,
  };
}

export function wsUrlOf(baseUrl: string): string {
  return `${baseUrl.replace(/^http/, 'ws')}/ws`;
}

/**
 * `speaker` writes to `listener` in their DM (created when missing). Someone may be added to
 * a group only by a person they have written to, so tests that build groups introduce the
 * members to the creator first.
 */
export async function introduce(baseUrl: string, speaker: TestUser, listener: TestUser): Promise<void> {
  const dm = await request<{ conversation: { id: string } }>(baseUrl, 'POST', '/api/chat/conversations', {
    token: speaker.accessToken,
    body: { kind: 'dm', with: listener.id },
  });
  if (dm.status !== 200 && dm.status !== 201) throw new Error(`DM ${speaker.username}: HTTP ${dm.status}`);
  const sent = await request(baseUrl, 'POST', `/api/chat/conversations/${dm.body.conversation.id}/messages`, {
    token: speaker.accessToken,
    body: { clientMsgId: `hello-${listener.id}`, body: `hello ${listener.username}` },
  });
  if (sent.status !== 201 && sent.status !== 200) throw new Error(`hello: HTTP ${sent.status}`);
}

/** Creates a conversation through the REST API; throws with the answer unless it is 200/201. */
export async function createConversation(
  baseUrl: string,
  user: TestUser,
  body: Record<string, unknown>,
): Promise<Conversation> {
  const res = await request<{ conversation: Conversation }>(baseUrl, 'POST', '/api/chat/conversations', {
    token: user.accessToken,
    body,
  });
  if (res.status !== 200 && res.status !== 201) {
    throw new Error(`create ${JSON.stringify(body)}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
  }
  return res.body.conversation;
}

/**
 * Creates the public channel `name` as `owner` and has each of `members` (the owner
 * excepted) join it; throws with the answer unless every step succeeds.
 */
export async function createChannel(
  baseUrl: string,
  owner: TestUser,
  name: string,
  members: readonly TestUser[] = [],
): Promise<Conversation> {
  const channel = await createConversation(baseUrl, owner, { kind: 'channel', name });
  for (const member of members) {
    if (member.id === owner.id) continue;
    const joined = await request(baseUrl, 'POST', `/api/chat/conversations/${channel.id}/join`, {
      token: member.accessToken,
    });
    if (joined.status !== 200) {
      throw new Error(
        `join ${name} as ${member.username}: HTTP ${joined.status} ${JSON.stringify(joined.body)}`,
      );
    }
  }
  return channel;
}
