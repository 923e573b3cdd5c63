/**
 * The abuse suite, run against each deployment (embedded.test.ts, cluster.test.ts): one
 * user attacks — floods of every frame type, a `ready` bomb, REST and reconnect send floods,
 * a registration flood, a login lockout from a shared address — while the control pair keeps
 * chatting. Each attack passes when the pair's p99 stays below 2× its idle p99 + 50 ms with
 * nothing lost or duplicated, the attacker gets the specified typed errors, and the service
 * is fully usable within 1 s of the attack's end.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Conversation, Message, ReadyFrame } from '@relay-chat/protocol';
import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type AttackSpec,
  type FloodFrame,
  type FramesReport,
  launchAttack,
  type ReportOf,
} from '../support/attackers.js';
import {
  type ControlPair,
  PAIR_P99_FLOOR_MS,
  type PairStats,
  pairP99Bound,
  startControlPair,
} from '../support/control-pair.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, registerUser, request, type TestUser } from '../support/http.js';
import { type AbuseTarget, LIMITS } from './abuse-targets.js';

export interface AbuseSuiteOptions {
  /** How long each frame flood lasts, ms. */
  floodMs: number;
  /** Add the leave-while-Redis-is-down attack (needs the target's private Redis). */
  leaveWhileRedisDown: boolean;
}

/** A flood, and what the attacker may and must see in answer. */
interface Flood {
  frame: FloodFrame;
  title: string;
  /** Reply keys allowed besides `error:rate_limited`. */
  answers: string[];
  /** Reply keys the attacker must see at least once (its frames are handled up to the budget). */
  mustSee: string[];
}

const FLOODS: Flood[] = [
  { frame: 'read', title: '`read` markers (a store write and a publish each)', answers: [], mustSee: [] },
  {
    frame: 'typing-unknown',
    title: '`typing` naming conversations the user is not in',
    answers: ['error:not_member'],
    mustSee: ['error:not_member'],
  },
  { frame: 'send', title: '`send`', answers: ['ack'], mustSee: ['ack'] },
  { frame: 'ping', title: '`ping`', answers: ['pong'], mustSee: ['pong'] },
  {
    frame: 'auth-garbage',
    title: '`auth` with garbage tokens',
    answers: ['error:unauthorized'],
    mustSee: ['error:unauthorized'],
  },
  {
    frame: 'invalid-json',
    title: 'invalid JSON',
    answers: ['error:invalid_frame'],
    mustSee: ['error:invalid_frame'],
  },
  {
    frame: 'unknown-type',
    title: 'an unknown frame type',
    answers: ['error:unknown_frame_type'],
    mustSee: ['error:unknown_frame_type'],
  },
];

const FLOOD_SOCKETS = 4;
/** Frames per second each flooding socket tries: 40× the inbound budget. */
const FLOOD_RATE_PER_SOCKET = 2000;
const USABLE_WITHIN_MS = 1000;
const LONG_BODY = 'x'.repeat(4000);

export function describeAbuseSuite(
  title: string,
  startTarget: () => Promise<AbuseTarget>,
  options: AbuseSuiteOptions,
): void {
  describe(title, () => {
    let target: AbuseTarget;
    let pair: ControlPair;
    let idle: PairStats;
    /** One attacker per attack, so a penalty from one never carries into the next. */
    const attackers = new Map<string, TestUser>();
    /** Talks to nobody; the attackers' DMs and groups are with them. */
    let victim: TestUser;
    let sybils: TestUser[];
    const summary: Record<string, unknown>[] = [];

    const attacker = (name: string): TestUser => {
      const user = attackers.get(name);
      if (!user) throw new Error(`no attacker ${name}`);
      return user;
    };

    beforeAll(async () => {
      target = await startTarget();
      pair = await startControlPair(target, { label: 'ctl' });
      // Every account the suite needs is made up front: the registration flood and the
      // failed-login storm near the end throttle this address afterwards.
      const names = ['flooder', 'rest', 'churn', 'logout', 'leaver', 'natuser'];
      const tag = randomBytes(2).toString('hex');
      const users: TestUser[] = [];
      const all = [...names.map((n) => `${n.replace(/[^a-z]/g, '')}${tag}`), `victim${tag}`];
      for (let s = 0; s < 4; s++) all.push(`sybil${s}${tag}`);
      for (let i = 0; i < all.length; i += 4) {
        users.push(...(await Promise.all(all.slice(i, i + 4).map((n) => registerUser(target.url, n)))));
      }
      for (const [i, name] of names.entries()) attackers.set(name, users[i]!);
      victim = users[names.length]!;
      sybils = users.slice(names.length + 1);
      await pair.measure(2000); // warm-up: the first messages pay for lazy initialisation
      idle = await pair.measure(4000);
      console.log(`[abuse ${target.name}] control pair idle: ${JSON.stringify(idle)}`);
    }, 240_000);

    afterAll(async () => {
      console.log(`[abuse ${target?.name}] summary:\n${summary.map((s) => JSON.stringify(s)).join('\n')}`);
      pair?.close();
      await target?.stop();
    }, 60_000);

    /** The pass criteria shared by every attack, checked softly so one failure shows all numbers. */
    function expectPairUnaffected(what: string, during: PairStats, usable: Usable): void {
      const bound = pairP99Bound(idle.p99);
      const numbers = `during ${JSON.stringify(during)}; idle ${JSON.stringify(idle)}`;
      summary.push({ attack: what, idleP99: idle.p99, ...during, usableMs: usable.ms });
      expect
        .soft(
          during.p99,
          `${what}: control pair p99 expected < max(2×${idle.p99}+50, ${PAIR_P99_FLOOR_MS}) = ${bound} ms, was ${during.p99} ms (${numbers})`,
        )
        .toBeLessThan(bound);
      expect.soft(during.lost, `${what}: control pair lost messages (${numbers})`).toBe(0);
      expect.soft(during.duplicated, `${what}: control pair duplicated messages (${numbers})`).toBe(0);
      expect.soft(during.unacked, `${what}: control pair messages never acknowledged (${numbers})`).toBe(0);
      expect
        .soft(
          usable.ms,
          `${what}: expected the service usable within ${USABLE_WITHIN_MS} ms of the attack's end, took ${usable.ms} ms${usable.error ? ` (${usable.error})` : ''}`,
        )
        .toBeLessThanOrEqual(USABLE_WITHIN_MS);
      expect.soft(target.down(), `${what}: processes down after the attack`).toEqual([]);
    }

    /** Runs an attack while the pair chats; then probes usability from the attack's end. */
    async function underAttack<S extends AttackSpec>(
      spec: S,
    ): Promise<{ report: ReportOf<S>; during: PairStats; usable: Usable }> {
      const attack = launchAttack(spec);
      await attack.started;
      const usableAfter = attack.done.then(
        () => probeUsable(pair, 10_000),
        (err: Error): Usable => ({ ms: Number.POSITIVE_INFINITY, error: err.message }),
      );
      const [during, report, usable] = await Promise.all([
        pair.measure(spec.durationMs, { until: attack.done }),
        attack.done,
        usableAfter,
      ]);
      return { report, during, usable };
    }

    /** A DM between an attacker and the victim, where the victim wrote `messages` messages. */
    async function dmWithVictim(user: TestUser, messages = 0): Promise<Conversation> {
      const dm = await createConversation(target.url, user, { kind: 'dm', with: victim.id });
      for (let i = 1; i <= messages; i++) {
        const sent = await request(target.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
          token: victim.accessToken,
          body: { clientMsgId: `v-${dm.id}-${i}`, body: `hello ${i}` },
        });
        expect(sent.status, `victim's message ${i}`).toBe(201);
      }
      return dm;
    }

    describe('floods of every client frame type, one user on 4 sockets', () => {
      for (const flood of FLOODS) {
        it(
          `drops a flood of ${flood.title} over the inbound budget with typed errors; others are unaffected`,
          async () => {
            const user = attacker('flooder');
            const maxSeq = 5;
            const dm =
              flood.frame === 'read' || flood.frame === 'send'
                ? await dmWithVictim(user, flood.frame === 'read' ? maxSeq : 0)
                : undefined;
            const { report, during, usable } = await underAttack({
              kind: 'frames',
              wsUrl: target.wsUrl,
              token: user.accessToken,
              frame: flood.frame,
              sockets: FLOOD_SOCKETS,
              durationMs: options.floodMs,
              ratePerSocket: FLOOD_RATE_PER_SOCKET,
              ...(dm ? { conv: dm.id, maxSeq } : {}),
            });
            const what = `${target.name} ${flood.frame} flood`;
            console.log(`[abuse ${target.name}] ${flood.frame} flood: ${summarizeFrames(report)}`);
            expectPairUnaffected(what, during, usable);
            expectFloodAnswered(what, flood, report);
            if (flood.frame === 'send') {
              const acks = report.sockets.reduce((n, s) => n + (s.replies.ack ?? 0), 0);
              const seconds = report.elapsedMs / 1000 + 1;
              const bound = Math.ceil((LIMITS.sendBurst + LIMITS.sendRatePerSec * seconds) * 1.15) + 5;
              expect
                .soft(
                  acks,
                  `${what}: accepted sends expected ≤ ${bound} (the user's send budget), were ${acks}`,
                )
                .toBeLessThanOrEqual(bound);
            }
            if (flood.frame === 'read' && dm) {
              const seen = await request<{ conversation: Conversation }>(
                target.url,
                'GET',
                `/api/chat/conversations/${dm.id}`,
                { token: user.accessToken },
              );
              expect
                .soft(
                  seen.body.conversation?.lastReadSeq,
                  `${what}: the coalesced read marker (latest wins) should be ${maxSeq}`,
                )
                .toBe(maxSeq);
            }
          },
          options.floodMs + 60_000,
        );
      }
    });

    describe('a ready bomb: many groups with the victim in each', () => {
      const bombs: Conversation[] = [];

      it('refuses to add someone to a group who never wrote in a conversation shared with the adder (403 forbidden)', async () => {
        const [mallory] = sybils as [TestUser];
        const created = await request<{ error?: { code: string } }>(
          target.url,
          'POST',
          '/api/chat/conversations',
          {
            token: mallory.accessToken,
            body: { kind: 'group', name: 'unasked', members: [victim.id] },
          },
        );
        expect(
          created.status,
          `adding a stranger: expected 403 forbidden, got ${created.status} ${JSON.stringify(created.body)}`,
        ).toBe(403);
        expect(created.body.error?.code).toBe('forbidden');
      });

      it('caps group creation per user over time (429 rate_limited with Retry-After)', async () => {
        // The victim talks to every sybil first, so the rule lets them add the victim.
        for (const sybil of sybils) {
          const dm = await createConversation(target.url, sybil, { kind: 'dm', with: victim.id });
          const said = await request(target.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
            token: victim.accessToken,
            body: { clientMsgId: `hi-${sybil.id}`, body: 'hi' },
          });
          expect(said.status).toBe(201);
        }
        const [first] = sybils as [TestUser];
        const statuses: number[] = [];
        let refusal: { code?: string; retryAfter: string | null } | undefined;
        for (let i = 0; i < LIMITS.groupsPerHour + 10 && !refusal; i++) {
          const created = await request<{ conversation: Conversation; error?: { code: string } }>(
            target.url,
            'POST',
            '/api/chat/conversations',
            { token: first.accessToken, body: { kind: 'group', name: `bomb ${i}`, members: [victim.id] } },
          );
          statuses.push(created.status);
          if (created.status === 201) bombs.push(created.body.conversation);
          else if (created.status === 429) {
            refusal = { code: created.body.error?.code, retryAfter: created.headers.get('retry-after') };
          } else throw new Error(`group ${i}: unexpected ${created.status} ${JSON.stringify(created.body)}`);
        }
        const accepted = statuses.filter((s) => s === 201).length;
        expect
          .soft(
            accepted,
            `groups one user created before the cap: expected ≤ ${LIMITS.groupsPerHour}, was ${accepted}`,
          )
          .toBeLessThanOrEqual(LIMITS.groupsPerHour);
        expect(
          refusal,
          `expected a 429 within ${LIMITS.groupsPerHour + 10} creations; statuses ${statuses.join(',')}`,
        ).toBeDefined();
        expect(refusal?.code).toBe('rate_limited');
        expect(Number(refusal?.retryAfter), 'Retry-After seconds').toBeGreaterThan(0);
      });

      it('bounds ready and GET /conversations for the victim of many groups: ≤ 100 conversations, previews ≤ 500 chars, pages by cursor', async () => {
        const idleReadyMs = await timeToReady(target.wsUrl, victim.accessToken);
        // Every other sybil fills its own quota, with a 4000-char last message in each group.
        for (const sybil of sybils.slice(1)) {
          for (let i = 0; i < LIMITS.groupsPerHour; i++) {
            const created = await request<{ conversation: Conversation }>(
              target.url,
              'POST',
              '/api/chat/conversations',
              {
                token: sybil.accessToken,
                body: { kind: 'group', name: `bomb ${sybil.username} ${i}`, members: [victim.id] },
              },
            );
            if (created.status !== 201) break;
            bombs.push(created.body.conversation);
          }
        }
        for (const [i, group] of bombs.entries()) {
          const owner = sybils.find((s) => group.members.some((m) => m.id === s.id && m.id !== victim.id))!;
          const sent = await request(target.url, 'POST', `/api/chat/conversations/${group.id}/messages`, {
            token: owner.accessToken,
            body: { clientMsgId: `long-${i}`, body: LONG_BODY },
          });
          expect(sent.status, `long message ${i}: ${JSON.stringify(sent.body)}`).toBe(201);
        }
        const total = (await pagedConversations(target, victim, 100)).ids.length;
        expect(total, 'the victim has more conversations than one ready carries').toBeGreaterThan(
          LIMITS.readyConversations,
        );
        expect(total, 'every group and DM of the victim is listed').toBeGreaterThanOrEqual(
          bombs.length + sybils.length,
        );

        const start = performance.now();
        const { frame, bytes } = await rawReady(target.wsUrl, victim.accessToken);
        const readyMs = performance.now() - start;
        const longest = Math.max(...frame.conversations.map((c) => c.lastMessage?.body.length ?? 0));
        summary.push({ attack: 'ready bomb', conversations: total, readyBytes: bytes, readyMs, idleReadyMs });
        expect.soft(bytes, `ready size expected ≤ 1 MB, was ${bytes} bytes`).toBeLessThanOrEqual(1024 * 1024);
        expect
          .soft(
            frame.conversations.length,
            `ready expected ≤ ${LIMITS.readyConversations} conversations of ${total}, had ${frame.conversations.length}`,
          )
          .toBeLessThanOrEqual(LIMITS.readyConversations);
        expect
          .soft(
            longest,
            `longest last-message preview in ready expected ≤ ${LIMITS.previewChars} chars, was ${longest}`,
          )
          .toBeLessThanOrEqual(LIMITS.previewChars);
        expect
          .soft(
            (frame as { nextCursor?: unknown }).nextCursor,
            'ready carries a nextCursor when conversations are left out',
          )
          .toEqual(expect.any(String));
        expect
          .soft(
            readyMs,
            `the victim's connect time expected ≤ 2×${Math.round(idleReadyMs)}+500 ms, was ${Math.round(readyMs)} ms`,
          )
          .toBeLessThanOrEqual(2 * idleReadyMs + 500);

        const firstPage = await request<{ conversations: Conversation[]; nextCursor?: string | null }>(
          target.url,
          'GET',
          '/api/chat/conversations',
          { token: victim.accessToken },
        );
        expect
          .soft(
            firstPage.body.conversations.length,
            `GET /conversations expected ≤ ${LIMITS.readyConversations} of ${total}`,
          )
          .toBeLessThanOrEqual(LIMITS.readyConversations);
        const paged = await pagedConversations(target, victim, 40);
        expect
          .soft(paged.pages, 'pages of 40 walked by nextCursor')
          .toBeGreaterThanOrEqual(Math.ceil(total / 40));
        expect.soft(new Set(paged.ids).size, 'every conversation once over the pages').toBe(total);
        expect.soft(paged.ids.length, 'no conversation twice over the pages').toBe(total);
      }, 120_000);

      it('survives 20 half-open sockets of the victim while its groups are busy, and refuses the 21st upgrade (429 rate_limited)', async () => {
        // Straight to one chat process: a per-user cap holds there whatever else it counts.
        const wsUrl = `${target.chatUrls[0]!.replace(/^http/, 'ws')}/ws`;
        const rssBefore = target.chatRssBytes()[0]!;
        const stalled = await Promise.all(
          Array.from({ length: LIMITS.maxConnectionsPerUser }, () => openStalled(wsUrl, victim.accessToken)),
        );
        const opened = stalled.filter((s) => s.status === 101).length;
        expect
          .soft(opened, `${LIMITS.maxConnectionsPerUser} sockets of one user open`)
          .toBe(LIMITS.maxConnectionsPerUser);
        // The sybils keep the victim's groups busy (within their send budgets) while nobody reads.
        const busy = keepGroupsBusy(target, sybils, bombs, 4000);
        const during = await pair.measure(4000, { until: busy });
        await busy;
        const rssAfter = target.chatRssBytes()[0]!;
        const over = await upgradeAnswer(wsUrl, victim.accessToken);
        for (const s of stalled) s.ws.terminate();
        const usable = await probeUsable(pair, 10_000);
        const growthMb = (rssAfter - rssBefore) / 2 ** 20;
        summary.push({
          attack: 'half-open sockets',
          opened,
          rssBeforeMb: rssBefore / 2 ** 20,
          growthMb,
          over: over.status,
        });
        expectPairUnaffected(`${target.name} half-open sockets`, during, usable);
        expect
          .soft(
            growthMb,
            `server memory growth with 20 stalled sockets expected ≤ 100 MB, was ${growthMb.toFixed(1)} MB`,
          )
          .toBeLessThanOrEqual(100);
        expect
          .soft(
            over,
            `the ${LIMITS.maxConnectionsPerUser + 1}st socket of one user: expected HTTP 429 rate_limited`,
          )
          .toEqual({ status: 429, code: 'rate_limited' });
        // The cap frees up once the sockets are gone.
        await waitFor(async () => (await upgradeAnswer(wsUrl, victim.accessToken)).status === 101, {
          timeoutMs: 10_000,
          what: 'the victim to connect again after closing its sockets',
        });
      }, 60_000);
    });

    it('answers a REST send flood (plus sends over a socket) with 429 rate_limited + Retry-After past ONE per-user budget', async () => {
      const user = attacker('rest');
      const dm = await dmWithVictim(user);
      const { report, during, usable } = await underAttack({
        kind: 'rest-send',
        url: target.url,
        wsUrl: target.wsUrl,
        token: user.accessToken,
        conv: dm.id,
        durationMs: 5000,
        concurrency: 16,
        socketSendsPerSec: 40,
      });
      const what = `${target.name} REST send flood`;
      const accepted = (report.statuses['201'] ?? 0) + report.socketAcks;
      const seconds = report.elapsedMs / 1000;
      const upper = Math.ceil((LIMITS.sendBurst + LIMITS.sendRatePerSec * (seconds + 1)) * 1.15) + 5;
      const lower = Math.floor(LIMITS.sendRatePerSec * seconds * 0.7);
      console.log(`[abuse ${target.name}] REST flood: ${JSON.stringify(report)}`);
      summary.push({ attack: 'REST send flood', accepted, acceptedPerSec: accepted / seconds });
      expectPairUnaffected(what, during, usable);
      expect
        .soft(accepted, `${what}: accepted (REST 201 + socket acks) expected ≤ ${upper}, was ${accepted}`)
        .toBeLessThanOrEqual(upper);
      expect
        .soft(accepted, `${what}: accepted expected ≥ ${lower} (≈ the budget), was ${accepted}`)
        .toBeGreaterThanOrEqual(lower);
      expect.soft(Object.keys(report.statuses).sort(), `${what}: HTTP statuses`).toEqual(['201', '429']);
      expect.soft(Object.keys(report.codes), `${what}: error codes`).toEqual(['rate_limited']);
      expect.soft(report.withoutRetryAfter, `${what}: 429s without Retry-After`).toBe(0);
      expect.soft(report.timeouts, `${what}: requests unanswered within 5 s`).toBe(0);
      expect
        .soft(
          Object.keys(report.socketErrors).filter((c) => c !== 'rate_limited'),
          `${what}: socket errors`,
        )
        .toEqual([]);
    }, 70_000);

    it('keeps the send budget across reconnects (connect, burst, disconnect, repeat)', async () => {
      const user = attacker('churn');
      const dm = await dmWithVictim(user);
      const { report, during, usable } = await underAttack({
        kind: 'reconnect-churn',
        wsUrl: target.wsUrl,
        token: user.accessToken,
        conv: dm.id,
        durationMs: 5000,
        burst: 40,
      });
      const what = `${target.name} reconnect churn`;
      const seconds = report.elapsedMs / 1000;
      const upper = Math.ceil((LIMITS.sendBurst + LIMITS.sendRatePerSec * (seconds + 1)) * 1.15) + 5;
      console.log(`[abuse ${target.name}] churn: ${JSON.stringify(report)}`);
      summary.push({ attack: 'reconnect churn', connections: report.connections, acks: report.acks });
      expectPairUnaffected(what, during, usable);
      expect.soft(report.connections, `${what}: reconnects made`).toBeGreaterThanOrEqual(3);
      expect
        .soft(
          report.acks,
          `${what}: accepted over ${report.connections} connections expected ≤ ${upper} (one budget, not one per connection), was ${report.acks}`,
        )
        .toBeLessThanOrEqual(upper);
      expect
        .soft(
          Object.keys(report.errors).filter((c) => c !== 'rate_limited'),
          `${what}: errors`,
        )
        .toEqual([]);
      expect
        .soft(
          Object.keys(report.refused).filter((s) => s !== '429'),
          `${what}: refused upgrades`,
        )
        .toEqual([]);
    }, 70_000);

    it('ends every live socket of a login on logout (4001 within 3 s) and refuses its access token', async () => {
      const user = attacker('logout');
      const first = await login(target.url, user);
      const other = await login(target.url, user);
      const urls = [target.wsUrl, ...target.chatUrls.map((u) => `${u.replace(/^http/, 'ws')}/ws`)];
      const sockets = await Promise.all(
        urls.map((u) => FrameClient.connect(u, { token: first.accessToken })),
      );
      const survivor = await FrameClient.connect(target.wsUrl, { token: other.accessToken });
      const out = await request(target.url, 'POST', '/api/auth/logout', {
        body: { refreshToken: first.refreshToken },
      });
      expect(out.status).toBe(204);
      const loggedOutAt = performance.now();
      const closes = await Promise.all(
        sockets.map((s) =>
          s.waitClosed(3000).then(
            (c) => ({ ...c, afterMs: Math.round(performance.now() - loggedOutAt) }),
            () => ({ code: 0, reason: 'still open after 3 s', afterMs: 3000 }),
          ),
        ),
      );
      summary.push({ attack: 'logout', closes });
      for (const [i, close] of closes.entries()) {
        expect
          .soft(close.code, `socket ${i} (${urls[i]}) of the logged-out login: ${JSON.stringify(close)}`)
          .toBe(4001);
      }
      const rest = await request<{ error?: { code: string } }>(target.url, 'GET', '/api/chat/conversations', {
        token: first.accessToken,
      });
      expect.soft(rest.status, `the logged-out access token on REST: ${JSON.stringify(rest.body)}`).toBe(401);
      expect
        .soft(
          await FrameClient.upgradeStatus(target.wsUrl, { token: first.accessToken }),
          'a new socket with it',
        )
        .toBe(401);
      // The other login of the same user is not touched.
      survivor.send({ type: 'ping', ref: 'still-here' });
      await survivor.next('pong', (f) => f.ref === 'still-here', { timeoutMs: 3000 });
      expect(survivor.closed).toBeUndefined();
      survivor.close();
    }, 30_000);

    it('stays fast for real logins while 6 clients register accounts nonstop (429 past the per-address bound)', async () => {
      const real = pair.b;
      const idleLogins: number[] = [];
      for (let i = 0; i < 3; i++) idleLogins.push(await timedLogin(target.url, real));
      const idleLoginMs = [...idleLogins].sort((x, y) => x - y)[1]!;
      const attack = launchAttack({
        kind: 'register-flood',
        url: target.url,
        clients: 6,
        durationMs: 5000,
        prefix: 'flood',
      });
      await attack.started;
      let finished = false;
      const logins: number[] = [];
      const loginLoop = (async () => {
        while (!finished) {
          logins.push(await timedLogin(target.url, real));
          await new Promise((r) => setTimeout(r, 300));
        }
      })();
      const usableAfter = attack.done.then(() => probeUsable(pair, 10_000));
      const [during, report, usable] = await Promise.all([
        pair.measure(5000, { until: attack.done }),
        attack.done.finally(() => {
          finished = true;
        }),
        usableAfter,
      ]);
      await loginLoop;
      const what = `${target.name} registration flood`;
      const worst = Math.max(...logins);
      // Twice the idle login plus 300 ms, never below 3 s: the defect was 0.5 s → 5–6 s.
      const bound = Math.max(2 * idleLoginMs + 300, 3000);
      console.log(
        `[abuse ${target.name}] registration flood: ${JSON.stringify(report)}; logins ${logins.join(',')} ms, idle ${idleLoginMs} ms`,
      );
      summary.push({
        attack: 'registration flood',
        idleLoginMs,
        worstLoginMs: worst,
        statuses: report.statuses,
      });
      expectPairUnaffected(what, during, usable);
      expect
        .soft(
          worst,
          `${what}: a real login took ${worst} ms, expected ≤ max(2×${idleLoginMs}+300, 3000) = ${bound} ms (all: ${logins.join(', ')})`,
        )
        .toBeLessThanOrEqual(bound);
      expect
        .soft(report.statuses['429'] ?? 0, `${what}: 429s (statuses ${JSON.stringify(report.statuses)})`)
        .toBeGreaterThan(0);
      expect
        .soft(
          Object.keys(report.statuses).filter((s) => s !== '201' && s !== '429'),
          `${what}: other statuses`,
        )
        .toEqual([]);
      expect.soft(Object.keys(report.codes), `${what}: error codes`).toEqual(['rate_limited']);
      expect.soft(report.withoutRetryAfter, `${what}: 429s without Retry-After`).toBe(0);
      expect.soft(report.timeouts, `${what}: registrations unanswered within 15 s`).toBe(0);
    }, 70_000);

    it('keeps a user who logged in from this device able to log in after 60 failed logins from the shared address', async () => {
      const user = attacker('natuser');
      const device = await request<{ accessToken?: string }>(target.url, 'POST', '/api/auth/login', {
        body: { username: user.username, password: user.password },
      });
      expect(device.status).toBe(200);
      const cookie = deviceCookieOf(device.headers);
      const statuses: number[] = [];
      let throttled: { code?: string; retryAfter: string | null } | undefined;
      const storm = (async () => {
        for (let i = 0; i < 60; i++) {
          // Guesses at the user's own account among random others, from the same address.
          const username = i % 6 === 0 ? user.username : `guess${randomBytes(3).toString('hex')}`;
          const answer = await request<{ error?: { code: string } }>(target.url, 'POST', '/api/auth/login', {
            body: { username, password: 'wrong password!' },
          });
          statuses.push(answer.status);
          if (answer.status === 429)
            throttled ??= { code: answer.body.error?.code, retryAfter: answer.headers.get('retry-after') };
        }
      })();
      const during = await pair.measure(3000, { until: storm });
      await storm;
      const usable = await probeUsable(pair, 10_000);
      const again = await request<{ error?: { code: string } }>(target.url, 'POST', '/api/auth/login', {
        body: { username: user.username, password: user.password },
        headers: cookie ? { cookie } : {},
      });
      const what = `${target.name} shared-address lockout`;
      summary.push({
        attack: 'failed-login storm',
        statuses: countOf(statuses),
        deviceCookie: cookie !== undefined,
        again: again.status,
      });
      expectPairUnaffected(what, during, usable);
      expect
        .soft(
          throttled?.code,
          `${what}: the attacker is throttled (statuses ${JSON.stringify(countOf(statuses))})`,
        )
        .toBe('rate_limited');
      expect.soft(Number(throttled?.retryAfter ?? 0), `${what}: Retry-After`).toBeGreaterThan(0);
      expect
        .soft(
          statuses.filter((s) => s !== 401 && s !== 429),
          `${what}: statuses other than 401/429`,
        )
        .toEqual([]);
      expect.soft(cookie, `${what}: the login answered with a device cookie (Set-Cookie)`).toBeDefined();
      expect(
        again.status,
        `${what}: the user's own login with the right password and its device cookie answered ${again.status} ${JSON.stringify(again.body)}`,
      ).toBe(200);
    }, 180_000);

    if (options.leaveWhileRedisDown) {
      it('refuses a send (not_member) over the open socket of a member who left the group over REST while Redis was down', async () => {
        const user = attacker('leaver');
        const [friend] = sybils as [TestUser];
        // The friend wrote to the leaver first, so the leaver may add them to a group.
        const dm = await createConversation(target.url, friend, { kind: 'dm', with: user.id });
        await request(target.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
          token: friend.accessToken,
          body: { clientMsgId: randomUUID(), body: 'hello leaver' },
        });
        const group = await createConversation(target.url, user, {
          kind: 'group',
          name: 'leaving',
          members: [friend.id],
        });
        // The leaver's socket is on the first replica, and has just sent into the group.
        const socket = await FrameClient.connect(`${target.chatUrls[0]!.replace(/^http/, 'ws')}/ws`, {
          token: user.accessToken,
        });
        socket.send({ type: 'send', conv: group.id, clientMsgId: 'before-leave', body: 'still here' });
        await socket.next('ack', (f) => f.clientMsgId === 'before-leave');
        const redis = target.redis!;
        await redis.stop();
        let stored: Message[] = [];
        try {
          // The leave goes to another replica: the first one cannot hear of it on the bus.
          const left = await request(
            target.chatUrls[1]!,
            'POST',
            `/api/chat/conversations/${group.id}/leave`,
            {
              token: user.accessToken,
            },
          );
          expect(left.status, `leaving while Redis is down: ${JSON.stringify(left.body)}`).toBe(204);
          socket.send({ type: 'send', conv: group.id, clientMsgId: 'after-leave', body: 'I left already' });
          const answer = await Promise.race([
            socket
              .next('error', (f) => f.ref === 'after-leave', { timeoutMs: 5000 })
              .then((f) => f.code as string),
            socket.next('ack', (f) => f.clientMsgId === 'after-leave', { timeoutMs: 5000 }).then(() => 'ack'),
          ]).catch((err: Error) => `no answer (${err.message})`);
          expect
            .soft(answer, `a send after leaving, Redis down (socket close: ${JSON.stringify(socket.closed)})`)
            .toBe('not_member');
        } finally {
          await redis.start();
        }
        stored = await waitFor(
          async () => {
            const page = await request<{ messages: Message[] }>(
              target.url,
              'GET',
              `/api/chat/conversations/${group.id}/messages?limit=200`,
              { token: friend.accessToken },
            );
            return page.status === 200 ? page.body.messages : undefined;
          },
          { timeoutMs: 15_000, what: 'the group history after Redis is back' },
        );
        socket.close();
        expect(
          stored.map((m) => m.body),
          'nothing stored from the member who left',
        ).not.toContain('I left already');
        const usable = await probeUsable(pair, 20_000);
        summary.push({ attack: 'leave then post, Redis down', usableAfterRedisMs: usable.ms });
        expect(usable.ms, `usable after Redis is back: ${usable.error ?? ''}`).toBeLessThan(20_000);
      }, 90_000);
    }
  });
}

// --- helpers ---------------------------------------------------------------------------

interface Usable {
  ms: number;
  error?: string;
}

/** The pair's usability probe, as a number (∞ with the reason when it never became usable). */
function probeUsable(pair: ControlPair, timeoutMs: number): Promise<Usable> {
  return pair.probeUsable(timeoutMs).then(
    (ms): Usable => ({ ms }),
    (err: Error): Usable => ({ ms: Number.POSITIVE_INFINITY, error: err.message }),
  );
}

function expectFloodAnswered(what: string, flood: Flood, report: FramesReport): void {
  const seconds = report.elapsedMs / 1000 + 1;
  const budget =
    Math.ceil((LIMITS.inboundBurst + LIMITS.inboundFramesPerSec * seconds) * 1.2) + Math.ceil(seconds) + 2;
  const allowed = new Set([...flood.answers, 'error:rate_limited']);
  const problems: string[] = [];
  for (const [i, socket] of report.sockets.entries()) {
    const at = `socket ${i}`;
    if (socket.upgrade !== 101) problems.push(`${at}: upgrade answered ${socket.upgrade}`);
    const replies = Object.values(socket.replies).reduce((n, v) => n + v, 0);
    if (replies > budget) {
      problems.push(
        `${at}: ${socket.sent} frames in ${report.elapsedMs} ms drew ${replies} answers, expected ≤ ${budget} (budget ${LIMITS.inboundBurst} + ${LIMITS.inboundFramesPerSec}/s, the rest dropped): ${JSON.stringify(socket.replies)}`,
      );
    }
    const rateLimited =
      (socket.replies['error:rate_limited'] ?? 0) > 0 || socket.closedByServer?.reason === 'rate_limited';
    // Refusal is owed only for frames past the budget: a flood slowed by a busy machine may
    // not have outrun it (twice the budget for the elapsed time leaves no doubt).
    const outran = socket.sent > 2 * (LIMITS.inboundBurst + LIMITS.inboundFramesPerSec * seconds);
    if (outran && !rateLimited) {
      problems.push(`${at}: ${socket.sent} frames, no rate_limited error and no close 1008 rate_limited`);
    }
    if (socket.rateLimitedNotices > Math.ceil(seconds) + 2) {
      problems.push(
        `${at}: ${socket.rateLimitedNotices} rate_limited notices, expected about one per second (≤ ${Math.ceil(seconds) + 2})`,
      );
    }
    if (socket.rateLimitedWithoutRetryAfter > 0) {
      problems.push(`${at}: ${socket.rateLimitedWithoutRetryAfter} rate_limited errors without retryAfterMs`);
    }
    const unexpected = Object.keys(socket.replies).filter((k) => !allowed.has(k));
    if (unexpected.length > 0) problems.push(`${at}: unexpected answers ${unexpected.join(', ')}`);
    const close = socket.closedByServer;
    if (close && (close.code !== 1008 || close.reason !== 'rate_limited')) {
      problems.push(
        `${at}: closed by the server with ${close.code} "${close.reason}", expected 1008 rate_limited`,
      );
    }
  }
  for (const key of flood.mustSee) {
    const seen = report.sockets.reduce((n, s) => n + (s.replies[key] ?? 0), 0);
    if (seen === 0) problems.push(`no ${key} answer at all (frames within the budget must be handled)`);
  }
  expect.soft(problems, `${what}: the attacker's view`).toEqual([]);
}

function summarizeFrames(report: FramesReport): string {
  return JSON.stringify({
    elapsedMs: report.elapsedMs,
    sockets: report.sockets.map((s) => ({
      sent: s.sent,
      replies: s.replies,
      notices: s.rateLimitedNotices,
      close: s.closedByServer,
    })),
  });
}

/** Walks GET /conversations?limit=&cursor= to the end (at most 50 pages). */
async function pagedConversations(
  target: AbuseTarget,
  user: TestUser,
  limit: number,
): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null | undefined;
  let pages = 0;
  do {
    const query = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await request<{ conversations?: Conversation[]; nextCursor?: string | null }>(
      target.url,
      'GET',
      `/api/chat/conversations${query}`,
      { token: user.accessToken },
    );
    if (page.status !== 200)
      throw new Error(`GET /conversations${query}: HTTP ${page.status} ${JSON.stringify(page.body)}`);
    pages += 1;
    ids.push(...(page.body.conversations ?? []).map((c) => c.id));
    cursor = page.body.nextCursor;
  } while (cursor && pages < 50);
  return { ids, pages };
}

/** The first frame of a new connection, and its size in bytes. */
function rawReady(wsUrl: string, token: string): Promise<{ frame: ReadyFrame; bytes: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('no ready within 10 s'));
    }, 10_000);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const text = String(data);
      ws.close();
      resolve({ frame: JSON.parse(text) as ReadyFrame, bytes: Buffer.byteLength(text) });
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
    });
    ws.on('error', () => {});
  });
}

async function timeToReady(wsUrl: string, token: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const start = performance.now();
    await rawReady(wsUrl, token);
    times.push(performance.now() - start);
  }
  return times.sort((x, y) => x - y)[1]!;
}

/** A socket that never reads a byte after the upgrade. */
function openStalled(wsUrl: string, token: string): Promise<{ ws: WebSocket; status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    ws.once('upgrade', (response) => {
      response.socket.pause();
      resolve({ ws, status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ ws, status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', () => resolve({ ws, status: 0 }));
  });
}

/** HTTP status of an upgrade attempt and the error code of a refusal's body. */
function upgradeAnswer(wsUrl: string, token: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, ...(code ? { code } : {}) });
        ws.terminate();
      });
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

/** The sybils post 4000-char messages into their groups at their send budget for `ms`. */
async function keepGroupsBusy(
  target: AbuseTarget,
  sybils: TestUser[],
  groups: Conversation[],
  ms: number,
): Promise<void> {
  const until = performance.now() + ms;
  const perSybil = sybils.map((s) => groups.filter((g) => g.members.some((m) => m.id === s.id)));
  await Promise.all(
    sybils.map(async (sybil, s) => {
      const mine = perSybil[s]!;
      for (let i = 0; performance.now() < until && mine.length > 0; i++) {
        await request(target.url, 'POST', `/api/chat/conversations/${mine[i % mine.length]!.id}/messages`, {
          token: sybil.accessToken,
          body: { clientMsgId: randomUUID(), body: LONG_BODY },
        });
        await new Promise((r) => setTimeout(r, 1000 / (LIMITS.sendRatePerSec * 0.8)));
      }
    }),
  );
}

async function login(url: string, user: TestUser): Promise<{ accessToken: string; refreshToken: string }> {
  const answer = await request<{ accessToken: string; refreshToken: string }>(
    url,
    'POST',
    '/api/auth/login',
    {
      body: { username: user.username, password: user.password },
    },
  );
  if (answer.status !== 200)
    throw new Error(`login ${user.username}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function timedLogin(url: string, user: TestUser): Promise<number> {
  const start = performance.now();
  await login(url, user);
  return Math.round(performance.now() - start);
}

/** `name=value` of the login's Set-Cookie, to send back as a Cookie header. */
function deviceCookieOf(headers: Headers): string | undefined {
  const all = headers.getSetCookie();
  const pairs = all.map((c) => c.split(';')[0]!.trim()).filter((c) => c.includes('='));
  return pairs.length > 0 ? pairs.join('; ') : undefined;
}

function countOf(values: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
