export {
  ConfigError,
  type Env,
  envBool,
  envEnum,
  envInt,
  envList,
  envRequired,
  envString,
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
  type CommonRoutesOptions,
  createHttpServer,
  type HttpServer,
  type HttpServerOptions,
  registerCommonRoutes,
  sendError,
  toHttpError,
} from './http.js';
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
