/**
 * The two deployments the abuse suite attacks: the embedded server as a child process, and
 * three chat replicas behind nginx (on a fresh test database and a private Redis — one
 * attack stops Redis, and the shared one is never stopped).
 */
import { startCluster } from '@relay-chat/cluster';
import {
  createTestDatabase,
  freePort,
  type PrivateRedis,
  redisTestPrefix,
  startPrivateRedis,
} from '@relay-chat/testkit';
import { rssBytesOf, startEmbeddedProcess } from '../support/embedded-process.js';

/**
 * The limits the suite asserts, passed explicitly (they are the specified defaults), so
 * each bound in a test reads from one place.
 */
export const LIMITS = {
  inboundFramesPerSec: 50,
  inboundBurst: 100,
  sendRatePerSec: 30,
  sendBurst: 60,
  groupsPerHour: 30,
  maxConnectionsPerUser: 20,
  /** Conversations in `ready` and in one `GET /conversations` page. */
  readyConversations: 100,
  /** Longest last-message preview, chars. */
  previewChars: 500,
} as const;

export const LIMITS_ENV: Record<string, string> = {
  INBOUND_FRAMES_PER_SEC: String(LIMITS.inboundFramesPerSec),
  INBOUND_BURST: String(LIMITS.inboundBurst),
  SEND_RATE_PER_SEC: String(LIMITS.sendRatePerSec),
  SEND_BURST: String(LIMITS.sendBurst),
  GROUPS_PER_HOUR: String(LIMITS.groupsPerHour),
  MAX_CONNECTIONS_PER_USER: String(LIMITS.maxConnectionsPerUser),
};

export interface AbuseTarget {
  name: 'embedded' | 'cluster';
  /** What clients use: the embedded server, or nginx. */
  url: string;
  wsUrl: string;
  /** Each chat process directly (embedded: the one server). */
  chatUrls: string[];
  /** Resident memory of each chat process, bytes. */
  chatRssBytes(): number[];
  /** Names of the processes that are no longer running. */
  down(): string[];
  /** The private Redis of the cluster (undefined for embedded). */
  redis?: PrivateRedis;
  stop(): Promise<void>;
}

export async function startEmbeddedTarget(): Promise<AbuseTarget> {
  const server = await startEmbeddedProcess('abuse', LIMITS_ENV);
  return {
    name: 'embedded',
    url: server.url,
    wsUrl: server.wsUrl,
    chatUrls: [server.url],
    chatRssBytes: () => [server.rssBytes()],
    down: () => (server.process.running ? [] : [`embedded server (${JSON.stringify(server.process.exit)})`]),
    stop: () => server.stop(),
  };
}

export async function startClusterTarget(): Promise<AbuseTarget> {
  const redis = await startPrivateRedis();
  const db = await createTestDatabase('abuse').catch(async (err: unknown) => {
    await redis.remove();
    throw err;
  });
  try {
    const cluster = await startCluster({
      replicas: 3,
      port: await freePort(),
      databaseUrl: db.url,
      redisUrl: redis.url,
      redisPrefix: redisTestPrefix('abuse'),
      logLevel: 'warn',
      env: LIMITS_ENV,
    });
    return {
      name: 'cluster',
      url: cluster.url,
      wsUrl: cluster.wsUrl,
      chatUrls: cluster.chatUrls,
      chatRssBytes: () => cluster.replicas.map((r) => rssBytesOf(r.pid)),
      down: () =>
        [cluster.auth, cluster.nginx, ...cluster.replicas].filter((p) => !p.running).map((p) => p.name),
      redis,
      stop: async () => {
        await cluster.stop();
        await db.drop();
        await redis.remove();
      },
    };
  } catch (err) {
    await db.drop();
    await redis.remove();
    throw err;
  }
}
