import { existsSync } from 'node:fs';
import { join, sep } from 'node:path';
import fastifyStatic from '@fastify/static';
import { createAuthService, loadAuthConfig } from '@relay-chat/auth';
import { createChatService, loadChatConfig } from '@relay-chat/chat';
import {
  closeHttpServer,
  createHttpServer,
  createLogger,
  type Env,
  type Logger,
} from '@relay-chat/service-kit';
import { embeddedEnv, loadServerConfig } from './config.js';
import { securityHeadersFor } from './security-headers.js';

export interface EmbeddedServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  logger: Logger;
  close(): Promise<void>;
  /** The part of `close()` under way (`chat`, `http`, `auth`), `done` after it; undefined before. */
  readonly closingStep: 'chat' | 'http' | 'auth' | 'done' | undefined;
}

/**
 * relay-chat in one process: auth, chat, the WebSocket gateway and the web client on one
 * port, SQLite files under DATA_DIR, the in-process bus (unless REDIS_URL is set).
 * The very same route modules as the separate services, mounted in one server.
 * (Give a real PORT: the browser origins allowed by default are derived from it.)
 */
export async function startEmbeddedServer(env: Env): Promise<EmbeddedServer> {
  const config = loadServerConfig(env);
  const logger = createLogger({ name: 'relay-chat', level: config.logLevel });
  const hasWebClient = existsSync(join(config.webDir, 'index.html'));
  const app = createHttpServer({
    logger,
    internalNetworks: config.internalNetworks,
    // Client-side routes fall back to the app shell; API paths keep their JSON 404.
    notFoundFallback: (request, reply) => {
      if (!hasWebClient || request.method !== 'GET') return false;
      if (request.url.startsWith('/api/') || request.url.startsWith('/ws')) return false;
      void reply.type('text/html').sendFile('index.html');
      return true;
    },
  });
  // The headers nginx adds in a cluster, from the same table (security-headers.ts); set
  // before any route runs so that errors, the app shell and the APIs all carry them.
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(securityHeadersFor(request.url.split('?')[0] ?? '/'));
  });
  const port = config.port;
  try {
    const serviceEnv = embeddedEnv(env, port);
    const auth = await createAuthService(loadAuthConfig(serviceEnv), logger);
    const chat = await createChatService(loadChatConfig(serviceEnv), logger, {
      jwks: auth.jwks(),
      findUsersByIds: (ids) => auth.findUsersByIds(ids),
      revocations: {
        after: async (after, limit) => (await auth.revocationsAfter(after, limit)).revocations,
        onRevoked: (listener) => auth.onRevoked(listener),
      },
    });
    await auth.register(app);
    await chat.register(app);
    if (hasWebClient) {
      await app.register(fastifyStatic, {
        root: config.webDir,
        wildcard: false,
        cacheControl: false,
        // Hashed assets never change; the app shell must be revalidated so an upgrade shows.
        setHeaders: (res, path) => {
          const immutable = path.includes(`${sep}assets${sep}`);
          res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
        },
      });
    } else {
      logger.warn({ webDir: config.webDir }, 'web client not built; serving the API only (npm run build)');
    }
    await app.listen({ host: config.host, port });
    let closingStep: EmbeddedServer['closingStep'];
    return {
      url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
      port,
      logger,
      async close() {
        // Each step named, so a shutdown that hangs says where (see main.ts's forced exit).
        for (const [step, run] of [
          ['chat', () => chat.close()],
          ['http', () => closeHttpServer(app)],
          ['auth', () => auth.close()],
        ] as const) {
          closingStep = step;
          await run();
        }
        closingStep = 'done';
      },
      get closingStep() {
        return closingStep;
      },
    };
  } catch (err) {
    await app.close();
    throw err;
  }
}
