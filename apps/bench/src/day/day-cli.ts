import { parseArgs } from 'node:util';
import { parseTarget, type TargetSpec } from '../deployment.js';
import { intOption, numberOption } from '../option-numbers.js';
import type { DayResult } from './day-bench.js';
import { DAY_OPERATIONS } from './day-bench.js';
import { DAY_DEFAULTS, type DayOptions } from './day-plan.js';

export const DAY_USAGE = `npm run bench -- day [options]   a day in the life of a team server, all at once
  --spawn embedded[:tmpfs] | cluster[:N]   the relay-chat to start (default embedded)
  --users N            people, one connection each                          default ${DAY_DEFAULTS.users}
  --channels N         channels; channel k has users / k^exponent members   default ${DAY_DEFAULTS.channels}
  --channel-exponent X the power law's exponent                             default ${DAY_DEFAULTS.channelExponent}
  --dms-per-user N     DMs each person starts                               default ${DAY_DEFAULTS.dmsPerUser}
  --duration S         measured seconds                                     default ${DAY_DEFAULTS.durationSec}
  --rate R             messages/s over everyone                             default ${DAY_DEFAULTS.messageRate}
  --dm-share F         share of messages sent in DMs                        default ${DAY_DEFAULTS.dmShare}
  --typing R           typing notices/s                                     default ${DAY_DEFAULTS.typingRate}
  --reads R            read markers/s                                       default ${DAY_DEFAULTS.readRate}
  --history R          history pages/s                                      default ${DAY_DEFAULTS.historyRate}
  --churn F            share of people going offline each second            default ${DAY_DEFAULTS.churnPerSec}
  --storms a,b         reconnect storms at these shares of the duration     default ${DAY_DEFAULTS.storms.join(',')}
  --storm-share F      share of connections a storm drops                   default ${DAY_DEFAULTS.stormShare}
  --seed N             team and schedule seed                               default ${DAY_DEFAULTS.seed}
  --users-db URL       users database of the spawned relay-chat
`;

export interface DayCommand {
  target: TargetSpec;
  options: DayOptions;
  usersDatabaseUrl?: string;
}

export function parseDayCommand(args: string[]): DayCommand {
  const { values } = parseArgs({
    args,
    options: {
      spawn: { type: 'string' },
      users: { type: 'string' },
      channels: { type: 'string' },
      'channel-exponent': { type: 'string' },
      'dms-per-user': { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      'dm-share': { type: 'string' },
      typing: { type: 'string' },
      reads: { type: 'string' },
      history: { type: 'string' },
      churn: { type: 'string' },
      storms: { type: 'string' },
      'storm-share': { type: 'string' },
      seed: { type: 'string' },
      'users-db': { type: 'string' },
    },
  });
  const target = parseTarget(values.spawn ?? 'embedded', undefined);
  if (target.kind !== 'embedded' && target.kind !== 'cluster')
    throw new Error('--spawn: the day scenario runs against relay-chat (embedded or cluster)');
  const storms = (values.storms ?? DAY_DEFAULTS.storms.join(','))
    .split(',')
    .filter((s) => s.trim() !== '')
    .map((s) => numberOption('storms', s.trim(), 0, 1) ?? 0);
  const users = intOption('users', values.users, 2) ?? DAY_DEFAULTS.users;
  return {
    target,
    ...(values['users-db'] ? { usersDatabaseUrl: values['users-db'] } : {}),
    options: {
      users,
      channels: intOption('channels', values.channels, 0) ?? DAY_DEFAULTS.channels,
      channelExponent:
        numberOption('channel-exponent', values['channel-exponent'], 0, 4) ?? DAY_DEFAULTS.channelExponent,
      minChannelMembers: Math.min(users, DAY_DEFAULTS.minChannelMembers),
      dmsPerUser: intOption('dms-per-user', values['dms-per-user'], 0) ?? DAY_DEFAULTS.dmsPerUser,
      durationSec: intOption('duration', values.duration, 1) ?? DAY_DEFAULTS.durationSec,
      messageRate: numberOption('rate', values.rate, 0) ?? DAY_DEFAULTS.messageRate,
      dmShare: numberOption('dm-share', values['dm-share'], 0, 1) ?? DAY_DEFAULTS.dmShare,
      typingRate: numberOption('typing', values.typing, 0) ?? DAY_DEFAULTS.typingRate,
      readRate: numberOption('reads', values.reads, 0) ?? DAY_DEFAULTS.readRate,
      historyRate: numberOption('history', values.history, 0) ?? DAY_DEFAULTS.historyRate,
      churnPerSec: numberOption('churn', values.churn, 0, 0.5) ?? DAY_DEFAULTS.churnPerSec,
      storms,
      stormShare: numberOption('storm-share', values['storm-share'], 0, 1) ?? DAY_DEFAULTS.stormShare,
      messageSize: DAY_DEFAULTS.messageSize,
      seed: intOption('seed', values.seed, 0) ?? DAY_DEFAULTS.seed,
    },
  };
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;

/** The run as markdown: the team, the load, p50/p95/p99/max per operation, integrity, resources. */
export function renderDayReport(r: DayResult): string {
  const o = r.options;
  const d = r.delivery;
  return [
    `### A day in the life: ${r.label}`,
    '',
    `\`${r.command}\` — ${r.startedAt} → ${r.finishedAt}. ${r.description}.`,
    '',
    `- **Team**: ${int(r.team.users)} people, one connection each; ${r.team.channelSizes.length} channels of ${r.team.channelSizes.map(int).join(', ')} members (channel k has ${int(o.users)}/k^${o.channelExponent}); ${int(r.team.dms)} DMs; ${int(r.team.memberships)} memberships, set up in ${r.team.setupSec.toFixed(1)} s.`,
    `- **Load, all at once for ${o.durationSec} s**: ${fmt(o.messageRate)} messages/s (${Math.round(o.dmShare * 100)}% in DMs, the rest in channels picked with weight √members), ${fmt(o.typingRate)} typing notices/s, ${fmt(o.readRate)} read markers/s, ${fmt(o.historyRate)} history pages/s (half the newest, half from a random point), ${(o.churnPerSec * 100).toFixed(1)}% of people going offline each second and back 2–10 s later (${int(r.churned)} in all), reconnect storms at ${o.storms.map((s) => `${Math.round(s * 100)}%`).join(', ') || 'none'} of the run dropping ${Math.round(o.stormShare * 100)}% of the connections at once, back within 0–2 s (${r.storms.map((s) => `${int(s.dropped)} dropped, all ready again after ${fmt(s.allReadyMs / 1000)} s`).join('; ') || 'none'}).`,
    '- Latency is measured from each operation’s intended time on the open-loop schedule; reconnecting clients fetch what they missed from history, as the SDK does.',
    '',
    '| operation | count | failed | p50 ms | p95 ms | p99 ms | max ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...DAY_OPERATIONS.map((op) => {
      const s = r.operations[op];
      const l = s.latencyMs;
      return `| ${op} | ${int(l.count)} | ${int(s.failed)} | ${fmt(l.p50)} | ${fmt(l.p95)} | ${fmt(l.p99)} | ${fmt(l.max)} |`;
    }),
    '',
    `- **Integrity**: ${int(d.acked)} messages acked, ${int(d.expected)} deliveries expected (every acked message to every member’s connection, live or from history after a reconnect): ${int(d.lost)} lost, ${int(d.duplicated)} duplicated, ${int(d.outOfOrder)} out of order; ${int(r.deliveries)} live deliveries; ${int(r.skippedOffline)} sends skipped because their sender was offline.`,
    `- **Resources**: server CPU ${Math.round(r.server.cpuMeanPercent)}% of one core on average (peak ${Math.round(r.server.cpuPeakPercent)}%), RSS ${mib(r.server.rssStartBytes)} with everyone connected, ${mib(r.server.rssPeakBytes)} at the peak; the load generator (this one process) ${Math.round(r.generatorCpuPercent)}% of one core.`,
    `- **Errors**: ${
      Object.entries(r.errors)
        .map(([k, v]) => `${k} ${int(v)}`)
        .join(', ') || 'none'
    }.`,
    '',
  ].join('\n');
}
