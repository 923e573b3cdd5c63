import { ConfigError, closeHttpServer, createHttpServer, createLogger } from '@relay-chat/service-kit';
import { createAuthService } from './app.js';
import { loadAuthConfig } from './config.js';

/** The auth service on its own: `node dist/main.js` (or `npx tsx src/main.ts`). */
async function main(): Promise<void> {
  const config = loadAuthConfig();
  const logger = createLogger({ name: 'auth', level: config.logLevel });
  const service = await createAuthService(config, logger);
  const app = createHttpServer({
    logger,
    trustProxy: config.trustProxy,
    internalNetworks: config.internalNetworks,
  });
  await service.register(app);
  await app.listen({ host: config.host, port: config.port });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    try {
      await closeHttpServer(app);
      await service.close();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`auth: bad configuration: ${err.message}`);
  } else {
    console.error('auth: failed to start', err);
  }
  process.exit(1);
});
