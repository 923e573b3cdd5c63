import { ConfigError, closeHttpServer, createHttpServer, createLogger } from '@relay-chat/service-kit';
import { createChatService } from './app.js';
import { loadChatConfig } from './config.js';

/** Standalone chat replica: `node services/chat/dist/main.js` (needs AUTH_JWKS_URL). */
async function main(): Promise<void> {
  const config = loadChatConfig(process.env);
  const logger = createLogger({ name: 'chat', level: config.logLevel });
  const chat = await createChatService(config, logger);
  const app = createHttpServer({
    logger,
    trustProxy: config.trustProxy,
    internalNetworks: config.internalNetworks,
  });
  await chat.register(app);
  await app.listen({ host: config.host, port: config.port });
  logger.info({ replica: config.replicaId }, 'chat replica ready');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 15_000);
    force.unref();
    await chat.close();
    await closeHttpServer(app);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(`chat: bad configuration: ${err.message}`);
  } else {
    // The whole error with its cause chain (a failed migration says why it failed).
    console.error('chat: failed to start', err);
  }
  process.exit(1);
});
