/**
 * The abuse suite against three chat replicas behind nginx, on a fresh PostgreSQL database
 * and a private Redis (one attack stops it).
 */
import { pgAvailable, privateServersAvailable } from '@relay-chat/testkit';
import { describe } from 'vitest';
import { describeAbuseSuite } from './abuse-suite.js';
import { startClusterTarget } from './abuse-targets.js';

// The shared PostgreSQL holds the test database; Redis is a private one.
const servicesUp = (await pgAvailable()) && privateServersAvailable();

describe.skipIf(!servicesUp)('three replicas behind nginx', () => {
  describeAbuseSuite('abuse: the cluster', startClusterTarget, {
    floodMs: 5000,
    leaveWhileRedisDown: true,
  });
});
