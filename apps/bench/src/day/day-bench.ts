/**
 * `npm run bench -- day`: a day in the life of a team server, all at once — thousands of
 * people each on one connection, channels whose sizes follow a power law, many DMs, messages,
 * typing, read markers, history pages, people going offline and coming back, and reconnect
 * storms — timed per operation against the intended (open-loop) time of each one.
 *
 * Runs in this one process (every connection on the raw-socket RelayConnection), so the
 * operations share one clock. Bounded: a fixed duration, timeouts on every request, 127.0.0.1
 * targets only (the CLI spawns them).
 */
import { randomBytes } from 'node:crypto';
import type { ConversationId } from '@relay-chat/protocol';
import { ApiClient, ChatApi } from '@relay-chat/sdk';
import { inParallel } from '@relay-chat/service-kit';
import { seeded } from '@relay-chat/testkit';
import { makeBody, nowMs } from '../bench-message.js';
import { accountDeliveries, ConversationLog, type DeliveryAccount } from '../delivery-tracker.js';
import type { Deployment } from '../deployment.js';
import { RelayConnection } from '../drivers/relay-connection.js';
import type { LatencySummary } from '../histogram.js';
import { LatencyHistogram } from '../histogram.js';
import { fetchMissed } from '../history-resume.js';
import { IntervalSet } from '../interval-set.js';
import { ProcessSampler } from '../process-sampler.js';
import { toMs } from '../run-result.js';
import { UserPool } from '../user-pool.js';
import { buildTeam, type DayOptions, TrafficPlan } from './day-plan.js';

/** The operations timed, in report order. */
export const DAY_OPERATIONS = [
  'send → deliver, DM',
  'send → deliver, channel',
  'send → ack',
  'typing → shown',
  'connect → ready (churn)',
  'connect → ready (storm)',
  'history page',
  'read marker',
] as const;
export type DayOperation = (typeof DAY_OPERATIONS)[number];

export interface DayResult {
  options: DayOptions;
  label: string;
  description: string;
  command: string;
  startedAt: string;
  finishedAt: string;
  team: { users: number; channelSizes: number[]; dms: number; memberships: number; setupSec: number };
  /** Per operation: latencies in ms, and how many were attempted / failed. */
  operations: Record<DayOperation, { latencyMs: LatencySummary; attempted: number; failed: number }>;
  /** Every acked message against every member's connection (after each reconnect's history resume). */
  delivery: DeliveryAccount;
  deliveries: number;
  /** Reconnect storms: connections dropped, and the time until the last of them was ready again. */
  storms: { dropped: number; allReadyMs: number }[];
  /** The first acked messages a member never got: which, to whom, and how often they had reconnected. */
  lossSamples: { conv: string; seq: number; receiver: number; reconnects: number; highest: number }[];
  churned: number;
  /** Messages not sent because their sender was offline at that moment. */
  skippedOffline: number;
  errors: Record<string, number>;
  server: { cpuMeanPercent: number; cpuPeakPercent: number; rssStartBytes: number; rssPeakBytes: number };
  /** This process (the load generator), percent of one core. */
  generatorCpuPercent: number;
}

interface Person {
  index: number;
  id: string;
  token: string;
  conn: RelayConnection;
  convs: ConversationId[];
  logs: Map<string, ConversationLog>;
  online: boolean;
  /** Set while offline on purpose (churn or storm) and until resumed. */
  away: boolean;
  /** Reconnects so far (churn and storms). */
  reconnects: number;
  reconnectTimer?: NodeJS.Timeout | undefined;
}

const CONNECT_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;
const SETUP_CONCURRENCY = 32;
const CONNECT_CONCURRENCY = 100;
const TICK_MS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function summary(h: LatencyHistogram): LatencySummary {
  return toMs(h.summary());
}

export async function runDayBench(
  deployment: Deployment,
  options: DayOptions,
  ctx: {
    command: string;
    log: (line: string) => void;
    progress: (line: string) => void;
    /** Where the user pool keeps its users (default `.bench/users`). */
    usersDir?: string;
  },
): Promise<DayResult> {
  const { log } = ctx;
  if (deployment.kind !== 'relay-chat' || !deployment.apiUrl)
    throw new Error('the day scenario needs relay-chat (channels, DMs, typing, read markers, history)');
  const startedAt = new Date().toISOString();
  const apiUrl = deployment.apiUrl;
  const random = seeded(options.seed + 1);
  const errors: Record<string, number> = {};
  const fail = (code: string) => {
    errors[code] = (errors[code] ?? 0) + 1;
  };

  // --- the team ------------------------------------------------------------------------
  const pool = new UserPool({
    key: deployment.usersKey!,
    authUrl: apiUrl,
    ...(deployment.usersDatabaseUrl ? { seedDatabaseUrl: deployment.usersDatabaseUrl } : {}),
    log,
    ...(ctx.usersDir ? { dir: ctx.usersDir } : {}),
  });
  const bench = await pool.acquire(options.users);
  const setupStarted = nowMs();
  const team = buildTeam(options);
  const api = (i: number) =>
    new ChatApi(new ApiClient({ baseUrl: apiUrl, getToken: () => bench[i]!.accessToken, timeoutMs: 60_000 }));
  const tag = randomBytes(3).toString('hex');
  const channelIds: ConversationId[] = [];
  for (const [c, members] of team.channels.entries()) {
    const id = (await api(members[0]!).createChannel(`day-${tag}-${c + 1}`)).id;
    channelIds.push(id);
    await inParallel(members.length - 1, SETUP_CONCURRENCY, async (i) => {
      await api(members[i + 1]!).join(id);
    });
  }
  const dmIds: ConversationId[] = new Array(team.dms.length);
  await inParallel(team.dms.length, SETUP_CONCURRENCY, async (i) => {
    const [a, b] = team.dms[i]!;
    dmIds[i] = (await api(a).createDm(bench[b]!.id)).id;
  });
  const setupSec = (nowMs() - setupStarted) / 1000;
  const dmConvs = new Set<string>(dmIds);
  const memberships = team.channels.reduce((n, m) => n + m.length, 0) + 2 * team.dms.length;
  log(
    `team ready in ${setupSec.toFixed(1)} s: ${options.users} people, ${team.channels.length} channels (${team.channels
      .map((m) => m.length)
      .join(', ')} members), ${team.dms.length} DMs`,
  );

  // --- the people ----------------------------------------------------------------------
  const hist = Object.fromEntries(DAY_OPERATIONS.map((op) => [op, new LatencyHistogram()])) as Record<
    DayOperation,
    LatencyHistogram
  >;
  const attempted = Object.fromEntries(DAY_OPERATIONS.map((op) => [op, 0])) as Record<DayOperation, number>;
  const failed = Object.fromEntries(DAY_OPERATIONS.map((op) => [op, 0])) as Record<DayOperation, number>;
  const acked = new Map<string, IntervalSet>();
  const pendingSends = new Map<string, number>();
  /** Intended time of the latest typing notice per `conv user`, µs. */
  const typingSent = new Map<string, number>();
  let deliveries = 0;
  let measuring = false;

  const convsOf: ConversationId[][] = Array.from({ length: options.users }, () => []);
  for (const [c, members] of team.channels.entries())
    for (const u of members) convsOf[u]!.push(channelIds[c]!);
  for (const [i, [a, b]] of team.dms.entries()) {
    convsOf[a]!.push(dmIds[i]!);
    convsOf[b]!.push(dmIds[i]!);
  }
  const wsBase = (i: number) =>
    `${deployment.connectUrls[i % deployment.connectUrls.length]!.replace(/^http/, 'ws')}/ws`;
  const byId = new Map<string, Person>();
  const people: Person[] = bench.map((u, i) => {
    const person: Person = {
      index: i,
      id: u.id,
      token: u.accessToken,
      convs: convsOf[i]!,
      logs: new Map(convsOf[i]!.map((c) => [c, new ConversationLog()])),
      online: false,
      away: false,
      reconnects: 0,
      conn: undefined as unknown as RelayConnection,
    };
    person.conn = new RelayConnection(wsBase(i), u.accessToken, {
      onMessage(conv, seq, intendedUs, arrivalUs) {
        person.logs.get(conv)?.offer(seq);
        deliveries++;
        if (measuring)
          hist[dmConvs.has(conv) ? 'send → deliver, DM' : 'send → deliver, channel'].record(
            arrivalUs - intendedUs,
          );
      },
      onAck(clientMsgId, conv, seq) {
        let set = acked.get(conv);
        if (!set) {
          set = new IntervalSet();
          acked.set(conv, set);
        }
        set.add(seq);
        const intended = pendingSends.get(clientMsgId);
        if (intended === undefined) return;
        pendingSends.delete(clientMsgId);
        hist['send → ack'].record(nowMs() * 1000 - intended);
      },
      onError(code, ref) {
        fail(`ws_${code}`);
        if (ref && pendingSends.delete(ref)) failed['send → ack']++;
      },
      onClose(code, _reason, byClient) {
        person.online = false;
        if (!byClient) fail(`closed_${code}`);
      },
      onTyping(conv, user, arrivalUs) {
        const sent = typingSent.get(`${conv} ${user}`);
        if (sent !== undefined && measuring) hist['typing → shown'].record(arrivalUs - sent);
      },
    });
    byId.set(u.id, person);
    return person;
  });

  /** Opens `p`'s connection; on a reconnect, fetches what it missed like the SDK does. */
  const connect = async (p: Person, op: DayOperation | undefined): Promise<boolean> => {
    const started = nowMs();
    if (op) attempted[op]++;
    if (op) p.reconnects++;
    // What it had before it went: live messages may arrive (and raise the logs' highest seqs)
    // while the history of another conversation is being fetched.
    const had = new Map([...p.logs].map(([conv, l]) => [conv, l.highestSeq]));
    try {
      const ready = await p.conn.open(CONNECT_TIMEOUT_MS);
      if (op) hist[op].record((nowMs() - started) * 1000);
      p.online = true;
      for (const c of ready) {
        const logOf = p.logs.get(c.id);
        const after = had.get(c.id) ?? 0;
        if (!logOf || c.lastSeq <= after) continue;
        await fetchMissed(apiUrl, p.token, c.id, after, c.lastSeq, (seq) => logOf.recover(seq)).catch(
          (err: unknown) => fail(typeof err === 'string' ? err : 'history_failed'),
        );
      }
      p.away = false;
      return true;
    } catch (err) {
      if (op) failed[op]++;
      fail(`connect_${typeof err === 'string' ? err : 'failed'}`);
      return false;
    }
  };

  const sampler = new ProcessSampler();
  for (const p of deployment.processes) sampler.watch(p);
  sampler.sample();
  log(`connecting ${people.length} people…`);
  const connectStarted = nowMs();
  await inParallel(people.length, CONNECT_CONCURRENCY, async (i) => {
    await connect(people[i]!, undefined);
  });
  const offline = people.filter((p) => !p.online).length;
  log(
    `connected in ${((nowMs() - connectStarted) / 1000).toFixed(1)} s${offline ? `, ${offline} failed` : ''}`,
  );
  const rssStart = sampler.sample().reduce((n, s) => n + s.rssBytes, 0);

  // --- the day -------------------------------------------------------------------------
  const traffic = new TrafficPlan(team, options.dmShare, random);
  const convOf = (pick: { kind: 'channel' | 'dm'; index: number }) =>
    pick.kind === 'dm' ? dmIds[pick.index]! : channelIds[pick.index]!;
  const runId = randomBytes(3).toString('hex');
  let sent = 0;
  let skippedOffline = 0;
  let churned = 0;
  const storms: { dropped: number; allReadyMs: number }[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const rest = async (op: DayOperation, intendedMs: number, run: () => Promise<Response>) => {
    attempted[op]++;
    try {
      const response = await run();
      await response.arrayBuffer();
      if (!response.ok) {
        failed[op]++;
        fail(`http_${response.status}`);
        return;
      }
      hist[op].record((nowMs() - intendedMs) * 1000);
    } catch {
      failed[op]++;
      fail('http_failed');
    }
  };
  const onlinePerson = (user: number) => {
    const p = people[user]!;
    return p.online && !p.away ? p : undefined;
  };

  const cpuBefore = process.cpuUsage();
  const wallBefore = nowMs();
  const serverCpu: number[] = [];
  let rssPeak = rssStart;
  const sampling = setInterval(() => {
    const samples = sampler.sample();
    serverCpu.push(samples.reduce((n, s) => n + s.cpuPercent, 0));
    rssPeak = Math.max(
      rssPeak,
      samples.reduce((n, s) => n + s.rssBytes, 0),
    );
  }, 1000);

  const start = nowMs();
  const end = start + options.durationSec * 1000;
  const counters = { message: 0, typing: 0, read: 0, history: 0, churnSec: 0 };
  const stormTimes = options.storms.map((share) => start + share * options.durationSec * 1000);
  measuring = true;
  const reconnectLater = (p: Person, delayMs: number, op: DayOperation) => {
    p.reconnectTimer = setTimeout(() => {
      p.reconnectTimer = undefined;
      track(connect(p, op));
    }, delayMs);
  };
  while (nowMs() < end) {
    const now = nowMs();
    const elapsedSec = (now - start) / 1000;
    // Messages: due at i / rate; the body carries the intended time.
    for (; counters.message < elapsedSec * options.messageRate; counters.message++) {
      const intendedMs = start + (counters.message / options.messageRate) * 1000;
      const pick = traffic.next();
      const p = onlinePerson(pick.user);
      if (!p) {
        skippedOffline++;
        continue;
      }
      const clientMsgId = `${runId}-${sent++}`;
      pendingSends.set(clientMsgId, intendedMs * 1000);
      p.conn.send(convOf(pick), clientMsgId, makeBody(intendedMs, p.index, sent, options.messageSize));
    }
    for (; counters.typing < elapsedSec * options.typingRate; counters.typing++) {
      const intendedMs = start + (counters.typing / options.typingRate) * 1000;
      const pick = traffic.next();
      const p = onlinePerson(pick.user);
      if (!p) continue;
      const conv = convOf(pick);
      attempted['typing → shown']++;
      typingSent.set(`${conv} ${p.id}`, intendedMs * 1000);
      p.conn.typing(conv);
    }
    for (; counters.read < elapsedSec * options.readRate; counters.read++) {
      const intendedMs = start + (counters.read / options.readRate) * 1000;
      const p = people[Math.floor(random() * people.length)]!;
      const conv = p.convs[Math.floor(random() * p.convs.length)];
      const seq = conv ? p.logs.get(conv)?.highestSeq : undefined;
      if (!conv || !seq) continue;
      track(
        rest('read marker', intendedMs, () =>
          fetch(`${apiUrl}/api/chat/conversations/${encodeURIComponent(conv)}/read`, {
            method: 'POST',
            headers: { authorization: `Bearer ${p.token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ seq }),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        ),
      );
    }
    for (; counters.history < elapsedSec * options.historyRate; counters.history++) {
      const intendedMs = start + (counters.history / options.historyRate) * 1000;
      const p = people[Math.floor(random() * people.length)]!;
      const conv = p.convs[Math.floor(random() * p.convs.length)];
      if (!conv) continue;
      const top = p.logs.get(conv)?.highestSeq ?? 0;
      // Half the pages are the newest, half scroll back from a random point.
      const before = random() < 0.5 && top > 1 ? `&before=${1 + Math.floor(random() * top)}` : '';
      track(
        rest('history page', intendedMs, () =>
          fetch(`${apiUrl}/api/chat/conversations/${encodeURIComponent(conv)}/messages?limit=50${before}`, {
            headers: { authorization: `Bearer ${p.token}` },
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          }),
        ),
      );
    }
    // Presence churn: once a second, some people leave (a clean close) and come back 2–10 s later.
    for (; counters.churnSec < Math.floor(elapsedSec); counters.churnSec++) {
      const leaving = Math.round(options.churnPerSec * people.length);
      for (let k = 0; k < leaving; k++) {
        const p = people[Math.floor(random() * people.length)]!;
        if (!p.online || p.away) continue;
        p.away = true;
        churned++;
        p.conn.close();
        reconnectLater(p, 2000 + random() * 8000, 'connect → ready (churn)');
      }
    }
    // A reconnect storm: a share of the connections drops at once (a network blip or a
    // replica lost) and every one of them comes back within 0–2 s, as clients' jittered
    // backoff brings them.
    while (stormTimes.length > 0 && now >= stormTimes[0]!) {
      stormTimes.shift();
      const dropped = people.filter((p) => p.online && !p.away && random() < options.stormShare);
      const droppedAt = nowMs();
      for (const p of dropped) {
        p.away = true;
        p.conn.terminate();
      }
      const storm = { dropped: dropped.length, allReadyMs: 0 };
      storms.push(storm);
      track(
        Promise.all(
          dropped.map(
            (p) =>
              new Promise<void>((resolve) => {
                setTimeout(() => {
                  void connect(p, 'connect → ready (storm)').then(() => resolve());
                }, random() * 2000);
              }),
          ),
        ).then(() => {
          storm.allReadyMs = nowMs() - droppedAt;
        }),
      );
    }
    ctx.progress(
      `day ${elapsedSec.toFixed(0)}/${options.durationSec} s | sent ${sent} | delivered ${deliveries} | online ${people.filter((p) => p.online).length} | in flight ${inFlight.size}`,
    );
    await sleep(TICK_MS);
  }
  measuring = false;

  // --- the end: everyone back, then every acked message accounted for ------------------
  for (const p of people) {
    if (p.reconnectTimer) {
      clearTimeout(p.reconnectTimer);
      p.reconnectTimer = undefined;
      track(connect(p, 'connect → ready (churn)'));
    }
  }
  const drainUntil = nowMs() + 30_000;
  while (inFlight.size > 0 && nowMs() < drainUntil) await Promise.race([...inFlight, sleep(500)]);
  // Deliveries still on the wire: wait until they stop coming.
  let lastCount = -1;
  for (let i = 0; i < 20 && deliveries !== lastCount; i++) {
    lastCount = deliveries;
    await sleep(500);
  }
  // Anyone still offline (a failed reconnect) resumes now, so a loss is the server's, not ours.
  await inParallel(people.length, CONNECT_CONCURRENCY, async (i) => {
    const p = people[i]!;
    if (!p.online) await connect(p, undefined);
  });
  clearInterval(sampling);
  const cpu = process.cpuUsage(cpuBefore);
  const generatorCpuPercent = ((cpu.user + cpu.system) / 1000 / (nowMs() - wallBefore)) * 100;
  for (const p of pendingSends.keys()) {
    failed['send → ack']++;
    pendingSends.delete(p);
  }
  attempted['send → ack'] = sent;
  attempted['send → deliver, DM'] = hist['send → deliver, DM'].count;
  attempted['send → deliver, channel'] = hist['send → deliver, channel'].count;
  const receivers = people.flatMap((p) => [...p.logs.entries()].map(([conv, l]) => l.report(conv)));
  const delivery = accountDeliveries(acked, receivers);
  // The first losses, named, to tell a server's loss from a resume path's.
  const lossSamples: DayResult['lossSamples'] = [];
  for (const p of people) {
    for (const [conv, l] of p.logs) {
      for (const [first, last] of acked.get(conv)?.toJSON() ?? []) {
        for (let seq = first; seq <= last && lossSamples.length < 20; seq++) {
          if (!l.received.has(seq))
            lossSamples.push({
              conv,
              seq,
              receiver: p.index,
              reconnects: p.reconnects,
              highest: l.highestSeq,
            });
        }
      }
    }
  }
  for (const p of people) p.conn.close();
  await sleep(200);

  return {
    options,
    label: deployment.label,
    description: deployment.description,
    command: ctx.command,
    startedAt,
    finishedAt: new Date().toISOString(),
    team: {
      users: options.users,
      channelSizes: team.channels.map((m) => m.length),
      dms: team.dms.length,
      memberships,
      setupSec,
    },
    operations: Object.fromEntries(
      DAY_OPERATIONS.map((op) => [
        op,
        { latencyMs: summary(hist[op]), attempted: attempted[op], failed: failed[op] },
      ]),
    ) as DayResult['operations'],
    delivery,
    deliveries,
    storms,
    lossSamples,
    churned,
    skippedOffline,
    errors,
    server: {
      cpuMeanPercent: serverCpu.length ? serverCpu.reduce((a, b) => a + b, 0) / serverCpu.length : 0,
      cpuPeakPercent: serverCpu.length ? Math.max(...serverCpu) : 0,
      rssStartBytes: rssStart,
      rssPeakBytes: rssPeak,
    },
    generatorCpuPercent,
  };
}
