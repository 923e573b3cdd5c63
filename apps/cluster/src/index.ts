export {
  type Cluster,
  type ClusterOptions,
  DEFAULT_DATABASE_URL,
  DEFAULT_REDIS_URL,
  REPO_ROOT,
  startCluster,
  WEB_DIST,
} from './cluster.js';
export { ensurePostgresDatabase } from './database.js';
export {
  COMPOSE_NGINX,
  NGINX_TEMPLATE_PATH,
  type NginxConfigOptions,
  type NginxDirective,
  nginxDirectivesOf,
  renderNginxConfig,
  UPSTREAM_SERVER_PARAMS,
  upstreamServersOf,
} from './nginx-config.js';
export { type ProcessExit, ServiceProcess } from './service-process.js';
