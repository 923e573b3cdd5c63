/**
 * The Docker Compose deployment, built and run for real (`npm run test:compose`).
 *
 * docker-compose.yml + docker-compose.postgres.yml (history in PostgreSQL: no MongoDB server
 * or image can be had here) through docker-compose 1.29 `--compatibility`, with local
 * stand-ins for the upstream images (global-setup.ts, images.ts). All test traffic goes to
 * ports the stack publishes on 127.0.0.1. Then:
 * - the auth and chat contracts through nginx, the WebSocket included;
 * - Chromium signs up and chats through nginx;
 * - a chat container killed (docker kill) in the middle of a send stream: 0 lost, 0 duplicated;
 * - Redis restarted in the middle of a send stream: every client recovers, nothing lost;
 * - `down` (volumes kept) and `up`: users and history are still there;
 * - and `down -v` at the end, also after a failure: no container, network or volume is left.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Conversation, Message } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import { freePort, waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import {
  expectText,
  launchChromium,
  messageTexts,
  openDmWith,
  PASSWORD,
  sendFromComposer,
  signUp,
  uniqueName,
  waitOnline,
} from '../browser/harness.js';
import { FrameClient } from '../support/frame-client.js';
import { type JsonResponse, registerUser, request, type TestUser } from '../support/http.js';
import { seconds } from './exec.js';
import { imageSize } from './images.js';
import { ComposeStack, type ContainerState, REPO_ROOT } from './stack.js';

const engine = inject('composeEngine');
const PROJECT = 'relaychat-composetest';
const TAG = 'composetest';
const EXPECTED = { postgres: 1, redis: 1, auth: 1, chat: 3, web: 1 };
/** Bounds of the slow steps (a first build on a new machine compiles better-sqlite3 twice). */
const BUILD_MS = 45 * 60_000;
const UP_MS = 5 * 60_000;
const HEALTHY_MS = 4 * 60_000;

let stack: ComposeStack;
let url: string;
let wsUrl: string;
let chatPorts: string;
const figures: Record<string, unknown> = {};
const openClients: ChatClient[] = [];
let alice: TestUser;
let bob: TestUser;
let dm: Conversation;
let streamUsers: TestUser[] = [];
const channels: { id: string; messages: number }[] = [];

/** Three consecutive free ports on 127.0.0.1 (chat's one-per-replica range). */
async function freeRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * 40_000);
    const ports = await Promise.all(
      Array.from({ length: count }, (_, i) =>
        import('node:net').then(
          ({ createServer }) =>
            new Promise<boolean>((resolve) => {
              const server = createServer();
              server.once('error', () => resolve(false));
              server.listen(first + i, '127.0.0.1', () => server.close(() => resolve(true)));
            }),
        ),
      ),
    );
    if (ports.every(Boolean)) return first;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

function sdkClient(user: TestUser): { client: ChatClient; messages: Map<string, Message[]> } {
  const messages = new Map<string, Message[]>();
  const client = new ChatClient({
    url: wsUrl,
    httpUrl: url,
    getToken: () => user.accessToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { baseDelayMs: 100, maxDelayMs: 1000 },
  });
  client.on('message', (message) => {
    let list = messages.get(message.conv);
    if (!list) {
      list = [];
      messages.set(message.conv, list);
    }
    list.push(message);
  });
  openClients.push(client);
  client.connect();
  return { client, messages };
}

async function storedHistory(user: TestUser, conv: string): Promise<Message[]> {
  const all: Message[] = [];
  for (let page = 0; page < 100; page++) {
    const res = await request<{ messages: Message[] }>(
      url,
      'GET',
      `/api/chat/conversations/${conv}/messages?after=${all.at(-1)?.seq ?? 0}&limit=200`,
      { token: user.accessToken },
    );
    expect(res.status).toBe(200);
    all.push(...res.body.messages);
    if (res.body.messages.length < 200) return all;
  }
  throw new Error('history longer than 100 pages');
}

/** WebSocket connections per running chat container, read from each replica's own published port. */
async function connectionsPerReplica(): Promise<{ container: ContainerState; connections: number }[]> {
  const replicas = (await stack.containers('chat')).filter((c) => c.status === 'running');
  return Promise.all(
    replicas.map(async (container) => {
      const port = await stack.hostPort(container.id, 8002);
      const text = await (await fetch(`http://127.0.0.1:${port}/api/chat/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('chat_ws_connections '));
      return { container, connections: Number(line?.split(' ')[1] ?? 0) };
    }),
  );
}

/**
 * What nginx logged that was not a success: 5xx answers and its error-log lines about
 * upstreams (a killed container's address stops answering, so connects time out).
 */
async function nginxErrors(): Promise<{ status5xx: Record<string, number>; upstreamErrors: string[] }> {
  const [web] = await stack.containers('web');
  const out = await stack.docker(['logs', web!.id]);
  const status5xx: Record<string, number> = {};
  for (const m of out.stdout.matchAll(/" (5\d\d) \d+ /g)) status5xx[m[1]!] = (status5xx[m[1]!] ?? 0) + 1;
  const upstreamErrors = out.stderr
    .split('\n')
    .filter((line) => /upstream|connect\(\) failed/.test(line))
    .map((line) => line.replace(/^.*?\[(error|warn)\] [\d#*: ]+/, '').replace(/, client: .*$/, ''));
  return { status5xx, upstreamErrors: [...new Set(upstreamErrors)] };
}

/** A container's address on the compose network. */
async function addressOf(id: string): Promise<string> {
  const format = '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}';
  return (await stack.docker(['inspect', '--format', format, id])).stdout.trim();
}

/** A REST call as the SDK makes it: `503 unavailable` and `429` are retried after Retry-After. */
async function patiently<T>(send: () => Promise<JsonResponse<T>>): Promise<JsonResponse<T>> {
  for (let attempt = 1; ; attempt++) {
    const res = await send();
    if ((res.status !== 503 && res.status !== 429) || attempt === 10) return res;
    const waitSec = Math.min(5, Math.max(0.2, Number(res.headers.get('retry-after') ?? '1')));
    await new Promise((resolve) => setTimeout(resolve, waitSec * 1000));
  }
}

/**
 * Twelve devices (two per user) in one channel, four of them sending 100 messages each at
 * 20 a second (under the default send rate); `fault` runs in the middle of the stream. Then the
 * store holds every message exactly once with gapless seqs, every send was acked, and every
 * device shows exactly the store's transcript in its order.
 */
async function streamThroughFault<F extends object>(name: string, fault: () => Promise<F>) {
  const owner = streamUsers[0]!;
  const channel = await patiently(() =>
    request<{ conversation: Conversation }>(url, 'POST', '/api/chat/conversations', {
      token: owner.accessToken,
      body: { kind: 'channel', name },
    }),
  );
  expect(channel.status).toBe(201);
  const conv = channel.body.conversation.id;
  for (const member of streamUsers.slice(1)) {
    const joined = await patiently(() =>
      request(url, 'POST', `/api/chat/conversations/${conv}/join`, { token: member.accessToken }),
    );
    expect(joined.status).toBe(200);
  }
  const devices = [...streamUsers, ...streamUsers].map((user) => sdkClient(user));
  await waitFor(() => devices.every((d) => d.client.state === 'open'), {
    timeoutMs: 30_000,
    what: 'all devices connected',
  });

  const sent: string[] = [];
  const acked = new Set<string>();
  let faultAt = 0;
  let faultFigures: F | undefined;
  const streams = devices.slice(0, 4).map(async (sender, s) => {
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 100; i++) {
      const body = `${name}-${s}-${i}`;
      sent.push(body);
      pending.push(sender.client.send(conv, body).acked.then(() => acked.add(body)));
      if (s === 0 && i === 40) {
        faultAt = Date.now();
        faultFigures = await fault();
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(pending);
  });
  await Promise.race([
    Promise.all(streams),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${name}: sends not acked in 120 s`)), 120_000),
    ),
  ]);
  const allAckedAt = Date.now();

  const stored = await storedHistory(owner, conv);
  await waitFor(() => devices.every((d) => (d.messages.get(conv)?.length ?? 0) >= stored.length), {
    timeoutMs: 60_000,
    what: 'every device to catch up with the store',
  });
  const caughtUpAt = Date.now();

  expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: stored.length }, (_, i) => i + 1));
  const bodies = stored.map((m) => m.body);
  expect(new Set(bodies).size).toBe(bodies.length);
  expect([...bodies].sort()).toEqual([...sent].sort());
  expect(acked.size).toBe(sent.length);
  const expected = stored.map((m) => `${m.seq}:${m.id}`);
  const perDevice = devices.map((d) => d.messages.get(conv)!.map((m) => `${m.seq}:${m.id}`));
  for (const transcript of perDevice) expect(transcript).toEqual(expected);
  for (const d of devices) d.client.close();
  channels.push({ id: conv, messages: stored.length });

  return {
    ...(faultFigures as F),
    sent: sent.length,
    acked: acked.size,
    stored: stored.length,
    lost: sent.length - new Set(bodies).size,
    duplicated: perDevice.reduce((n, t) => n + (t.length - new Set(t).size), 0),
    msFromFaultToAllAcked: allAckedAt - faultAt,
    msFromFaultToAllDevicesCaughtUp: caughtUpAt - faultAt,
  };
}

describe('the build context', () => {
  it('is filtered alike by the legacy builder and by BuildKit (identical ignore files)', () => {
    const root = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
    for (const name of ['Dockerfile.service', 'Dockerfile.web']) {
      expect(readFileSync(join(REPO_ROOT, `deploy/docker/${name}.dockerignore`), 'utf8'), name).toBe(root);
    }
  });
});

describe.skipIf(!engine.available)(
  'the Docker Compose stack, PostgreSQL history, docker-compose 1.29',
  () => {
    beforeAll(
      async () => {
        if (!engine.available) return;
        const httpPort = await freePort();
        const authPort = await freePort();
        const chatFirst = await freeRange(3);
        chatPorts = `${chatFirst}-${chatFirst + 2}`;
        url = `http://127.0.0.1:${httpPort}`;
        wsUrl = `ws://127.0.0.1:${httpPort}/ws`;
        const workDir = join(engine.logDir, 'work');
        mkdirSync(workDir, { recursive: true });
        stack = new ComposeStack({
          project: PROJECT,
          files: ['docker-compose.yml', 'docker-compose.postgres.yml'],
          env: {
            ...engine.images,
            POSTGRES_PASSWORD: `pw${crypto.randomUUID().replaceAll('-', '')}`,
            RELAY_CHAT_TAG: TAG,
            HTTP_PORT: `127.0.0.1:${httpPort}`,
            DOCS_BIND: '127.0.0.1',
            AUTH_HOST_PORT: String(authPort),
            CHAT_HOST_PORTS: chatPorts,
            PUBLIC_ORIGINS: url,
            LOG_LEVEL: 'warn',
          },
          workDir,
          log: join(engine.logDir, 'stack.log'),
          expected: EXPECTED,
        });
        // What an interrupted earlier run may have left.
        await stack.down(180_000, { volumes: true });

        let started = Date.now();
        await stack.build(BUILD_MS);
        figures.stackBuildMs = Date.now() - started;
        started = Date.now();
        await stack.up(UP_MS);
        await stack.waitHealthy(HEALTHY_MS);
        figures.upUntilHealthyMs = Date.now() - started;
        const sizes: Record<string, string> = {};
        for (const image of [
          `relay-chat/auth:${TAG}`,
          `relay-chat/chat:${TAG}`,
          `relay-chat/web:${TAG}`,
          ...Object.values(engine.images),
        ]) {
          sizes[image] =
            `${((await imageSize(image, join(engine.logDir, 'stack.log'))) / 1e6).toFixed(0)} MB`;
        }
        figures.imageSizes = sizes;
        console.log(
          `stack built in ${seconds(figures.stackBuildMs as number)}, up and healthy in ` +
            `${seconds(figures.upUntilHealthyMs as number)}; images: ${JSON.stringify(sizes)}`,
        );
      },
      BUILD_MS + UP_MS + HEALTHY_MS + 5 * 60_000,
    );

    afterAll(async () => {
      for (const client of openClients) client.close();
      if (!stack) return;
      writeFileSync(join(engine.available ? engine.logDir : '.', 'stack-logs.txt'), await stack.logs());
      const started = Date.now();
      await stack.down(180_000, { volumes: true });
      figures.downMs = Date.now() - started;
      writeFileSync(
        join(engine.available ? engine.logDir : '.', 'figures.json'),
        `${JSON.stringify(figures, null, 2)}\n`,
      );
      console.log(`compose test figures: ${JSON.stringify(figures)}`);
      expect(await stack.leftovers()).toEqual({ containers: [], networks: [], volumes: [] });
    }, 5 * 60_000);

    it('runs every service, healthy, with ports published on 127.0.0.1 only', async () => {
      const containers = await stack.containers();
      const perService = Object.fromEntries(
        Object.keys(EXPECTED).map((s) => [s, containers.filter((c) => c.service === s).length]),
      );
      expect(perService).toEqual(EXPECTED);
      expect(containers.filter((c) => c.service === 'mongo')).toEqual([]);
      for (const container of containers) {
        const ports = (await stack.docker(['port', container.id])).stdout.split('\n').filter(Boolean);
        for (const line of ports) expect(line, container.name).toMatch(/-> 127\.0\.0\.1:\d+$/);
      }
      const published = await Promise.all(
        containers.filter((c) => c.service === 'chat').map((c) => stack.hostPort(c.id, 8002)),
      );
      const [first] = chatPorts.split('-').map(Number);
      expect([...published].sort()).toEqual([first!, first! + 1, first! + 2]);
    });

    it('serves the auth and chat contracts through nginx, the WebSocket included', async () => {
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const shell = await fetch(`${url}/`);
      expect(shell.status).toBe(200);
      expect(await shell.text()).toContain('<div id="root">');

      alice = await registerUser(url, uniqueName('alice'));
      bob = await registerUser(url, uniqueName('bob'));
      const taken = await request<{ error: { code: string } }>(url, 'POST', '/api/auth/register', {
        body: { username: alice.username, password: 'another password 1' },
      });
      expect([taken.status, taken.body.error.code]).toEqual([409, 'username_taken']);
      const wrong = await request<{ error: { code: string } }>(url, 'POST', '/api/auth/login', {
        body: { username: alice.username, password: 'not the password' },
      });
      expect([wrong.status, wrong.body.error.code]).toEqual([401, 'invalid_credentials']);
      const jwks = await request<{ keys: unknown[] }>(url, 'GET', '/api/auth/jwks.json');
      expect(jwks.status).toBe(200);
      expect(jwks.body.keys.length).toBeGreaterThan(0);
      const anonymous = await request<{ error: { code: string } }>(url, 'GET', '/api/chat/conversations');
      expect([anonymous.status, anonymous.body.error.code]).toEqual([401, 'unauthorized']);
      const unknown = await request<{ error: { code: string } }>(url, 'GET', '/api/nope');
      expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);

      const created = await request<{ conversation: Conversation }>(url, 'POST', '/api/chat/conversations', {
        token: alice.accessToken,
        body: { kind: 'dm', with: bob.id },
      });
      expect(created.status).toBe(201);
      dm = created.body.conversation;
      const sent = await request<{ seq: number }>(url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
        token: alice.accessToken,
        body: { clientMsgId: 'rest-1', body: 'hello over REST' },
      });
      expect([sent.status, sent.body.seq]).toEqual([201, 1]);

      // WebSocket through nginx: bob hears what alice sends, alice gets her ack.
      expect(await FrameClient.upgradeStatus(wsUrl)).toBe(401);
      const bobWs = await FrameClient.connect(wsUrl, { token: bob.accessToken });
      const aliceWs = await FrameClient.connect(wsUrl, { token: alice.accessToken });
      try {
        aliceWs.send({ type: 'send', conv: dm.id, clientMsgId: 'ws-1', body: 'hello over the socket' });
        const ack = await aliceWs.next('ack', (f) => f.clientMsgId === 'ws-1');
        expect(ack.seq).toBe(2);
        const heard = await bobWs.next('message', (f) => f.conv === dm.id && f.seq === 2);
        expect(heard.body).toBe('hello over the socket');
      } finally {
        aliceWs.close();
        bobWs.close();
      }
      const history = await storedHistory(bob, dm.id);
      expect(history.map((m) => [m.seq, m.body])).toEqual([
        [1, 'hello over REST'],
        [2, 'hello over the socket'],
      ]);
    });

    it('lets a person sign up and chat in Chromium, through nginx', async () => {
      const browser = await launchChromium();
      const listener = await FrameClient.connect(wsUrl, { token: alice.accessToken });
      try {
        const context = await browser.newContext({ baseURL: url, viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
        page.on('console', (msg) => {
          if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text()))
            errors.push(`console: ${msg.text()}`);
        });
        const carol = uniqueName('carol');
        await signUp(page, carol, PASSWORD);
        await waitOnline(page);
        await openDmWith(page, alice.username);
        await sendFromComposer(page, 'hello from Chromium');
        const heard = await listener.next('message', (f) => f.body === 'hello from Chromium');
        // alice answers over REST; the page shows it live.
        const reply = await request(url, 'POST', `/api/chat/conversations/${heard.conv}/messages`, {
          token: alice.accessToken,
          body: { clientMsgId: 'reply-1', body: 'hello back, browser' },
        });
        expect(reply.status).toBe(201);
        await expect
          .poll(() => messageTexts(page), { timeout: 20_000 })
          .toEqual(['hello from Chromium', 'hello back, browser']);
        await expectText(page.locator('.account-status'), 'Online');
        expect(errors).toEqual([]);
        await context.close();
      } finally {
        listener.close();
        await browser.close();
      }
    }, 120_000);

    it('loses nothing and duplicates nothing when a chat container is killed mid-stream', async () => {
      streamUsers = [];
      for (let i = 0; i < 6; i += 3) {
        streamUsers.push(
          ...(await Promise.all([0, 1, 2].map((j) => registerUser(url, uniqueName(`m${i + j}x`))))),
        );
      }
      const result = await streamThroughFault('kill-test', async () => {
        const spread = await connectionsPerReplica();
        const victim = spread.reduce((a, b) => (b.connections > a.connections ? b : a));
        expect(victim.connections).toBeGreaterThan(0);
        const address = await addressOf(victim.container.id);
        await stack.docker(['kill', victim.container.id]);
        return {
          killed: victim.container.name,
          address,
          connectionsPerReplica: spread.map((s) => s.connections),
          devicesOnKilledReplica: victim.connections,
        };
      });
      figures.kill = result;
      console.log(`docker kill figures: ${JSON.stringify(result)}`);
      expect(result.lost).toBe(0);
      expect(result.duplicated).toBe(0);

      figures.nginxDuringKill = await nginxErrors();

      // `docker kill` counts as a manual stop: the restart policy leaves the container down.
      // An operator starts it again; nginx must send it new connections.
      const killed = (await stack.containers('chat')).find((c) => c.status !== 'running');
      expect(killed?.name).toBe(result.killed);
      const back = Date.now();
      await stack.docker(['start', killed!.id]);
      await stack.waitHealthy(120_000);
      figures.killedReplicaBackMs = Date.now() - back;
      figures.killedReplicaAddress = { before: result.address, after: await addressOf(killed!.id) };
      const probes = await Promise.all(
        streamUsers.map((user) => FrameClient.connect(wsUrl, { token: user.accessToken })),
      );
      try {
        const spread = await connectionsPerReplica();
        figures.connectionsAfterRestart = spread.map((s) => s.connections);
        expect(spread.find((s) => s.container.id === killed!.id)?.connections).toBeGreaterThan(0);
      } finally {
        for (const probe of probes) probe.close();
      }
    }, 300_000);

    it('recovers every client when Redis restarts mid-stream', async () => {
      const [redis] = await stack.containers('redis');
      expect(redis).toBeDefined();
      const result = await streamThroughFault('redis-restart', async () => {
        const started = Date.now();
        await stack.docker(['restart', '--time', '5', redis!.id], 60_000);
        return { redisRestartMs: Date.now() - started };
      });
      figures.redisRestart = result;
      console.log(`Redis restart figures: ${JSON.stringify(result)}`);
      expect(result.lost).toBe(0);
      expect(result.duplicated).toBe(0);
      await stack.waitHealthy(120_000);
    }, 300_000);

    it('keeps users and history across docker-compose down and up (volumes)', async () => {
      writeFileSync(
        join(engine.available ? engine.logDir : '.', 'stack-logs-before-down.txt'),
        await stack.logs(),
      );
      let started = Date.now();
      await stack.down(180_000);
      figures.downKeepingVolumesMs = Date.now() - started;
      const left = await stack.leftovers();
      expect(left.containers).toEqual([]);
      expect(left.volumes.length).toBeGreaterThanOrEqual(2);

      started = Date.now();
      await stack.up(UP_MS);
      await stack.waitHealthy(HEALTHY_MS);
      figures.upAgainUntilHealthyMs = Date.now() - started;

      // The old access token still verifies: the signing key lives in the auth-data volume.
      const before = await request<{ conversations: Conversation[] }>(url, 'GET', '/api/chat/conversations', {
        token: bob.accessToken,
      });
      expect(before.status).toBe(200);
      const login = await request<{ accessToken: string; user: { id: string } }>(
        url,
        'POST',
        '/api/auth/login',
        {
          body: { username: alice.username, password: alice.password },
        },
      );
      expect(login.status).toBe(200);
      expect(login.body.user.id).toBe(alice.id);
      alice = { ...alice, accessToken: login.body.accessToken };
      const history = await storedHistory(alice, dm.id);
      expect(history.map((m) => m.body)).toEqual(['hello over REST', 'hello over the socket']);
      for (const channel of channels) {
        expect((await storedHistory(streamUsers[0]!, channel.id)).length).toBe(channel.messages);
      }
      // And it still works: a new message after the restart.
      const sent = await request<{ seq: number }>(url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
        token: alice.accessToken,
        body: { clientMsgId: 'after-up', body: 'after down and up' },
      });
      expect([sent.status, sent.body.seq]).toEqual([201, 3]);
    }, 600_000);
  },
);
