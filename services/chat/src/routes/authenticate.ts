import { ChatError, type User } from '@relay-chat/protocol';
import type { HttpServer } from '@relay-chat/service-kit';
import { type AccessTokenVerifier, bearerTokenOf } from '@relay-chat/tokens';
import type { FastifyRequest } from 'fastify';
import type { KeyedBudget } from '../limits/keyed-budget.js';

/** The authenticated caller of a chat REST route. */
export interface Caller {
  user: User;
  token: string;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/**
 * Adds a hook to the calling scope: every route needs a valid bearer access token, and
 * each user's requests come out of one budget (429 `rate_limited` past it).
 */
export function requireBearer(
  app: HttpServer,
  verify: AccessTokenVerifier,
  onUser: (user: User) => void,
  budget: KeyedBudget<string>,
): void {
  app.addHook('onRequest', async (request) => {
    const token = bearerTokenOf(request.headers.authorization);
    if (!token) throw new ChatError('unauthorized', 'a bearer access token is required');
    const claims = await verify(token);
    budget.take(claims.userId);
    const user = { id: claims.userId, username: claims.username };
    onUser(user);
    callers.set(request, { user, token });
  });
}

export function callerOf(request: FastifyRequest): Caller {
  const caller = callers.get(request);
  if (!caller) throw new ChatError('unauthorized');
  return caller;
}

/**
 * Answers a refusal for pace (`rate_limited`) only after the wait it announces, at most
 * `maxDelayMs`: a client looping on 429s without honouring Retry-After is slowed to about
 * its budget, instead of keeping the proxy and this replica busy answering refusals.
 */
export function slowRefusals(app: HttpServer, maxDelayMs: number): void {
  app.addHook('onError', async (_request, _reply, error) => {
    if (!(error instanceof ChatError) || error.code !== 'rate_limited' || maxDelayMs <= 0) return;
    const ms = Math.min(maxDelayMs, Math.ceil((error.retryAfterSec ?? 1) * 1000));
    await new Promise((resolve) => setTimeout(resolve, ms));
  });
}
