import { describe, expect, it } from 'vitest';
import { tokenExpiryMs } from './token.js';
import { gatewayUrlOf, httpUrlOf } from './websocket.js';

describe('gateway and REST URLs', () => {
  it.each([
    ['http://localhost:8080', 'ws://localhost:8080/ws'],
    ['https://chat.example.com/', 'wss://chat.example.com/ws'],
    ['https://example.com/relay', 'wss://example.com/relay/ws'],
    ['ws://10.0.0.2:9000/ws', 'ws://10.0.0.2:9000/ws'],
  ])('gatewayUrlOf(%s) = %s', (base, ws) => {
    expect(gatewayUrlOf(base)).toBe(ws);
  });

  it.each([
    ['ws://localhost:8080/ws', 'http://localhost:8080'],
    ['wss://chat.example.com/ws', 'https://chat.example.com'],
    ['wss://example.com/relay/ws', 'https://example.com/relay'],
  ])('httpUrlOf(%s) = %s', (ws, http) => {
    expect(httpUrlOf(ws)).toBe(http);
  });
});

describe('tokenExpiryMs', () => {
  const jwt = (payload: object) =>
    `eyJhbGciOiJFZERTQSJ9.${btoa(JSON.stringify(payload)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')}.sig`;

  it('reads the exp claim in milliseconds', () => {
    expect(tokenExpiryMs(jwt({ sub: 'u1', exp: 1_700_000_000 }))).toBe(1_700_000_000_000);
  });

  it('gives undefined for tokens it cannot read', () => {
    expect(tokenExpiryMs('opaque-token')).toBeUndefined();
    expect(tokenExpiryMs('a.!!!.c')).toBeUndefined();
    expect(tokenExpiryMs(jwt({ sub: 'u1' }))).toBeUndefined();
    expect(tokenExpiryMs(jwt({ exp: 'soon' }))).toBeUndefined();
  });
});
