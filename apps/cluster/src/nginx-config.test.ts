import { describe, expect, it } from 'vitest';
import {
  COMPOSE_NGINX,
  type NginxConfigOptions,
  nginxDirectivesOf,
  renderNginxConfig,
  UPSTREAM_SERVER_PARAMS,
  upstreamServersOf,
} from './nginx-config.js';

const local: NginxConfigOptions = {
  listen: '127.0.0.1:8080',
  webRoot: '/srv/web',
  authServers: ['127.0.0.1:8001'],
  chatServers: ['127.0.0.1:8002', '127.0.0.1:8003', '127.0.0.1:8004'],
  pidFile: '/tmp/x/nginx.pid',
  errorLog: 'stderr',
  accessLog: '/tmp/x/access.log',
  tempDir: '/tmp/x/temp',
};

describe('renderNginxConfig', () => {
  it('fills every placeholder of the template', () => {
    const config = renderNginxConfig(local);
    expect(config).not.toMatch(/\$\{[A-Z_]+\}/);
    expect(config).toContain('listen 127.0.0.1:8080;');
    expect(config).toContain('root /srv/web;');
    expect(config).toContain(`server 127.0.0.1:8003 ${UPSTREAM_SERVER_PARAMS};`);
  });

  it('keeps nginx variables untouched', () => {
    const config = renderNginxConfig(local);
    expect(config).toContain('map $http_upgrade $connection_upgrade');
    expect(config).toContain('proxy_set_header X-Forwarded-For $remote_addr;');
  });

  it('lists the upstream servers of each block', () => {
    expect(upstreamServersOf(renderNginxConfig(local))).toEqual({
      auth_upstream: ['127.0.0.1:8001'],
      chat_upstream: ['127.0.0.1:8002', '127.0.0.1:8003', '127.0.0.1:8004'],
    });
    expect(upstreamServersOf(renderNginxConfig(COMPOSE_NGINX))).toEqual({
      auth_upstream: ['auth:8001'],
      chat_upstream: ['chat:8002'],
    });
  });

  it('differs between deployments only in the filled values', () => {
    const strip = (config: string, options: NginxConfigOptions) => {
      let text = config;
      const values = [
        ...options.authServers,
        ...options.chatServers,
        options.pidFile,
        options.errorLog,
        options.accessLog,
        options.tempDir,
        options.webRoot,
        String(options.listen),
      ];
      for (const value of values.sort((a, b) => b.length - a.length)) text = text.split(value).join('•');
      return text
        .replace(/worker_processes \S+;/, '')
        .replace(/(server •[^\n]*\n\s*)+/g, 'server •;\n')
        .replace(/include \S+mime.types;/, '');
    };
    expect(strip(renderNginxConfig(local), local)).toBe(
      strip(renderNginxConfig(COMPOSE_NGINX), COMPOSE_NGINX),
    );
  });

  it('turns an access log of off into /dev/null (the directive also names a format)', () => {
    expect(renderNginxConfig({ ...local, accessLog: 'off' })).toContain('access_log /dev/null relay;');
  });

  it('refuses values that would change the syntax', () => {
    expect(() => renderNginxConfig({ ...local, webRoot: '/srv/web; deny all' })).toThrow('WEB_ROOT');
    expect(() => renderNginxConfig({ ...local, chatServers: [] })).toThrow('at least one server');
    expect(() => renderNginxConfig({ ...local, chatServers: ['chat'] })).toThrow('host:port');
  });

  it('refuses a template with a placeholder it does not know', () => {
    const template = ['listen $', '{LISTEN}; root $', '{SOMETHING_ELSE};'].join('');
    expect(() => renderNginxConfig(local, template)).toThrow('SOMETHING_ELSE');
  });
});

describe('nginxDirectivesOf', () => {
  it('lists simple directives with their blocks, quotes removed and comments dropped', () => {
    const config = `
      # a comment; with { braces }
      http {
        map $uri $x { ~^/a/ 'one; two'; default "three"; }
        server {
          add_header X-A "b c" always; # trailing
          location ~ ^/api/[^/]+/(m|i)(/|$) { return 404 '{"error":{}}'; }
        }
      }`;
    expect(nginxDirectivesOf(config)).toEqual([
      { blocks: ['http', 'map $uri $x'], name: '~^/a/', args: ['one; two'] },
      { blocks: ['http', 'map $uri $x'], name: 'default', args: ['three'] },
      { blocks: ['http', 'server'], name: 'add_header', args: ['X-A', 'b c', 'always'] },
      {
        blocks: ['http', 'server', 'location ~ ^/api/[^/]+/(m|i)(/|$)'],
        name: 'return',
        args: ['404', '{"error":{}}'],
      },
    ]);
  });

  it('reads the whole template', () => {
    const directives = nginxDirectivesOf(renderNginxConfig(local));
    expect(directives.filter((d) => d.name === 'proxy_pass')).toHaveLength(3);
    expect(() => nginxDirectivesOf('http { server {')).toThrow('unclosed block');
  });
});
