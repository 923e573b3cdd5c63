import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The few cookie operations the auth routes need (RFC 6265): read one value from the `Cookie`
 * header, and set or clear one with fixed attributes. Every cookie the service sets is
 * HttpOnly and SameSite=Strict, scoped to the one route that reads it.
 */

/** The value of cookie `name` in a `Cookie` request header; undefined when absent or empty. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value === '' ? undefined : value;
  }
  return undefined;
}

export interface CookieSpec {
  name: string;
  /** The only path the browser sends it to (and its sub-paths). */
  path: string;
  /** Life, seconds. */
  maxAgeSec: number;
}

/**
 * Whether cookies for this request may carry `Secure`: the request came over https (as told by
 * a trusted proxy's X-Forwarded-Proto), or the host is the local machine, which browsers treat
 * as a secure context even over http. Elsewhere over plain http a Secure cookie would be
 * dropped by the browser, so it is sent without the flag.
 */
export function secureContext(request: FastifyRequest): boolean {
  if (request.protocol === 'https') return true;
  const host = request.hostname.toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

/** Adds a `Set-Cookie` for `value` (token-safe characters only) to the reply. */
export function setCookie(
  reply: FastifyReply,
  request: FastifyRequest,
  spec: CookieSpec,
  value: string,
): void {
  appendSetCookie(reply, serialize(request, spec, value, spec.maxAgeSec));
}

/** Adds a `Set-Cookie` that deletes the cookie. */
export function clearCookie(reply: FastifyReply, request: FastifyRequest, spec: CookieSpec): void {
  appendSetCookie(reply, serialize(request, spec, '', 0));
}

function serialize(request: FastifyRequest, spec: CookieSpec, value: string, maxAgeSec: number): string {
  if (!/^[A-Za-z0-9._~-]*$/.test(value)) throw new Error(`cookie ${spec.name}: unsafe value`);
  const attributes = [
    `${spec.name}=${value}`,
    `Path=${spec.path}`,
    `Max-Age=${maxAgeSec}`,
    'HttpOnly',
    'SameSite=Strict',
  ];
  if (secureContext(request)) attributes.push('Secure');
  return attributes.join('; ');
}

function appendSetCookie(reply: FastifyReply, cookie: string): void {
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  reply.header('set-cookie', [...list, cookie]);
}
