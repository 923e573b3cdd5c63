/**
 * "A day in the life" of a team server, as data: who is in which channel, who has DMs with
 * whom, and which operation comes next. Pure and seeded, so a run's team is the same every
 * time and the shapes can be tested without a server.
 */
import { seeded } from '@relay-chat/testkit';

/** The team and the load, as the CLI sets them. */
export interface DayOptions {
  /** People on the server (each one connection). */
  users: number;
  /** Public channels; channel k (from 1) has about users / k^channelExponent members. */
  channels: number;
  channelExponent: number;
  /** Fewest members of a channel. */
  minChannelMembers: number;
  /** DMs each user starts (with partners picked at random). */
  dmsPerUser: number;
  /** Measured seconds. */
  durationSec: number;
  /** Messages per second over everyone. */
  messageRate: number;
  /** Share of messages that go to DMs (the rest to channels). */
  dmShare: number;
  /** Typing notices per second. */
  typingRate: number;
  /** Read markers per second (REST `POST /conversations/:id/read`). */
  readRate: number;
  /** History pages per second (REST `GET /conversations/:id/messages`). */
  historyRate: number;
  /** Share of users that go offline each second (and come back 2–10 s later). */
  churnPerSec: number;
  /** Reconnect storms: when (shares of the duration) and what share of the connections drops at once. */
  storms: number[];
  stormShare: number;
  /** Message body characters (≥ 32). */
  messageSize: number;
  seed: number;
}

export const DAY_DEFAULTS: DayOptions = {
  users: 3000,
  channels: 30,
  channelExponent: 1,
  minChannelMembers: 5,
  dmsPerUser: 2,
  durationSec: 60,
  messageRate: 100,
  dmShare: 0.6,
  typingRate: 100,
  readRate: 50,
  historyRate: 10,
  churnPerSec: 0.005,
  storms: [0.4],
  stormShare: 0.25,
  messageSize: 100,
  seed: 1,
};

/** The team: channel members and DM pairs, by user index. */
export interface Team {
  /** Members of each channel, by user index; channel 0 is the biggest (everyone). */
  channels: number[][];
  /** DM pairs [a, b] with a < b, each pair once. */
  dms: [number, number][];
}

/** Channel sizes on a power law: channel k (from 1) has max(min, users / k^exponent) members. */
export function channelSizes(
  o: Pick<DayOptions, 'users' | 'channels' | 'channelExponent' | 'minChannelMembers'>,
): number[] {
  return Array.from({ length: o.channels }, (_, i) =>
    Math.min(o.users, Math.max(o.minChannelMembers, Math.round(o.users / (i + 1) ** o.channelExponent))),
  );
}

/** Picks `k` distinct indexes of [0, n) (partial Fisher–Yates on a lazily filled map). */
function sample(n: number, k: number, random: () => number): number[] {
  const swapped = new Map<number, number>();
  const out: number[] = [];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    const at = swapped.get(j) ?? j;
    swapped.set(j, swapped.get(i) ?? i);
    out.push(at);
  }
  return out;
}

export function buildTeam(o: DayOptions): Team {
  const random = seeded(o.seed);
  const channels = channelSizes(o).map((size) => sample(o.users, size, random).sort((a, b) => a - b));
  const seen = new Set<number>();
  const dms: [number, number][] = [];
  for (let user = 0; user < o.users && o.users > 1; user++) {
    for (let d = 0; d < o.dmsPerUser; d++) {
      let other = Math.floor(random() * (o.users - 1));
      if (other >= user) other++;
      const a = Math.min(user, other);
      const b = Math.max(user, other);
      const key = a * o.users + b;
      if (seen.has(key)) continue;
      seen.add(key);
      dms.push([a, b]);
    }
  }
  return { channels, dms };
}

/** Picks an index with probability proportional to its weight (cumulative table, binary search). */
export class WeightedPick {
  private readonly cumulative: number[];

  constructor(weights: readonly number[]) {
    let total = 0;
    this.cumulative = weights.map((w) => {
      total += Math.max(0, w);
      return total;
    });
  }

  pick(random: () => number): number {
    const cumulative = this.cumulative;
    const target = random() * (cumulative[cumulative.length - 1] ?? 0);
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * Where traffic goes: a message goes to a DM with probability dmShare (a random pair, a random
 * side), else to a channel picked with weight √members (big channels are busier, not in
 * proportion to their size), from a random member.
 */
export class TrafficPlan {
  private readonly channelPick: WeightedPick;

  constructor(
    private readonly team: Team,
    private readonly dmShare: number,
    private readonly random: () => number,
  ) {
    this.channelPick = new WeightedPick(team.channels.map((m) => Math.sqrt(m.length)));
  }

  /** `{ channel, user }` or `{ dm, user }`: a conversation and one of its members. */
  next(): { kind: 'channel' | 'dm'; index: number; user: number } {
    const r = this.random;
    if (this.team.dms.length > 0 && (this.team.channels.length === 0 || r() < this.dmShare)) {
      const index = Math.floor(r() * this.team.dms.length);
      const pair = this.team.dms[index]!;
      return { kind: 'dm', index, user: pair[r() < 0.5 ? 0 : 1] };
    }
    const index = this.channelPick.pick(r);
    const members = this.team.channels[index]!;
    return { kind: 'channel', index, user: members[Math.floor(r() * members.length)]! };
  }
}
