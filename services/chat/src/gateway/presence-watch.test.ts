import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { asUserId, type PresenceFrame, type ServerFrame, type UserId } from '@relay-chat/protocol';
import { createLogger } from '@relay-chat/service-kit';
import { waitFor } from '@relay-chat/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { MemoryPresence } from '../presence/memory.js';
import { FlushScheduler } from './flush-scheduler.js';
import { PresenceWatch } from './presence-watch.js';
import { Session } from './session.js';
import { textFrame } from './ws-frame.js';

const log = createLogger({ name: 'test', level: 'silent' });
const ann = asUserId('ann');
const bob = asUserId('bob');
const cat = asUserId('cat');

/** A real socket pair: the server side as a ready Session, the client side collecting frames. */
async function sessionPair(server: WebSocketServer, userId: UserId) {
  const { port } = server.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}`);
  const frames: ServerFrame[] = [];
  client.on('message', (data) => frames.push(JSON.parse(String(data)) as ServerFrame));
  const [ws, request] = (await once(server, 'connection')) as [WebSocket, IncomingMessage];
  const session = new Session(
    ws,
    request.socket,
    { id: userId, username: userId },
    { token: 't', expiresAt: Date.now() + 60_000, issuedAt: Date.now() },
    { maxBufferedBytes: 1 << 20, lagGraceMs: 2000, closeTimeoutMs: 1000 },
  );
  session.sendReady({ type: 'pong', serverTime: 0 });
  session.flush();
  await waitFor(() => frames.length === 1, { what: 'the opening frame' });
  frames.length = 0;
  return { session, frames, client };
}

const presenceOf = (frames: ServerFrame[]) =>
  frames.filter((f): f is PresenceFrame => f.type === 'presence').map((f) => [f.user, f.status]);

describe('PresenceWatch', () => {
  let server: WebSocketServer | undefined;
  const clients: WebSocket[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function setUp() {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    const presence = new MemoryPresence();
    const watch = new PresenceWatch({ presence, scheduler: new FlushScheduler(0), log });
    const pair = await sessionPair(server, ann);
    clients.push(pair.client);
    return { presence, watch, ...pair };
  }

  it('tells a session the current status of contacts it starts watching, once', async () => {
    const { presence, watch, session, frames } = await setUp();
    await presence.connect(bob);
    watch.watchAndTell([session], [bob, cat, ann]);
    await waitFor(() => frames.length === 2, { what: 'two presence frames' });
    expect(presenceOf(frames).sort()).toEqual([
      [bob, 'online'],
      [cat, 'offline'],
    ]);
    // Already watched: nothing new to tell.
    watch.watchAndTell([session], [bob]);
    watch.deliver(cat, textFrame(JSON.stringify({ type: 'presence', user: cat, status: 'online' })));
    await waitFor(() => frames.length === 3, { what: 'the transition' });
    expect(presenceOf(frames).at(-1)).toEqual([cat, 'online']);
  });

  it('lets a transition delivered while the status is read win over the read', async () => {
    const { presence, watch, session, frames } = await setUp();
    await presence.connect(bob);
    watch.watchAndTell([session], [bob]);
    // bob goes offline before the registry read answers: the read's "online" is older.
    watch.deliver(bob, textFrame(JSON.stringify({ type: 'presence', user: bob, status: 'offline' })));
    watch.watchAndTell([session], [cat]);
    await waitFor(() => frames.some((f) => f.type === 'presence' && f.user === cat), {
      what: 'cat’s status',
    });
    expect(presenceOf(frames).filter(([user]) => user === bob)).toEqual([[bob, 'offline']]);
  });

  it('stops delivering to a session it forgot', async () => {
    const { watch, session, frames } = await setUp();
    watch.watch(session, [bob]);
    watch.forget(session);
    watch.deliver(bob, textFrame(JSON.stringify({ type: 'presence', user: bob, status: 'online' })));
    watch.watchAndTell([session], [cat]);
    await waitFor(() => frames.length === 1, { what: 'cat’s status' });
    expect(presenceOf(frames)).toEqual([[cat, 'offline']]);
  });
});
