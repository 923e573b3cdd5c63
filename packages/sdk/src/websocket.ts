// Handler properties are declared through a method so their parameter is compared
// bivariantly: that lets both the DOM WebSocket and the `ws` package's WebSocket (whose
// event types are richer than what the SDK reads) satisfy WebSocketLike.
type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** The part of the WebSocket API the SDK uses; the browser's WebSocket and `ws`'s both fit. */
export interface WebSocketLike {
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** The subprotocol the server selected. */
  readonly protocol: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ data: unknown }> | null;
  onerror: Handler<unknown> | null;
  onclose: Handler<{ code: number; reason: string }> | null;
}

/**
 * A WebSocket class: `globalThis.WebSocket` in browsers, `import { WebSocket } from 'ws'` in
 * Node 20 (whose global WebSocket is still experimental).
 */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export const WS_OPEN = 1;

/** The global WebSocket class, or undefined where there is none (Node 20 without a flag). */
export function globalWebSocket(): WebSocketConstructor | undefined {
  const candidate = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof candidate === 'function' ? (candidate as WebSocketConstructor) : undefined;
}

/**
 * `http(s)://host[/prefix]` → `ws(s)://host[/prefix]/ws`; a ws(s) URL is returned as is.
 * Convenience for callers that know only the server's base URL.
 */
export function gatewayUrlOf(baseUrl: string): string {
  const url = new URL(baseUrl);
  if (url.protocol === 'ws:' || url.protocol === 'wss:') return url.toString();
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/ws`;
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** `ws(s)://host[/prefix]/ws` → `http(s)://host[/prefix]`: where the same gateway serves REST. */
export function httpUrlOf(gatewayUrl: string): string {
  const url = new URL(gatewayUrl);
  if (url.protocol === 'ws:') url.protocol = 'http:';
  else if (url.protocol === 'wss:') url.protocol = 'https:';
  url.pathname = url.pathname.replace(/\/ws\/?$/, '').replace(/\/+$/, '');
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/$/, '');
}
