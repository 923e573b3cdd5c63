import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** deploy/nginx/nginx.conf.template — the one nginx configuration of every deployment. */
export const NGINX_TEMPLATE_PATH = fileURLToPath(
  new URL('../../../deploy/nginx/nginx.conf.template', import.meta.url),
);

/**
 * Passive health check of every upstream server: two failures within 5 s mark it down for
 * 5 s, during which nginx sends its requests to the others.
 */
export const UPSTREAM_SERVER_PARAMS = 'max_fails=2 fail_timeout=5s';

/** What differs between deployments; everything else is fixed in the template. */
export interface NginxConfigOptions {
  /** `listen` argument: a port (`8080`) or `address:port` (`127.0.0.1:8080`). */
  listen: string | number;
  /** Directory of the built web client (absolute). */
  webRoot: string;
  /** Auth servers as `host:port`; at least one. */
  authServers: readonly string[];
  /** Chat replicas as `host:port`; at least one. A host name resolving to several addresses counts each. */
  chatServers: readonly string[];
  /** Absolute path of the pid file. */
  pidFile: string;
  /** Absolute path of the error log, or `stderr`. */
  errorLog: string;
  /** Absolute path of the access log, `/dev/stdout`, or `off` (written as /dev/null: the line names a log format). */
  accessLog: string;
  /** Directory for request-body and proxy temp files (must exist and be writable). */
  tempDir: string;
  /** nginx's mime.types file. Default /etc/nginx/mime.types. */
  mimeTypes?: string;
  /** `worker_processes`: a number or `auto` (default). */
  workerProcesses?: number | 'auto';
}

/**
 * The Docker Compose rendering (deploy/docker/Dockerfile.web bakes it into the web image):
 * upstreams are the compose services `auth` and `chat` (Docker's DNS answers every chat
 * replica's address), nginx listens on 8080 as the unprivileged `nginx` user, logs go to
 * the container's stdout/stderr.
 */
export const COMPOSE_NGINX: Readonly<NginxConfigOptions> = Object.freeze({
  listen: 8080,
  webRoot: '/usr/share/nginx/html',
  authServers: ['auth:8001'],
  chatServers: ['chat:8002'],
  pidFile: '/tmp/nginx/nginx.pid',
  errorLog: 'stderr',
  accessLog: '/dev/stdout',
  tempDir: '/tmp/nginx',
  mimeTypes: '/etc/nginx/mime.types',
  workerProcesses: 'auto',
});

const PLACEHOLDER = /\$\{([A-Z][A-Z0-9_]*)\}/g;

/** Fills the template; throws when a placeholder has no value or a value could break the syntax. */
export function renderNginxConfig(options: NginxConfigOptions, template = readNginxTemplate()): string {
  const values: Record<string, string> = {
    WORKER_PROCESSES: String(options.workerProcesses ?? 'auto'),
    PID_FILE: options.pidFile,
    ERROR_LOG: options.errorLog,
    ACCESS_LOG: options.accessLog === 'off' ? '/dev/null' : options.accessLog,
    MIME_TYPES: options.mimeTypes ?? '/etc/nginx/mime.types',
    TEMP_DIR: options.tempDir,
    LISTEN: String(options.listen),
    WEB_ROOT: options.webRoot,
    AUTH_SERVERS: serverLines('auth', options.authServers),
    CHAT_SERVERS: serverLines('chat', options.chatServers),
  };
  for (const [name, value] of Object.entries(values)) {
    if (name.endsWith('_SERVERS')) continue;
    // One token each: a space, quote, brace or semicolon would change the directive.
    if (value === '' || /[\s;{}'"]/.test(value))
      throw new Error(`nginx ${name} is not a plain value: "${value}"`);
  }
  return template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`nginx template placeholder \${${name}} has no value`);
    return value;
  });
}

export function readNginxTemplate(path = NGINX_TEMPLATE_PATH): string {
  return readFileSync(path, 'utf8');
}

/** The mime.types to include: nginx's own when installed, else a minimal one written by the caller. */
export function defaultMimeTypesPath(): string | undefined {
  return existsSync('/etc/nginx/mime.types') ? '/etc/nginx/mime.types' : undefined;
}

/** A minimal mime.types for machines whose nginx keeps its own elsewhere. */
export const MINIMAL_MIME_TYPES = `types {
    text/html html;
    text/css css;
    text/plain txt;
    application/javascript js mjs;
    application/json json map;
    application/manifest+json webmanifest;
    image/svg+xml svg;
    image/png png;
    image/x-icon ico;
    font/woff2 woff2;
}
`;

/** The `host:port` servers of each upstream block of a rendered configuration. */
export function upstreamServersOf(config: string): Record<string, string[]> {
  const upstreams: Record<string, string[]> = {};
  for (const block of config.matchAll(/upstream\s+(\w+)\s*\{([^}]*)\}/g)) {
    const [, name = '', body = ''] = block;
    upstreams[name] = [...body.matchAll(/^\s*server\s+(\S+)/gm)].map((m) => m[1] ?? '');
  }
  return upstreams;
}

function serverLines(upstream: string, servers: readonly string[]): string {
  if (servers.length === 0) throw new Error(`nginx upstream ${upstream} needs at least one server`);
  return servers
    .map((server) => {
      if (!/^[A-Za-z0-9.[\]:_-]+:\d{1,5}$/.test(server)) {
        throw new Error(`nginx ${upstream} server "${server}" is not host:port`);
      }
      return `server ${server} ${UPSTREAM_SERVER_PARAMS};`;
    })
    .join('\n        ');
}

/** One directive of an nginx configuration, with the blocks it sits in. */
export interface NginxDirective {
  /** The enclosing blocks, outermost first, each as written: `http`, `server`, `location = /ws`. */
  blocks: string[];
  name: string;
  /** Arguments with their quotes removed. */
  args: string[];
}

/**
 * The simple directives (`name args;`) of a configuration, for tests that check what it
 * says: comments dropped, quotes honoured, block directives recorded as context only.
 */
export function nginxDirectivesOf(config: string): NginxDirective[] {
  const directives: NginxDirective[] = [];
  const blocks: string[] = [];
  let words: string[] = [];
  let i = 0;
  while (i < config.length) {
    const c = config[i] ?? '';
    if (c === '#') {
      while (i < config.length && config[i] !== '\n') i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === ';' || c === '{') {
      const [name = '', ...args] = words;
      if (c === ';') directives.push({ blocks: [...blocks], name, args });
      else blocks.push([name, ...args].join(' '));
      words = [];
      i++;
    } else if (c === '}') {
      blocks.pop();
      i++;
    } else if (c === "'" || c === '"') {
      const end = config.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} at offset ${i}`);
      words.push(config.slice(i + 1, end));
      i = end + 1;
    } else {
      const match = /^[^\s;{}'"]+/.exec(config.slice(i));
      const word = match?.[0] ?? c;
      words.push(word);
      i += word.length;
    }
  }
  if (blocks.length > 0) throw new Error(`unclosed block ${blocks.at(-1)}`);
  return directives;
}
