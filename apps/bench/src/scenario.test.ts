import { describe, expect, it } from 'vitest';
import { parseCommand } from './cli-options.js';
import { COMPARE_TARGETS, compareRuns, equivalentCommand } from './compare-plan.js';
import {
  baselineLayout,
  defaultOptions,
  fanoutOf,
  planClients,
  senderCountOf,
  splitPlans,
} from './scenario.js';

describe('planClients', () => {
  const relay = {
    kind: 'relay-chat' as const,
    driver: 'relay' as const,
    connectUrls: ['http://a:1', 'http://b:2'],
  };
  const users = Array.from({ length: 6 }, (_, i) => ({ id: `id${i}`, token: `t${i}` }));

  it('puts every device of every user in the channel and lets the first senders send', () => {
    const options = { ...defaultOptions('channel'), users: 6, devices: 2, senders: 3 };
    const clients = planClients(options, relay, users, { kind: 'channel', conv: 'ch' });
    expect(clients).toHaveLength(12);
    expect(clients.every((c) => c.convs[0] === 'ch')).toBe(true);
    expect(clients.filter((c) => c.sender).map((c) => [c.user, c.sender!.index])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    expect(new Set(clients.map((c) => c.url))).toEqual(new Set(['ws://a:1/ws', 'ws://b:2/ws']));
    expect(clients[0]!.token).toBe('t0');
    expect(fanoutOf(options, { kind: 'channel', conv: 'ch' })).toBe(12);
  });

  it('pairs users in DMs where both send, and tells the baselines who they are in the URL', () => {
    const options = { ...defaultOptions('dm'), users: 5 };
    const layout = baselineLayout(options);
    expect(layout).toEqual({ kind: 'dm', convs: ['dm-0', 'dm-1'] });
    const baseline = { kind: 'baseline' as const, driver: 'relay' as const, connectUrls: ['http://x:9'] };
    const clients = planClients(options, baseline, users, layout);
    expect(clients).toHaveLength(4);
    expect(clients.map((c) => c.sender?.conv)).toEqual(['dm-0', 'dm-0', 'dm-1', 'dm-1']);
    expect(clients[3]!.url).toBe('ws://x:9/ws?user=id3&convs=dm-1');
    expect(senderCountOf(options, layout)).toBe(4);
    expect(fanoutOf(options, layout)).toBe(2);
  });

  it('deals clients to generator processes round-robin', () => {
    const clients = planClients({ ...defaultOptions('connect'), users: 5 }, relay, users, { kind: 'none' });
    const plans = splitPlans(clients, 2, {
      driver: 'relay',
      messageSize: 100,
      connectConcurrency: 1,
      connectTimeoutMs: 1,
      runId: 'r',
    });
    expect(plans.map((p) => p.clients.length)).toEqual([3, 2]);
    expect(splitPlans(clients, 0, plans[0]!)).toHaveLength(1);
  });
});

describe('parseCommand', () => {
  it('takes a scenario with its options and a target', () => {
    const command = parseCommand([
      'channel',
      '--spawn',
      'cluster:3',
      '--users',
      '500',
      '--rate',
      '40',
      '--ladder',
    ]);
    expect(command).toMatchObject({
      kind: 'run',
      target: { kind: 'cluster', replicas: 3 },
      options: { scenario: 'channel', users: 500, rate: 40, ladder: { startRate: 40, p99BoundMs: 100 } },
    });
  });

  it('defaults to the embedded target and reads URLs', () => {
    expect(parseCommand(['dm'])).toMatchObject({ target: { kind: 'embedded' }, options: { rate: 2000 } });
    expect(parseCommand(['connect', '--target', 'http://h:1,http://h:2/'])).toMatchObject({
      target: { kind: 'url', urls: ['http://h:1', 'http://h:2'] },
    });
  });

  it('names the option that is wrong', () => {
    expect(() => parseCommand(['channel', '--users', 'many'])).toThrow(/--users/);
    expect(() => parseCommand(['channel', '--spawn', 'mars'])).toThrow(/--spawn/);
    expect(() => parseCommand(['channel', '--target', 'ftp://x'])).toThrow(/--target/);
    expect(() => parseCommand(['connect', '--ladder'])).toThrow(/--ladder/);
    expect(() => parseCommand(['fly'])).toThrow(/unknown command/);
    expect(() => parseCommand(['channel', '--size', '3'])).toThrow(/--size/);
  });

  it('gives the equivalent command of every compare run back as the same options', () => {
    for (const target of COMPARE_TARGETS) {
      for (const run of compareRuns('full')) {
        const argv = equivalentCommand(target, run)
          .replace(/^npm run bench -- /, '')
          .split(' ');
        const parsed = parseCommand(argv);
        expect(parsed.kind).toBe('run');
        if (parsed.kind !== 'run') continue;
        expect(parsed.target).toEqual(target.spec);
        // Irrelevant there: the rate of a ladder (its start rate counts), the drain of connect.
        const ignore = (o: typeof run) => ({
          ...o,
          rate: o.ladder || o.scenario === 'connect' ? 0 : o.rate,
          drainSec: o.scenario === 'connect' ? 0 : o.drainSec,
        });
        expect(ignore(parsed.options)).toEqual(ignore(run));
      }
    }
  });
});
