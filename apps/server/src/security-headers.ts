/**
 * The security headers of every relay-chat response, by path — the one definition in
 * TypeScript. nginx (deploy/nginx/nginx.conf.template) says the same in its own syntax;
 * tests/deploy/nginx-template.test.ts parses the template and fails when the two differ.
 */

/**
 * The web client's policy. `connect-src 'self'` covers the same-origin WebSocket too
 * (CSP Level 3: 'self' matches ws:/wss: on the page's own host and port).
 */
export const WEB_CLIENT_CSP = [
  "default-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

/** The API answers JSON only: nothing to run, nothing to frame. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/** Sent on every response, whatever the path. Header names in lower case. */
export const COMMON_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
  'cross-origin-opener-policy': 'same-origin',
});

/**
 * What a path serves: the web client (everything outside /api/), the API, or a service's
 * OpenAPI pages (which bring their own script handling, so they get no CSP).
 */
export type PathKind = 'web' | 'api' | 'docs';

/** The kind of a request path (no query string); the same rules as nginx's `map $uri`. */
export function pathKindOf(path: string): PathKind {
  if (/^\/api\/[^/]+\/docs/.test(path)) return 'docs';
  if (path.startsWith('/api/')) return 'api';
  return 'web';
}

const CSP_BY_KIND: Record<PathKind, string | undefined> = {
  web: WEB_CLIENT_CSP,
  api: API_CSP,
  docs: undefined,
};

/** Every security header for a response to `path`. */
export function securityHeadersFor(path: string): Record<string, string> {
  const csp = CSP_BY_KIND[pathKindOf(path)];
  return csp === undefined
    ? { ...COMMON_SECURITY_HEADERS }
    : { 'content-security-policy': csp, ...COMMON_SECURITY_HEADERS };
}
