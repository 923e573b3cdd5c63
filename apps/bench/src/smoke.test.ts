import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedServer, startEmbeddedServer } from '@relay-chat/server';
import { freePort } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBench } from './coordinator.js';
import { DAY_OPERATIONS, runDayBench } from './day/day-bench.js';
import { DAY_DEFAULTS } from './day/day-plan.js';
import type { Deployment } from './deployment.js';
import { defaultOptions } from './scenario.js';

// One short end-to-end run of the load tester against relay-chat embedded in this process:
// the tester's own plumbing (users, channel set-up, a generator process, accounting) works
// and the delivery promise holds under a small load. Figures live in docs/benchmarks.md.
describe('load tester against the embedded launcher', () => {
  let dir: string;
  let server: EmbeddedServer;
  let deployment: Deployment;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    server = await startEmbeddedServer({
      PORT: String(await freePort()),
      DATA_DIR: join(dir, 'data'),
      LOG_LEVEL: 'warn',
      SEND_RATE_PER_SEC: '10000',
    });
    deployment = {
      label: 'relay-chat embedded (in-process)',
      kind: 'relay-chat',
      driver: 'relay',
      connectUrls: [server.url],
      apiUrl: server.url,
      usersKey: 'smoke',
      processes: [],
      description: 'smoke test',
      stop: async () => {},
    };
  }, 120_000);

  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers every acknowledged message to every receiver once and in order', async () => {
    const result = await runBench({
      deployment,
      // 4 users × 8 devices = 32 connections: few password hashes, a few dozen receivers.
      options: {
        ...defaultOptions('channel'),
        users: 4,
        devices: 8,
        senders: 4,
        rate: 40,
        durationSec: 2,
        warmupSec: 1,
        generators: 1,
        // Returns as soon as everything arrived; generous for a loaded machine.
        drainSec: 60,
        channelName: 'smoke-channel',
      },
      command: 'smoke',
      log: () => {},
      progress: () => {},
      usersDir: join(dir, 'users'),
    });
    expect(result.connect).toMatchObject({ ok: 32, failed: 0 });
    const [phase] = result.phases;
    expect(phase).toBeDefined();
    expect(phase!.sent).toBeGreaterThan(0);
    expect(phase!.acked).toBe(phase!.sent);
    expect(phase!.errors).toEqual({});
    expect(phase!.delivery).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(phase!.delivery.expected).toBe(phase!.acked * 32);
    expect(phase!.latencyMs.count).toBeGreaterThan(0);
  }, 180_000);

  it('mixed: every acknowledged edit and reaction reaches every member once, timed apart from sends', async () => {
    const result = await runBench({
      deployment,
      // 4 users × 4 devices; half the operations are changes, so a few seconds make dozens.
      options: {
        ...defaultOptions('mixed'),
        users: 4,
        devices: 4,
        senders: 4,
        rate: 40,
        edits: 0.2,
        reactions: 0.3,
        durationSec: 3,
        warmupSec: 1,
        generators: 1,
        drainSec: 60,
        channelName: 'smoke-mixed',
      },
      command: 'smoke mixed',
      log: () => {},
      progress: () => {},
      usersDir: join(dir, 'users'),
    });
    expect(result.connect).toMatchObject({ ok: 16, failed: 0 });
    const [phase] = result.phases;
    expect(phase).toBeDefined();
    expect(phase!.errors).toEqual({});
    expect(phase!.acked).toBe(phase!.sent);
    expect(phase!.delivery).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    const changes = phase!.changes!;
    expect(changes).toBeDefined();
    expect(changes.edits).toBeGreaterThan(0);
    expect(changes.reactions).toBeGreaterThan(0);
    expect(changes).toMatchObject({ noops: 0, unacked: 0 });
    expect(changes.acked).toBe(changes.edits + changes.reactions);
    // Every change frame expected (each acknowledged changeSeq at each of the 16 connections) arrived once.
    expect(changes.delivery.expected).toBe(changes.acked * 16);
    expect(changes.delivery).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    expect(changes.latencyMs.count).toBeGreaterThan(0);
  }, 180_000);

  it('a day in the life: every operation at once, a storm and churn, and no acked message lost', async () => {
    const result = await runDayBench(
      deployment,
      {
        ...DAY_DEFAULTS,
        users: 12,
        channels: 3,
        minChannelMembers: 3,
        dmsPerUser: 1,
        durationSec: 4,
        messageRate: 30,
        typingRate: 10,
        readRate: 5,
        historyRate: 5,
        churnPerSec: 0.1,
        storms: [0.5],
        stormShare: 0.5,
      },
      { command: 'smoke day', log: () => {}, progress: () => {}, usersDir: join(dir, 'users') },
    );
    expect(result.team.channelSizes).toEqual([12, 6, 4]);
    expect(result.errors).toEqual({});
    expect(result.storms[0]!.dropped).toBeGreaterThan(0);
    expect(result.delivery.acked).toBeGreaterThan(0);
    expect(result.delivery).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 });
    for (const op of DAY_OPERATIONS) {
      if (op === 'connect → ready (churn)') continue; // a few seconds may churn nobody who comes back in time
      expect(result.operations[op].latencyMs.count, op).toBeGreaterThan(0);
      expect(result.operations[op].failed, op).toBe(0);
    }
  }, 180_000);
});
