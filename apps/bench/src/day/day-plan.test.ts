import { seeded } from '@relay-chat/testkit';
import { describe, expect, it } from 'vitest';
import { parseDayCommand } from './day-cli.js';
import { buildTeam, channelSizes, DAY_DEFAULTS, TrafficPlan, WeightedPick } from './day-plan.js';

describe('the day-in-the-life team', () => {
  it('sizes channels on a power law: channel k has users / k^exponent members, at least the minimum', () => {
    const sizes = channelSizes({ users: 3000, channels: 6, channelExponent: 1, minChannelMembers: 5 });
    expect(sizes).toEqual([3000, 1500, 1000, 750, 600, 500]);
    const steep = channelSizes({ users: 100, channels: 4, channelExponent: 3, minChannelMembers: 5 });
    expect(steep).toEqual([100, 13, 5, 5]);
  });

  it('puts distinct members in each channel, one DM per pair, the same team for the same seed', () => {
    const o = { ...DAY_DEFAULTS, users: 500, channels: 8 };
    const team = buildTeam(o);
    expect(team.channels.map((m) => m.length)).toEqual(channelSizes(o));
    for (const members of team.channels) {
      expect(new Set(members).size).toBe(members.length);
      for (const u of members) expect(u >= 0 && u < 500).toBe(true);
    }
    const pairs = new Set(team.dms.map(([a, b]) => `${a}-${b}`));
    expect(pairs.size).toBe(team.dms.length);
    for (const [a, b] of team.dms) expect(a).toBeLessThan(b);
    // Most users start dmsPerUser DMs (collisions are skipped): about users × dmsPerUser pairs.
    expect(team.dms.length).toBeGreaterThan(0.9 * 500 * o.dmsPerUser);
    expect(buildTeam(o)).toEqual(team);
    expect(buildTeam({ ...o, seed: 2 })).not.toEqual(team);
  });

  it('picks by weight', () => {
    const pick = new WeightedPick([1, 0, 3]);
    const random = seeded(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[pick.pick(random)]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / counts[0]!).toBeGreaterThan(2.7);
    expect(counts[2]! / counts[0]!).toBeLessThan(3.3);
  });

  it('sends about dmShare of the traffic to DMs, always from a member of the conversation', () => {
    const team = buildTeam({ ...DAY_DEFAULTS, users: 300, channels: 5 });
    const plan = new TrafficPlan(team, 0.6, seeded(3));
    let dms = 0;
    for (let i = 0; i < 20_000; i++) {
      const next = plan.next();
      if (next.kind === 'dm') {
        dms++;
        expect(team.dms[next.index]).toContain(next.user);
      } else {
        expect(team.channels[next.index]).toContain(next.user);
      }
    }
    expect(dms / 20_000).toBeGreaterThan(0.57);
    expect(dms / 20_000).toBeLessThan(0.63);
  });

  it('parses the command line and refuses what makes no sense', () => {
    const day = parseDayCommand(['--users', '1000', '--storms', '0.2,0.7', '--spawn', 'cluster:2']);
    expect(day.target).toEqual({ kind: 'cluster', replicas: 2, viaNginx: false });
    expect(day.options.users).toBe(1000);
    expect(day.options.storms).toEqual([0.2, 0.7]);
    expect(parseDayCommand([]).options).toMatchObject({ users: DAY_DEFAULTS.users, durationSec: 60 });
    expect(() => parseDayCommand(['--users', '1'])).toThrow(/--users/);
    expect(() => parseDayCommand(['--dm-share', '2'])).toThrow(/--dm-share/);
    expect(() => parseDayCommand(['--spawn', 'baseline:ws'])).toThrow(/relay-chat/);
  });
});
