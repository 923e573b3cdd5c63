import type { HttpServer } from '@relay-chat/service-kit';
import type { RevocationFeed } from '../revocations.js';
import { errorResponses, RevocationsPage, RevocationsQuery } from './schemas.js';

export interface InternalRoutesOptions {
  revocations: RevocationFeed;
}

/**
 * Routes for the other services of the deployment (mounted under /api/auth/internal). They
 * need no token: the deployment lets only its own services reach `/api/<service>/internal/*`
 * (the proxy refuses it from outside). Hidden from the OpenAPI document.
 */
export async function internalRoutes(app: HttpServer, { revocations }: InternalRoutesOptions): Promise<void> {
  app.get(
    '/revocations',
    {
      schema: {
        hide: true,
        querystring: RevocationsQuery,
        response: { 200: RevocationsPage, ...errorResponses },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return revocations.after(request.query.after ?? 0, request.query.limit ?? DEFAULT_PAGE);
    },
  );
}

const DEFAULT_PAGE = 100;
