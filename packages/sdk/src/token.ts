/** What a token provider is asked for. */
export interface TokenRequest {
  /**
   * True when the last token was rejected (or is about to expire and the cached one would not
   * do): the provider must not answer from its cache, it must refresh.
   */
  forceRefresh: boolean;
}

/**
 * Supplies the access token (a JWT) for the WebSocket upgrade and for REST calls; called
 * before each connection attempt, before the token expires, and after a rejection.
 * `Session#getToken` is one. Throwing a ChatError whose code is not retryable (for example
 * `invalid_refresh_token`) stops the client: the user has to sign in again.
 */
export type TokenProvider = (request: TokenRequest) => string | Promise<string>;

/**
 * The `exp` claim of a JWT in milliseconds since the epoch (by the issuer's clock), or
 * undefined when the token is not a readable JWT. The signature is not checked: the client
 * only uses this to schedule renewal.
 */
export function tokenExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const claims: unknown = JSON.parse(atob(padded));
    if (typeof claims !== 'object' || claims === null) return undefined;
    const exp = (claims as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
