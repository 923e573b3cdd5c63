import type { Server } from 'node:http';
import type { User, UserId } from '@relay-chat/protocol';
import { answerWithin, type HttpServer, type Logger, registerCommonRoutes } from '@relay-chat/service-kit';
import { type AccessTokenVerifier, createAccessTokenVerifier } from '@relay-chat/tokens';
import type { JSONWebKeySet } from 'jose';
import { AppendBatcher } from './append-batcher.js';
import { createBus } from './bus/factory.js';
import { ChatCore } from './chat.js';
import type { ChatConfig } from './config.js';
import { Gateway } from './gateway/gateway.js';
import type { Budget } from './limits/budget.js';
import { KeyedBudget } from './limits/keyed-budget.js';
import { RedisBudget } from './limits/redis-budget.js';
import {
  httpRevocationSource,
  RevocationFeed,
  type RevocationSource,
} from './revocations/revocation-feed.js';
import { RevocationList, refusingRevoked } from './revocations/revocation-list.js';
import { requireBearer, slowRefusals } from './routes/authenticate.js';
import { conversationRoutes } from './routes/conversations.js';
import { messageRoutes } from './routes/messages.js';
import { presenceRoutes } from './routes/presence.js';
import { searchRoutes } from './routes/search.js';
import { MessageSearch } from './search/message-search.js';
import { createMessageStore } from './store/factory.js';
import type { MessageStore } from './store/message-store.js';
import { CachedUserDirectory, httpUserFetcher } from './users/user-directory.js';

/** A shutdown step running longer than this is logged by name, ms. */
const SLOW_CLOSE_MS = 3000;

export interface ChatServiceOptions {
  /** Revocations when auth runs in the same process (embedded); else polled from config.authUrl. */
  revocations?: RevocationSource;
  /** Public keys of the auth service when it runs in the same process (embedded); else config.authJwksUrl. */
  jwks?: JSONWebKeySet;
  /** User look-up when auth runs in the same process (embedded); else HTTP to config.authUrl. */
  findUsersByIds?: (ids: UserId[]) => Promise<User[]>;
}

/** The chat service: REST routes under /api/chat and the WebSocket gateway at /ws. */
export interface ChatService {
  /** Mounts /api/chat routes (docs, health, ready, metrics included) and the /ws upgrade handler. */
  register(app: HttpServer): Promise<void>;
  /** Graceful stop: refuse new sockets, close open ones with 1012, finish writes, release resources. */
  close(): Promise<void>;
}

export async function createChatService(
  config: Readonly<ChatConfig>,
  logger: Logger,
  options: ChatServiceOptions = {},
): Promise<ChatService> {
  const log = logger.child({ svc: 'chat', replica: config.replicaId });
  const store = createMessageStore(config.messageStoreUrl, log, {
    limits: config.databaseLimits,
    sqliteThread: config.sqliteStoreThread,
    searchIndex: config.searchIndex,
  });
  await migrateAtStart(store, log);
  const runtime = await createBus(config.redisUrl, config.redisPrefix, log, { replicaId: config.replicaId });
  const { bus, presence } = runtime;

  const revocations = new RevocationList(config.revocationKeepMs);
  const revocationFeed = new RevocationFeed(
    options.revocations ?? httpRevocationSource(requireValue(config.authUrl, 'AUTH_URL'), 2000),
    revocations,
    config.revocationPollMs,
    log,
  );
  revocationFeed.start();
  // The first read is usually done at once (embedded: in process); a standalone replica
  // that starts before auth goes on and reports not ready until it succeeds.
  await revocationFeed.ready().catch(() => {});
  const verify = refusingRevoked(createVerifier(config, options), revocations, () => revocationFeed.caughtUp);
  const fetchUsers = options.findUsersByIds
    ? (ids: UserId[]) => options.findUsersByIds!(ids)
    : httpUserFetcher(requireValue(config.authUrl, 'AUTH_URL'));
  const directory = new CachedUserDirectory(fetchUsers, config.userDirectoryMaxEntries);
  const batcher = new AppendBatcher(store, config.appendBatchMax);
  const sendBudget = sendBudgetOf(config, log);
  // Checks before the budget's connection is up fall back to this replica's own.
  if (sendBudget instanceof RedisBudget) await sendBudget.ready().catch(() => {});
  const core = new ChatCore(
    store,
    batcher,
    bus,
    directory,
    log,
    {
      conversationsPage: config.conversationsPage,
      maxGroupMembers: config.maxGroupMembers,
      conversationsPerHour: config.conversationsPerHour,
      defaultChannels: config.defaultChannels,
    },
    sendBudget,
  );
  const gateway = new Gateway(
    { core, bus, presence, verify, revocations, log },
    {
      accept: {
        path: '/ws',
        allowedOrigins: config.allowedOrigins,
        allowNoOrigin: config.allowNoOrigin,
        maxFrameBytes: config.maxFrameBytes,
        maxConnectionsPerUser: config.maxConnectionsPerUser,
        session: {
          maxBufferedBytes: config.maxBufferedBytes,
          lagGraceMs: config.slowConsumerGraceMs,
          closeTimeoutMs: config.closeTimeoutMs,
        },
      },
      commands: {
        inbound: {
          framesPerSec: config.inboundFramesPerSec,
          burst: config.inboundBurst,
          noticeIntervalMs: config.inboundNoticeMs,
        },
        typingIntervalMs: config.typingIntervalMs,
        membershipLookupsPerSec: config.membershipLookupsPerSec,
      },
      fanOut: { reorderWindowMs: config.reorderWindowMs, reorderMaxHeld: config.reorderMaxHeld },
      lifecycle: {
        brokerWaitMs: config.brokerWaitMs,
        limits: {
          framesPerSec: config.inboundFramesPerSec,
          framesBurst: config.inboundBurst,
          sendPerSec: config.sendRatePerSec,
          sendBurst: config.sendBurst,
        },
      },
      heartbeat: { pingIntervalMs: config.heartbeatMs, expirySweepMs: config.tokenExpirySweepMs },
      flushIntervalMs: config.flushIntervalMs,
    },
  );
  await gateway.ready();
  const restBudget = new KeyedBudget<string>({
    ratePerSec: config.restRatePerSec,
    burst: config.restBurst,
    what: 'too many requests',
  });
  const searchBudget = new KeyedBudget<string>({
    ratePerSec: config.searchRatePerSec,
    burst: config.searchBurst,
    what: 'searching too fast',
  });
  const search = new MessageSearch(store, {
    budget: searchBudget,
    maxInFlight: config.searchMaxInFlight,
    enabled: config.searchIndex,
  });

  return {
    async register(app) {
      await app.register(async (scope) => {
        const server = scope as unknown as HttpServer;
        await registerCommonRoutes(server, {
          prefix: '/api/chat',
          title: 'relay-chat chat API',
          description:
            'Conversations, history and read markers. Live events travel over the WebSocket at /ws.',
          readiness: {
            store: () => store.ping(),
            bus: () => bus.ready(),
            revocations: () => revocationFeed.ready(),
          },
        });
        await server.register(async (secured) => {
          const api = secured as unknown as HttpServer;
          requireBearer(api, verify, (user) => directory.remember(user), restBudget);
          slowRefusals(api, config.refusalDelayMs);
          answerWithin(api, config.requestDeadlineMs);
          await conversationRoutes(api, core);
          await messageRoutes(api, core);
          await searchRoutes(api, search);
          await presenceRoutes(api, (ids) => presence.onlineAmong(ids));
        });
      });
      gateway.attach(app.server as Server);
    },
    async close() {
      // A step still running after SLOW_CLOSE_MS is logged by name: a hung shutdown says where.
      const step = async (name: string, run: () => unknown) => {
        const slow = setTimeout(() => log.warn({ step: name }, 'shutdown step still running'), SLOW_CLOSE_MS);
        try {
          await run();
        } finally {
          clearTimeout(slow);
        }
      };
      await step('gateway', () => gateway.close());
      await step('batcher', () => batcher.drain());
      await step('core', () => core.close());
      await step('revocations', () => revocationFeed.stop());
      restBudget.stop();
      searchBudget.stop();
      await step('runtime', () => runtime.close());
      await step('store', () => store.close());
    },
  };
}

/**
 * One send budget per user: in this process when it is the only one (embedded), else in
 * Redis for every replica together — falling back to this replica's own while Redis does
 * not answer.
 */
function sendBudgetOf(config: Readonly<ChatConfig>, log: Logger): Budget {
  const local = new KeyedBudget<string>({
    ratePerSec: config.sendRatePerSec,
    burst: config.sendBurst,
    what: 'sending too fast',
  });
  if (config.redisUrl === undefined) return local;
  return new RedisBudget({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    name: 'send',
    ratePerSec: config.sendRatePerSec,
    burst: config.sendBurst,
    what: 'sending too fast',
    fallback: local,
    logger: log,
  });
}

function createVerifier(config: Readonly<ChatConfig>, options: ChatServiceOptions): AccessTokenVerifier {
  const keys = options.jwks ?? new URL(requireValue(config.authJwksUrl, 'AUTH_JWKS_URL'));
  return createAccessTokenVerifier({ keys, issuer: config.jwtIssuer, audience: config.jwtAudience });
}

function requireValue(value: string | undefined, variable: string): string {
  if (!value) throw new Error(`${variable} is required when auth does not run in this process`);
  return value;
}

/**
 * Brings the store's schema up to date before anything is served. A replica restarting on a
 * busy database (a connection refused or slow to open, another replica's migration lock) tries
 * again a few times, about 15 s in all, instead of exiting at the first failure; a migration
 * that fails every time still stops the start, with its cause.
 */
async function migrateAtStart(store: MessageStore, log: Logger): Promise<void> {
  const waitsMs = [500, 1000, 2000, 4000, 8000];
  for (let attempt = 0; ; attempt++) {
    try {
      await store.migrate();
      return;
    } catch (err) {
      const waitMs = waitsMs[attempt];
      if (waitMs === undefined) throw err;
      log.warn({ err, attempt: attempt + 1, retryInMs: waitMs }, 'store migration failed; trying again');
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}
