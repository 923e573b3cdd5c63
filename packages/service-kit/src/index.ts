export {
  ConfigError,
  type Env,
  envBool,
  envDatabaseLimits,
  envEnum,
  envInt,
  envList,
  envNetworks,
  envString,
  envTrustProxy,
  envUrl,
  freeze,
} from './config.js';
export {
  type DatabaseKind,
  migrateToLatest,
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openDatabase,
  sqlitePathOf,
} from './database.js';
export { withDeadline } from './deadline.js';
export {
  answerWithin,
  type CommonRoutesOptions,
  closeHttpServer,
  createHttpServer,
  HTTP_CLOSE_GRACE_MS,
  type HttpServer,
  type HttpServerOptions,
  registerCommonRoutes,
  sendError,
  toHttpError,
} from './http.js';
export { DEFAULT_INTERNAL_NETWORKS, InternalNetworks, parseCidr } from './internal-networks.js';
export {
  createLogger,
  envLogLevel,
  LOG_LEVELS,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  REDACT_PATHS,
} from './logger.js';
export { counter, gauge, histogram, metricsRegistry } from './metrics.js';
export { inParallel } from './parallel.js';
export {
  BoundedPool,
  type DatabaseLimits,
  DEFAULT_DATABASE_LIMITS,
  PREPARE,
  UNBOUNDED_DATABASE_LIMITS,
} from './postgres-pool.js';
export { isUnavailableError, toServiceError } from './service-error.js';
