/**
 * Writes the Docker Compose rendering of deploy/nginx/nginx.conf.template (COMPOSE_NGINX)
 * to the file given as the only argument, or to stdout. deploy/docker/Dockerfile.web runs it:
 *   node --conditions=source --import tsx apps/cluster/src/render-nginx.ts /out/nginx.conf
 */
import { writeFileSync } from 'node:fs';
import { COMPOSE_NGINX, renderNginxConfig } from './nginx-config.js';

const config = renderNginxConfig(COMPOSE_NGINX);
const out = process.argv[2];
if (out) writeFileSync(out, config);
else process.stdout.write(config);
