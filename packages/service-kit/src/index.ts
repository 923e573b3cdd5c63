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
export { createLogger, type Logger, type LoggerOptions, REDACT_PATHS } from './logger.js';
export { counter, gauge, histogram, metricsRegistry } from './metrics.js';
export { inParallel } from './parallel.js';
