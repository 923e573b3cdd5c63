import { randomBytes } from 'node:crypto';
import { createLogger } from '@relay-chat/service-kit';
import { cleanRedisPrefix, REDIS_TEST_URL, redisAvailable, redisTestPrefix } from '@relay-chat/testkit';
import { Redis } from 'ioredis';
import { describeBusTransport } from './contract.js';
import { MemoryBroker, MemoryTransport } from './memory.js';
import { RedisTransport } from './redis.js';

const logger = createLogger({ name: 'bus-test', level: 'silent' });

describeBusTransport('memory', async () => {
  const broker = new MemoryBroker();
  return {
    create: async () => new MemoryTransport(broker),
    subscriberCount: async (channel) => broker.subscriberCount(channel),
    prefix: 'mem:',
    cleanup: async () => {},
  };
});

describeBusTransport(
  'Redis',
  async () => {
    const prefix = redisTestPrefix('bus');
    const admin = new Redis(REDIS_TEST_URL);
    return {
      async create() {
        const name = `relaytest-bus-${randomBytes(4).toString('hex')}`;
        const transport = new RedisTransport({ url: REDIS_TEST_URL, logger, connectionName: name });
        await transport.connect();
        return transport;
      },
      async subscriberCount(channel) {
        const reply = (await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
        return Number(reply[1]);
      },
      prefix,
      async cleanup() {
        await cleanRedisPrefix(prefix);
        await admin.quit();
      },
    };
  },
  !(await redisAvailable()),
);
