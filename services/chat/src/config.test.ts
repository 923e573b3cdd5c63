import { ConfigError } from '@relay-chat/service-kit';
import { describe, expect, it } from 'vitest';
import { loadChatConfig } from './config.js';

describe('loadChatConfig', () => {
  it('gives every tuning value its documented default', () => {
    const config = loadChatConfig({});
    expect(config).toMatchObject({
      sendRatePerSec: 30,
      sendBurst: 60,
      inboundFramesPerSec: 60,
      inboundBurst: 120,
      typingIntervalMs: 1500,
      maxConnectionsPerUser: 20,
      conversationsPage: 100,
      searchRatePerSec: 5,
      searchBurst: 20,
      searchMaxInFlight: 8,
      slowConsumerGraceMs: 2000,
      brokerWaitMs: 2000,
      flushIntervalMs: 2,
      reorderWindowMs: 200,
      defaultChannels: ['general'],
      sqliteStoreThread: 'worker',
      searchIndex: true,
      logLevel: 'info',
    });
    expect(loadChatConfig({ SQLITE_STORE_THREAD: 'main' }).sqliteStoreThread).toBe('main');
    expect(loadChatConfig({ SEARCH_INDEX: 'off' }).searchIndex).toBe(false);
  });

  it('reads the default channels: normalised, each once, empty for none', () => {
    expect(loadChatConfig({ DEFAULT_CHANNELS: ' Ｗelcome , random,welcome,  ' }).defaultChannels).toEqual([
      'Welcome',
      'random',
    ]);
    expect(loadChatConfig({ DEFAULT_CHANNELS: '' }).defaultChannels).toEqual([]);
    expect(loadChatConfig({ DEFAULT_CHANNELS: '  ' }).defaultChannels).toEqual([]);
  });

  it('keeps the inbound frame budget above a raised send budget', () => {
    const config = loadChatConfig({ SEND_RATE_PER_SEC: '1000', SEND_BURST: '3000' });
    expect(config.inboundFramesPerSec).toBe(2000);
    expect(config.inboundBurst).toBe(6000);
  });

  it.each([
    ['LOG_LEVEL', 'loud'],
    ['SEND_RATE_PER_SEC', 'fast'],
    ['MAX_CONNECTIONS_PER_USER', '0'],
    ['ALLOWED_ORIGINS', 'chat.example.com'],
    ['ALLOW_NO_ORIGIN', 'maybe'],
    ['SQLITE_STORE_THREAD', 'both'],
    ['SEARCH_INDEX', 'no'],
    ['REDIS_URL', 'http://localhost'],
    ['DEFAULT_CHANNELS', 'general,bad\u202Ename'],
    ['DEFAULT_CHANNELS', 'x'.repeat(81)],
  ])('stops start-up on a bad %s and names it', (variable, value) => {
    let thrown: unknown;
    try {
      loadChatConfig({ [variable]: value });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).variable).toBe(variable);
  });

  it('is frozen', () => {
    const config = loadChatConfig({ ALLOWED_ORIGINS: 'https://chat.example.com' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.allowedOrigins)).toBe(true);
  });
});
