/**
 * Reads docker-compose files the way Docker Compose does, as far as the deploy checks need:
 * YAML with the `!override` / `!reset` tags, `.env`-style variable files, `${VAR}`
 * interpolation (`:-`, `-`, `:?`, `?`, `$$`) and the merge of an override file.
 * No Docker engine runs where these tests run, so this is what stands in for `docker compose config`.
 */
import { readFileSync } from 'node:fs';
import { parse, YAMLMap, YAMLSeq } from 'yaml';

const replaced = new WeakSet<object>();

class OverrideMap extends YAMLMap {
  static tag = '!override';
  override toJSON(key?: unknown, ctx?: Parameters<YAMLMap['toJSON']>[1]): unknown {
    const value = super.toJSON(key, ctx) as object;
    replaced.add(value);
    return value;
  }
}

class OverrideSeq extends YAMLSeq {
  static tag = '!override';
  override toJSON(key?: unknown, ctx?: Parameters<YAMLSeq['toJSON']>[1]): unknown[] {
    const value = super.toJSON(key, ctx);
    replaced.add(value);
    return value;
  }
}

const customTags = [
  { tag: '!override', collection: 'map' as const, nodeClass: OverrideMap, identify: () => false },
  { tag: '!override', collection: 'seq' as const, nodeClass: OverrideSeq, identify: () => false },
  { tag: '!reset', resolve: () => null },
];

export type Yaml = null | boolean | number | string | Yaml[] | { [key: string]: Yaml };

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> } | string;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  depends_on?: Record<string, { condition?: string }> | string[];
  deploy?: { replicas?: number };
  healthcheck?: { test: string | string[] };
  profiles?: string[];
  volumes?: string[];
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Parses a compose file (no interpolation yet). */
export function readComposeFile(path: string): Yaml {
  return parse(readFileSync(path, 'utf8'), { customTags, uniqueKeys: true }) as Yaml;
}

/** Parses KEY=value lines; `#` starts a comment line; values may be quoted. */
export function readEnvFile(path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`${path}: not KEY=value: ${line}`);
    const [, key = '', value = ''] = match;
    env[key] = value.replace(/^(['"])(.*)\1$/, '$2');
  }
  return env;
}

/** Merges an override file into a base one as Compose does for the keys relay-chat uses. */
export function mergeCompose(base: Yaml, override: Yaml): Yaml {
  if (override !== null && typeof override === 'object' && replaced.has(override)) return override;
  if (isMap(base) && isMap(override)) {
    const merged: { [key: string]: Yaml } = { ...base };
    for (const [key, value] of Object.entries(override)) {
      merged[key] = key in base ? mergeCompose(base[key] as Yaml, value) : value;
    }
    return merged;
  }
  if (Array.isArray(base) && Array.isArray(override)) return [...new Set([...base, ...override])];
  return override;
}

/** Every variable name a compose file refers to, with whether it has a default. */
export function variablesOf(value: Yaml): Map<string, { hasDefault: boolean }> {
  const found = new Map<string, { hasDefault: boolean }>();
  walkStrings(value, (text) => {
    for (const m of text
      .replace(/\$\$/g, '')
      .matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = m[1] ?? m[3] ?? '';
      const hasDefault = m[2] === '-' || m[2] === ':-';
      found.set(name, { hasDefault: hasDefault || (found.get(name)?.hasDefault ?? false) });
    }
  });
  return found;
}

/** Interpolates `${…}` everywhere as Compose does; a `?` variable that is missing throws. */
export function interpolate(value: Yaml, env: Record<string, string>): Yaml {
  if (typeof value === 'string') return interpolateString(value, env);
  if (Array.isArray(value)) return value.map((item) => interpolate(item, env));
  if (isMap(value)) {
    const out: { [key: string]: Yaml } = {};
    for (const [key, item] of Object.entries(value)) out[key] = interpolate(item, env);
    return out;
  }
  return value;
}

function interpolateString(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, braced?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
      if (match === '$$') return '$';
      const name = braced ?? bare ?? '';
      const value = env[name];
      const missing = colon ? value === undefined || value === '' : value === undefined;
      if (!missing) return value ?? '';
      if (op === '-') return arg ?? '';
      if (op === '?') throw new Error(`${name}: ${arg || 'required'}`);
      return '';
    },
  );
}

/** A service's environment as a plain object (the list form `KEY=value` too). */
export function environmentOf(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf('=');
        return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? '')]));
}

/** `[host_ip:]host[-range]:container` → container port numbers. */
export function containerPortsOf(service: ComposeService): number[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port !== 'string') return port.target;
    const container = port.split(':').at(-1) ?? '';
    return Number(container.split('/')[0]);
  });
}

function walkStrings(value: Yaml, visit: (text: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) for (const item of value) walkStrings(item, visit);
  else if (isMap(value)) for (const item of Object.values(value)) walkStrings(item, visit);
}

function isMap(value: Yaml): value is { [key: string]: Yaml } {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
