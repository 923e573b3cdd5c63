/**
 * Static checks of the Docker deployment (no Docker engine runs here, so the images are
 * never built in tests): the compose files parse and interpolate with .env.example, every
 * build context and Dockerfile exists, each service's real config loader accepts the
 * environment Compose gives it, nginx's upstreams are compose services on the right ports,
 * and both renderings of the nginx configuration pass `nginx -t`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAuthConfig } from '@relay-chat/auth';
import { loadChatConfig } from '@relay-chat/chat';
import { COMPOSE_NGINX, REPO_ROOT, renderNginxConfig, upstreamServersOf } from '@relay-chat/cluster';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ComposeFile,
  type ComposeService,
  containerPortsOf,
  environmentOf,
  interpolate,
  mergeCompose,
  readComposeFile,
  readEnvFile,
  variablesOf,
} from './compose-file.js';

const at = (path: string) => join(REPO_ROOT, path);
const envExample = readEnvFile(at('.env.example'));
const baseRaw = readComposeFile(at('docker-compose.yml'));
const postgresRaw = readComposeFile(at('docker-compose.postgres.yml'));
const compose = interpolate(baseRaw, envExample) as unknown as ComposeFile;
const withPostgres = interpolate(mergeCompose(baseRaw, postgresRaw), envExample) as unknown as ComposeFile;
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const nginxInstalled = spawnSync(NGINX, ['-v']).status === 0;

function service(file: ComposeFile, name: string): ComposeService {
  const found = file.services[name];
  if (!found) throw new Error(`no service ${name}`);
  return found;
}

function buildOf(svc: ComposeService): { context: string; dockerfile: string; args: Record<string, string> } {
  const build = typeof svc.build === 'string' ? { context: svc.build } : (svc.build ?? {});
  return {
    context: build.context ?? '.',
    dockerfile: build.dockerfile ?? 'Dockerfile',
    args: build.args ?? {},
  };
}

function hasHealthcheck(svc: ComposeService): boolean {
  if (svc.healthcheck) return true;
  if (!svc.build) return false;
  const { context, dockerfile } = buildOf(svc);
  return /^HEALTHCHECK /m.test(readFileSync(join(at(context), dockerfile), 'utf8'));
}

function hostPort(url: string): [string, number] {
  const parsed = new URL(url);
  return [parsed.hostname, Number(parsed.port)];
}

describe('docker-compose files', () => {
  it('parse and name the services of the design', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'auth',
      'chat',
      'mongo',
      'postgres',
      'redis',
      'web',
    ]);
    expect(service(compose, 'chat').deploy?.replicas).toBe(3);
    expect(containerPortsOf(service(compose, 'web'))).toContain(COMPOSE_NGINX.listen);
    expect(service(compose, 'web').ports?.[0]).toBe('80:8080');
  });

  it('refer only to variables that .env.example sets or that have a default', () => {
    for (const file of [baseRaw, postgresRaw]) {
      for (const [name, { hasDefault }] of variablesOf(file)) {
        expect(hasDefault || name in envExample, `${name} needs a default or a line in .env.example`).toBe(
          true,
        );
      }
    }
  });

  it('use every setting of .env.example', () => {
    const used = new Set([...variablesOf(baseRaw).keys(), ...variablesOf(postgresRaw).keys()]);
    for (const name of Object.keys(envExample)) expect(used.has(name), `${name} is unused`).toBe(true);
  });

  it('refuse to start without a PostgreSQL password', () => {
    const { POSTGRES_PASSWORD: _, ...rest } = envExample;
    expect(() => interpolate(baseRaw, rest)).toThrow('POSTGRES_PASSWORD');
  });

  it('build every image from an existing context and Dockerfile', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      if (!svc.build) {
        expect(svc.image, `${name} needs an image or a build`).toMatch(/^[a-z0-9./-]+:[\w.-]+$/);
        continue;
      }
      const { context, dockerfile, args } = buildOf(svc);
      expect(existsSync(at(context)), `${name} context`).toBe(true);
      expect(existsSync(join(at(context), dockerfile)), `${name} ${dockerfile}`).toBe(true);
      if (args.SERVICE) expect(existsSync(at(`services/${args.SERVICE}/src/main.ts`)), name).toBe(true);
    }
  });

  it('start every dependency before its dependants, once healthy', () => {
    for (const file of [compose, withPostgres]) {
      for (const [name, svc] of Object.entries(file.services)) {
        const deps = svc.depends_on ?? {};
        expect(Array.isArray(deps), `${name}: depends_on with conditions`).toBe(false);
        for (const [dep, { condition }] of Object.entries(deps as Record<string, { condition?: string }>)) {
          const target = file.services[dep];
          expect(target, `${name} depends on unknown ${dep}`).toBeDefined();
          expect(target?.profiles, `${name} depends on ${dep}, which a profile disables`).toBeUndefined();
          expect(condition, `${name} → ${dep}`).toBe('service_healthy');
          expect(hasHealthcheck(target ?? {}), `${dep} has a healthcheck`).toBe(true);
        }
      }
    }
  });

  it('initialise MongoDB as the replica set the chat URL names', () => {
    const mongo = service(compose, 'mongo');
    const command = ([] as string[]).concat(mongo.command ?? []).join(' ');
    const replSet = /--replSet\s+(\S+)/.exec(command)?.[1];
    expect(replSet).toBeDefined();
    expect(JSON.stringify(mongo.healthcheck?.test)).toContain(`rs.initiate({ _id: '${replSet}'`);
    const url = new URL(environmentOf(service(compose, 'chat')).MESSAGE_STORE_URL ?? '');
    expect(url.searchParams.get('replicaSet')).toBe(replSet);
  });

  it('keep history in PostgreSQL with the override, without starting MongoDB', () => {
    const chat = environmentOf(service(withPostgres, 'chat'));
    expect(chat.MESSAGE_STORE_URL).toMatch(/^postgres:\/\/relay:[^@]+@postgres:5432\/relay_chat$/);
    expect(Object.keys(service(withPostgres, 'chat').depends_on ?? {})).not.toContain('mongo');
    expect(service(withPostgres, 'mongo').profiles).toEqual(['mongo']);
  });
});

describe('service configuration under compose', () => {
  for (const [label, file] of [
    ['mongo history', compose],
    ['postgres history', withPostgres],
  ] as const) {
    it(`gives auth everything its config loader requires (${label})`, () => {
      const env = environmentOf(service(file, 'auth'));
      const config = loadAuthConfig(env);
      expect(config.host).toBe('0.0.0.0');
      const [host, port] = hostPort(config.databaseUrl);
      expect(host).toBe('postgres');
      expect(port).toBe(5432);
      const pg = environmentOf(service(file, 'postgres'));
      expect(config.databaseUrl).toBe(
        `postgres://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
      );
      expect(containerPortsOf(service(file, 'auth'))).toContain(config.port);
    });

    it(`gives every chat replica everything its config loader requires (${label})`, () => {
      const env = environmentOf(service(file, 'chat'));
      const config = loadChatConfig(env);
      expect(config.host).toBe('0.0.0.0');
      expect(config.authJwksUrl, 'AUTH_JWKS_URL is required standalone').toBeDefined();
      const auth = loadAuthConfig(environmentOf(service(file, 'auth')));
      expect(hostPort(config.authJwksUrl ?? '')).toEqual(['auth', auth.port]);
      expect(new URL(config.authJwksUrl ?? '').pathname).toBe('/api/auth/jwks.json');
      expect([config.jwtIssuer, config.jwtAudience]).toEqual([auth.issuer, auth.audience]);
      expect(typeof config.redisUrl, 'the compose file uses one Redis').toBe('string');
      expect(hostPort(typeof config.redisUrl === 'string' ? config.redisUrl : '')).toEqual(['redis', 6379]);
      const [storeHost] = hostPort(config.messageStoreUrl);
      expect(file.services[storeHost], `message store host ${storeHost}`).toBeDefined();
      expect(config.allowedOrigins).toContain('http://localhost');
      expect(containerPortsOf(service(file, 'chat'))).toContain(config.port);
    });
  }
});

describe('Dockerfiles', () => {
  const serviceDockerfile = readFileSync(at('deploy/docker/Dockerfile.service'), 'utf8');
  const webDockerfile = readFileSync(at('deploy/docker/Dockerfile.web'), 'utf8');

  function stagesOf(dockerfile: string): string[] {
    return [...dockerfile.matchAll(/^FROM\s+\S+(?:\s+AS\s+(\S+))?/gim)].map((m) => m[1] ?? '');
  }

  it('build the services in stages: npm ci, tsc -b, production dependencies only, non-root, HEALTHCHECK', () => {
    expect(serviceDockerfile).toMatch(/^ARG NODE_IMAGE=node:20-/m);
    expect(stagesOf(serviceDockerfile).length).toBeGreaterThanOrEqual(2);
    expect(serviceDockerfile).toMatch(/npm ci /);
    expect(serviceDockerfile).toMatch(/npx tsc -b/);
    expect(serviceDockerfile).toMatch(/npm ci --omit=dev --workspace "@relay-chat\/\$\{SERVICE\}"/);
    expect(serviceDockerfile).toMatch(/^USER node$/m);
    expect(serviceDockerfile).toMatch(/^HEALTHCHECK [\s\S]*'\/api\/'\+s\+'\/health'/m);
    for (const from of serviceDockerfile.matchAll(/--from=(\S+)/g)) {
      expect(stagesOf(serviceDockerfile)).toContain(from[1]);
    }
  });

  it('put the built web client and the compose rendering of the nginx template in the web image', () => {
    expect(stagesOf(webDockerfile).length).toBeGreaterThanOrEqual(2);
    expect(webDockerfile).toContain('npm run build -w @relay-chat/web');
    expect(webDockerfile).toContain('apps/cluster/src/render-nginx.ts');
    expect(existsSync(at('apps/cluster/src/render-nginx.ts'))).toBe(true);
    expect(webDockerfile).toContain(`/apps/web/dist ${COMPOSE_NGINX.webRoot}`);
    expect(webDockerfile).toMatch(/^USER nginx$/m);
    expect(webDockerfile).toContain(`http://127.0.0.1:${COMPOSE_NGINX.listen}/healthz`);
    expect(webDockerfile).toContain(`mkdir -p ${COMPOSE_NGINX.tempDir}`);
  });

  it('keep dependencies and build output out of the build context', () => {
    for (const name of ['Dockerfile.service', 'Dockerfile.web']) {
      const ignore = readFileSync(at(`deploy/docker/${name}.dockerignore`), 'utf8');
      expect(ignore).toContain('**/node_modules');
      expect(ignore).toContain('**/dist');
    }
  });
});

describe('nginx', () => {
  const work = mkdtempSync(join(tmpdir(), 'relay-deploy-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('sends every upstream to a compose service on the port that service listens on', () => {
    const upstreams = upstreamServersOf(renderNginxConfig(COMPOSE_NGINX));
    expect(Object.keys(upstreams).sort()).toEqual(['auth_upstream', 'chat_upstream']);
    for (const servers of Object.values(upstreams)) {
      for (const server of servers) {
        const [host = '', port] = server.split(':');
        const svc = service(compose, host);
        expect(Number(port), server).toBe(Number(environmentOf(svc).PORT));
      }
    }
  });

  it.skipIf(!nginxInstalled)('accepts the launcher rendering (nginx -t)', () => {
    const config = renderNginxConfig({
      listen: '127.0.0.1:18080',
      webRoot: work,
      authServers: ['127.0.0.1:18001'],
      chatServers: ['127.0.0.1:18002', '127.0.0.1:18003', '127.0.0.1:18004'],
      pidFile: join(work, 'nginx.pid'),
      errorLog: join(work, 'error.log'),
      accessLog: join(work, 'access.log'),
      tempDir: work,
    });
    writeFileSync(join(work, 'local.conf'), config);
    const result = spawnSync(NGINX, ['-t', '-p', work, '-c', join(work, 'local.conf')], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
  });

  // The compose file as the web image carries it: the names auth and chat resolve and
  // /tmp/nginx exists only there, so a private mount namespace supplies both.
  const canUnshare =
    nginxInstalled && process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0;
  it.skipIf(!canUnshare)('accepts the compose rendering, unchanged (nginx -t)', () => {
    writeFileSync(join(work, 'nginx.conf'), renderNginxConfig(COMPOSE_NGINX));
    writeFileSync(join(work, 'hosts'), '127.0.0.1 localhost\n127.0.0.1 auth chat\n');
    const script = [
      `mount --bind "${work}" /mnt`,
      'mount -t tmpfs tmpfs /tmp',
      `mkdir -p ${COMPOSE_NGINX.tempDir}`,
      'mount --bind /mnt/hosts /etc/hosts',
      `${NGINX} -t -c /mnt/nginx.conf`,
    ].join(' && ');
    // stdout: /dev/null rather than the socket Node would give, which /dev/stdout cannot reopen.
    const result = spawnSync('unshare', ['-m', 'sh', '-c', script], {
      encoding: 'utf8',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    expect(result.stderr).toContain('test is successful');
  });
});
