import type { Deployment } from './deployment.js';
import type { ClientSpec, GeneratorPlan } from './generator-protocol.js';
import { DEFAULT_LADDER, type LadderOptions } from './ladder.js';

export const SCENARIOS = ['channel', 'dm', 'connect', 'reconnect', 'mixed'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** Everything a run is parameterised by. Rates in messages/s, times in seconds unless named. */
export interface ScenarioOptions {
  scenario: ScenarioName;
  /** Distinct users (channel members, DM partners, connecting users). */
  users: number;
  /** Connections per user (devices); every connection receives. Default 1. */
  devices: number;
  /** channel: how many members send (default 10); dm/reconnect: every user sends. */
  senders: number;
  /** Total offered rate over all senders, messages/s (reconnect: background traffic, may be 0). */
  rate: number;
  /** Measured time per run or ladder step, s. */
  durationSec: number;
  /** Time before measuring (messages sent, not recorded), s. */
  warmupSec: number;
  /** Message body size, characters (≥ 32). */
  messageSize: number;
  /** Load-generator processes (0: inside this process). */
  generators: number;
  /** After the schedule ends, wait at most this long for deliveries, s. */
  drainSec: number;
  /** Connection attempts in flight per generator process. */
  connectConcurrency: number;
  connectTimeoutMs: number;
  /** Step the rate up (ladder mode) instead of one run at `rate`. */
  ladder: LadderOptions | undefined;
  /** Name of the bench channel (relay-chat targets). */
  channelName: string;
  /**
   * mixed: shares of the scheduled operations that are edits of the sender's own recent
   * messages and reaction toggles on recent messages (the rest are sends); `rate` counts all
   * operations. 0 elsewhere.
   */
  edits: number;
  reactions: number;
}

/** Defaults per scenario; the CLI overrides any of them. */
export function defaultOptions(scenario: ScenarioName): ScenarioOptions {
  const base: ScenarioOptions = {
    scenario,
    users: 2000,
    devices: 1,
    senders: 10,
    rate: 100,
    durationSec: 20,
    warmupSec: 5,
    messageSize: 100,
    generators: 2,
    drainSec: 10,
    connectConcurrency: 100,
    connectTimeoutMs: 30_000,
    ladder: undefined,
    channelName: 'bench-channel',
    edits: 0,
    reactions: 0,
  };
  switch (scenario) {
    case 'channel':
      return base;
    case 'dm':
      return { ...base, rate: 2000 };
    case 'connect':
      return { ...base, rate: 0, durationSec: 0, warmupSec: 0 };
    case 'reconnect':
      return { ...base, users: 1000, rate: 0, durationSec: 10, warmupSec: 2 };
    case 'mixed':
      // A channel where every change fans out to every member, like every message.
      return { ...base, users: 200, rate: 100, edits: 0.1, reactions: 0.2, channelName: 'bench-mixed' };
  }
}

/** Scenarios whose users all sit in one channel. */
export function usesChannel(scenario: ScenarioName): boolean {
  return scenario === 'channel' || scenario === 'mixed';
}

export function ladderOptions(startRate: number, overrides: Partial<LadderOptions> = {}): LadderOptions {
  return { ...DEFAULT_LADDER, startRate, ...overrides };
}

/** A user as the plan sees it: its id and, for relay-chat, an access token. */
export interface PlannedUser {
  id: string;
  token?: string;
}

/** Which conversations exist: one channel, or one DM per pair of users. */
export type ConversationLayout =
  | { kind: 'channel'; conv: string }
  | { kind: 'dm'; convs: string[] }
  | { kind: 'none' };

/** The layout the baselines use (they have no setup: ids are made up). */
export function baselineLayout(options: ScenarioOptions): ConversationLayout {
  if (usesChannel(options.scenario)) return { kind: 'channel', conv: options.channelName };
  if (options.scenario === 'connect') return { kind: 'none' };
  return { kind: 'dm', convs: Array.from({ length: Math.floor(options.users / 2) }, (_, i) => `dm-${i}`) };
}

/** Every message reaches this many connections (the sender's own included). */
export function fanoutOf(options: ScenarioOptions, layout: ConversationLayout): number {
  if (layout.kind === 'channel') return options.users * options.devices;
  if (layout.kind === 'dm') return 2 * options.devices;
  return 0;
}

/** Number of senders in the run. */
export function senderCountOf(options: ScenarioOptions, layout: ConversationLayout): number {
  if (layout.kind === 'channel') return Math.min(options.senders, options.users);
  if (layout.kind === 'dm') return layout.convs.length * 2;
  return 0;
}

/**
 * Every connection of the run: user `u`'s device `d` receives the user's conversation(s);
 * device 0 of a sending user sends. Clients are dealt to generators round-robin, and to the
 * deployment's URLs round-robin.
 */
export function planClients(
  options: ScenarioOptions,
  deployment: Pick<Deployment, 'kind' | 'driver' | 'connectUrls'>,
  users: readonly PlannedUser[],
  layout: ConversationLayout,
): ClientSpec[] {
  const clients: ClientSpec[] = [];
  const senders = senderCountOf(options, layout);
  const userCount = layout.kind === 'dm' ? layout.convs.length * 2 : options.users;
  let n = 0;
  for (let d = 0; d < options.devices; d++) {
    for (let u = 0; u < userCount; u++) {
      const user = users[u]!;
      const convs =
        layout.kind === 'channel'
          ? [layout.conv]
          : layout.kind === 'dm'
            ? [layout.convs[Math.floor(u / 2)]!]
            : [];
      const base = deployment.connectUrls[n++ % deployment.connectUrls.length]!;
      const spec: ClientSpec = {
        user: u,
        userId: user.id,
        url: connectUrl(deployment, base, user.id, convs),
        convs,
      };
      if (user.token) spec.token = user.token;
      if (d === 0 && u < senders) spec.sender = { index: u, conv: convs[0]! };
      clients.push(spec);
    }
  }
  return clients;
}

function connectUrl(
  deployment: Pick<Deployment, 'kind' | 'driver'>,
  base: string,
  user: string,
  convs: string[],
): string {
  if (deployment.driver === 'socketio') return base;
  const ws = `${base.replace(/^http/, 'ws')}/ws`;
  if (deployment.kind === 'relay-chat') return ws;
  return `${ws}?user=${encodeURIComponent(user)}&convs=${convs.map(encodeURIComponent).join(',')}`;
}

/** Deals clients to `count` generator plans (at least one). */
export function splitPlans(
  clients: readonly ClientSpec[],
  count: number,
  common: Omit<GeneratorPlan, 'id' | 'clients'>,
): GeneratorPlan[] {
  const n = Math.max(1, count);
  const plans: GeneratorPlan[] = Array.from({ length: n }, (_, id) => ({ ...common, id, clients: [] }));
  clients.forEach((client, i) => {
    plans[i % n]!.clients.push(client);
  });
  return plans;
}
