import type { HttpServer } from '@relay-chat/service-kit';
import type { PublicJwk } from '../tokens.js';
import { JwksResponse } from './schemas.js';

/** GET jwks.json: the public keys that verify access tokens (current first, previous during a rotation). */
export async function jwksRoutes(app: HttpServer, options: { publicKeys: () => PublicJwk[] }): Promise<void> {
  app.get(
    '/jwks.json',
    {
      schema: {
        summary: 'Public keys of the access-token signer (JWKS)',
        tags: ['keys'],
        response: { 200: JwksResponse },
      },
    },
    async (_request, reply) => {
      // Verifiers refetch on an unknown kid, so a short cache is safe across a rotation.
      reply.header('cache-control', 'public, max-age=300');
      return { keys: options.publicKeys() };
    },
  );
}
