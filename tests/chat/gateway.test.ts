import type { Conversation } from '@relay-chat/protocol';
import { waitFor } from '@relay-chat/testkit';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
let alice: TestUser;
let bob: TestUser;
let carol: TestUser;
const open: FrameClient[] = [];

async function connect(user: TestUser, options: { viaSubprotocol?: boolean; origin?: string } = {}) {
  const client = await FrameClient.connect(t.wsUrl, { token: user.accessToken, ...options });
  open.push(client);
  return client;
}

beforeAll(async () => {
  t = await startTestServer({
    SEND_RATE_PER_SEC: '20',
    SEND_BURST: '40',
    // The channel tests below make their own #general.
    DEFAULT_CHANNELS: '',
  });
  [alice, bob, carol] = (await Promise.all(
    ['alice', 'bob', 'carol'].map((name) => registerUser(t.url, name)),
  )) as [TestUser, TestUser, TestUser];
});

afterAll(async () => {
  for (const client of open) client.close();
  await t?.close();
});

describe('the WebSocket upgrade', () => {
  it('refuses a connection without a token with 401', async () => {
    expect(await FrameClient.upgradeStatus(t.wsUrl)).toBe(401);
  });

  it('refuses a malformed token with 401', async () => {
    expect(await FrameClient.upgradeStatus(t.wsUrl, { token: 'not.a.jwt' })).toBe(401);
  });

  it('refuses a token signed with another key with 401', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await new SignJWT({ username: 'alice' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: 'forged' })
      .setSubject(alice.id)
      .setIssuer('relay-chat')
      .setAudience('relay-chat')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    expect(await FrameClient.upgradeStatus(t.wsUrl, { token: forged })).toBe(401);
  });

  it('refuses a refresh token presented as an access token with 401', async () => {
    expect(await FrameClient.upgradeStatus(t.wsUrl, { token: alice.refreshToken })).toBe(401);
  });

  it('refuses an Origin that is not on the allowlist with 403', async () => {
    expect(
      await FrameClient.upgradeStatus(t.wsUrl, { token: alice.accessToken, origin: 'https://evil.example' }),
    ).toBe(403);
  });

  it('accepts an allowed Origin with the token in the subprotocol, as browsers send it', async () => {
    const client = await connect(alice, { viaSubprotocol: true, origin: new URL(t.url).origin });
    expect(client.ws.protocol).toBe('relay-chat.v1');
    const ready = await client.next('ready');
    expect(ready.user).toEqual({ id: alice.id, username: 'alice' });
    expect(ready.v).toBe(1);
    client.close();
  });

  it('answers 404 for upgrades on other paths', async () => {
    expect(
      await FrameClient.upgradeStatus(`${t.url.replace('http', 'ws')}/nope`, {
        token: alice.accessToken,
      }),
    ).toBe(404);
  });
});

describe('direct messages', () => {
  it('delivers a DM to the other member and acks the sender, then serves it from history', async () => {
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    const dm = await createConversation(t.url, alice, { kind: 'dm', with: bob.id });
    expect(dm.kind).toBe('dm');
    expect(dm.members.map((m) => m.username).sort()).toEqual(['alice', 'bob']);
    await b.next('conversation', (f) => f.conversation.id === dm.id);

    a.send({ type: 'send', conv: dm.id, clientMsgId: 'dm-1', body: 'hello bob' });
    const ack = await a.next('ack', (f) => f.clientMsgId === 'dm-1');
    expect(ack.seq).toBe(1);
    const got = await b.next('message', (f) => f.conv === dm.id);
    expect(got).toMatchObject({ seq: 1, from: alice.id, body: 'hello bob', id: ack.id });

    const again = await createConversation(t.url, bob, { kind: 'dm', with: alice.id });
    expect(again.id).toBe(dm.id);

    const history = await request<{ messages: { body: string; seq: number }[] }>(
      t.url,
      'GET',
      `/api/chat/conversations/${dm.id}/messages`,
      { token: bob.accessToken },
    );
    expect(history.body.messages.map((m) => [m.seq, m.body])).toEqual([[1, 'hello bob']]);
    a.close();
    b.close();
  });

  it('stores a retried send once and answers both attempts with the same ack', async () => {
    const a = await connect(alice);
    const dm = await createConversation(t.url, alice, { kind: 'dm', with: bob.id });
    a.send({ type: 'send', conv: dm.id, clientMsgId: 'retry-1', body: 'once' });
    const first = await a.next('ack', (f) => f.clientMsgId === 'retry-1');
    a.send({ type: 'send', conv: dm.id, clientMsgId: 'retry-1', body: 'once' });
    await waitFor(() => a.ofType('ack').filter((f) => f.clientMsgId === 'retry-1').length === 2);
    const acks = a.ofType('ack').filter((f) => f.clientMsgId === 'retry-1');
    expect(acks[1]).toEqual(first);
    const history = await request<{ messages: { body: string }[] }>(
      t.url,
      'GET',
      `/api/chat/conversations/${dm.id}/messages?after=0&limit=200`,
      { token: alice.accessToken },
    );
    expect(history.body.messages.filter((m) => m.body === 'once')).toHaveLength(1);
    a.close();
  });

  it('refuses to deliver into a conversation the sender is not in', async () => {
    const c = await connect(carol);
    const dm = await createConversation(t.url, alice, { kind: 'dm', with: bob.id });
    c.send({ type: 'send', conv: dm.id, clientMsgId: 'intruder', body: 'hi' });
    const error = await c.next('error', (f) => f.ref === 'intruder');
    expect(error.code).toBe('not_member');
    const history = await request(t.url, 'GET', `/api/chat/conversations/${dm.id}/messages`, {
      token: carol.accessToken,
    });
    expect(history.status).toBe(403);
    c.close();
  });
});

describe('read markers, unread counts and typing', () => {
  it('counts unread messages and clears them on every device of the reader', async () => {
    const dm = await createConversation(t.url, carol, { kind: 'dm', with: bob.id });
    const sender = await connect(carol);
    for (let i = 1; i <= 3; i++)
      sender.send({ type: 'send', conv: dm.id, clientMsgId: `u-${i}`, body: `m${i}` });
    await sender.next('ack', (f) => f.clientMsgId === 'u-3');

    const list = await request<{ conversations: Conversation[] }>(t.url, 'GET', '/api/chat/conversations', {
      token: bob.accessToken,
    });
    const view = list.body.conversations.find((c) => c.id === dm.id)!;
    expect(view).toMatchObject({ lastSeq: 3, lastReadSeq: 0, unread: 3 });
    const senderView = (
      await request<{ conversations: Conversation[] }>(t.url, 'GET', '/api/chat/conversations', {
        token: carol.accessToken,
      })
    ).body.conversations.find((c) => c.id === dm.id)!;
    expect(senderView.unread).toBe(0);

    const [phone, laptop] = await Promise.all([connect(bob), connect(bob)]);
    expect(phone.ofType('ready')[0]!.conversations.find((c) => c.id === dm.id)?.unread).toBe(3);
    phone.send({ type: 'read', conv: dm.id, seq: 3 });
    const echoed = await laptop.next('read', (f) => f.conv === dm.id);
    expect(echoed.seq).toBe(3);
    const after = await request<{ conversations: Conversation[] }>(t.url, 'GET', '/api/chat/conversations', {
      token: bob.accessToken,
    });
    expect(after.body.conversations.find((c) => c.id === dm.id)?.unread).toBe(0);

    phone.send({ type: 'read', conv: dm.id, seq: 99, ref: 'too-far' });
    expect((await phone.next('error', (f) => f.ref === 'too-far')).code).toBe('seq_out_of_range');
    for (const c of [sender, phone, laptop]) c.close();
  });

  it('shows typing to the other members but not to the typist', async () => {
    const dm = await createConversation(t.url, alice, { kind: 'dm', with: carol.id });
    const [a, c] = await Promise.all([connect(alice), connect(carol)]);
    a.send({ type: 'typing', conv: dm.id });
    const typing = await c.next('typing', (f) => f.conv === dm.id);
    expect(typing.user).toBe(alice.id);
    a.send({ type: 'ping', ref: 'sync' });
    await a.next('pong', (f) => f.ref === 'sync');
    expect(a.ofType('typing')).toHaveLength(0);
    a.close();
    c.close();
  });

  it('announces presence to DM contacts when a user comes online and goes offline', async () => {
    await createConversation(t.url, alice, { kind: 'dm', with: bob.id });
    await waitFor(async () => {
      const res = await request<{ online: string[] }>(t.url, 'GET', `/api/chat/presence?users=${bob.id}`, {
        token: alice.accessToken,
      });
      return res.body.online.length === 0;
    });
    const a = await connect(alice);
    const b = await connect(bob);
    expect((await a.next('presence', (f) => f.user === bob.id)).status).toBe('online');
    expect(b.ofType('ready')[0]!.online).toContain(alice.id);
    b.close();
    expect((await a.next('presence', (f) => f.user === bob.id && f.status === 'offline')).status).toBe(
      'offline',
    );
    a.close();
  });
});

describe('groups and channels', () => {
  it('creates a group with chosen members and delivers to all of them', async () => {
    await introduce(t.url, bob, alice);
    await introduce(t.url, carol, alice);
    const [b, c] = await Promise.all([connect(bob), connect(carol)]);
    const group = await createConversation(t.url, alice, {
      kind: 'group',
      name: 'Trip planning',
      members: [bob.id, carol.id],
    });
    expect(group.memberCount).toBe(3);
    await Promise.all([
      b.next('conversation', (f) => f.conversation.id === group.id),
      c.next('conversation'),
    ]);
    const a = await connect(alice);
    a.send({ type: 'send', conv: group.id, clientMsgId: 'g-1', body: 'who brings the tent?' });
    await Promise.all([
      b.next('message', (f) => f.conv === group.id),
      c.next('message', (f) => f.conv === group.id),
    ]);
    for (const client of [a, b, c]) client.close();
  });

  it('lists public channels, lets users join and leave, and delivers to members only', async () => {
    const channel = await createConversation(t.url, alice, { kind: 'channel', name: 'general' });
    const dup = await request(t.url, 'POST', '/api/chat/conversations', {
      token: bob.accessToken,
      body: { kind: 'channel', name: 'General' },
    });
    expect(dup.status).toBe(409);
    const listing = await request<{ channels: { id: string; joined: boolean }[] }>(
      t.url,
      'GET',
      '/api/chat/channels?q=gen',
      { token: bob.accessToken },
    );
    expect(listing.body.channels).toContainEqual(expect.objectContaining({ id: channel.id, joined: false }));

    const b = await connect(bob);
    const joined = await request<{ conversation: Conversation }>(
      t.url,
      'POST',
      `/api/chat/conversations/${channel.id}/join`,
      { token: bob.accessToken },
    );
    expect(joined.status).toBe(200);
    await b.next('conversation', (f) => f.conversation.id === channel.id && f.event === 'joined');

    const a = await connect(alice);
    a.send({ type: 'send', conv: channel.id, clientMsgId: 'ch-1', body: 'welcome' });
    await b.next('message', (f) => f.conv === channel.id);

    const left = await request(t.url, 'POST', `/api/chat/conversations/${channel.id}/leave`, {
      token: bob.accessToken,
    });
    expect(left.status).toBe(204);
    await b.next('conversation', (f) => f.conversation.id === channel.id && f.event === 'left');
    b.send({ type: 'send', conv: channel.id, clientMsgId: 'after-leave', body: 'still here?' });
    expect((await b.next('error', (f) => f.ref === 'after-leave')).code).toBe('not_member');
    a.close();
    b.close();
  });

  it('sends over HTTP with the same idempotency as the socket', async () => {
    const channel = await createConversation(t.url, carol, { kind: 'channel', name: 'bots' });
    const path = `/api/chat/conversations/${channel.id}/messages`;
    const first = await request<{ seq: number }>(t.url, 'POST', path, {
      token: carol.accessToken,
      body: { clientMsgId: 'http-1', body: 'from a script' },
    });
    const second = await request<{ seq: number; duplicate: boolean }>(t.url, 'POST', path, {
      token: carol.accessToken,
      body: { clientMsgId: 'http-1', body: 'from a script' },
    });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ seq: first.body.seq, duplicate: true });
  });
});

describe('limits', () => {
  it('rate-limits one fast sender with a typed error while others carry on', async () => {
    const channel = await createConversation(t.url, alice, { kind: 'channel', name: 'flood' });
    await request(t.url, 'POST', `/api/chat/conversations/${channel.id}/join`, {
      token: bob.accessToken,
    });
    const [a, b] = await Promise.all([connect(alice), connect(bob)]);
    for (let i = 0; i < 80; i++)
      a.send({ type: 'send', conv: channel.id, clientMsgId: `flood-${i}`, body: `${i}` });
    const limited = await a.next('error', (f) => f.code === 'rate_limited');
    expect(limited.ref).toMatch(/^flood-/);
    b.send({ type: 'send', conv: channel.id, clientMsgId: 'calm', body: 'I am fine' });
    expect((await b.next('ack', (f) => f.clientMsgId === 'calm')).conv).toBe(channel.id);
    a.close();
    b.close();
  });

  it('closes the connection with 1009 when a frame is over the size limit', async () => {
    const a = await connect(alice);
    a.send(JSON.stringify({ type: 'send', conv: 'x', clientMsgId: 'big', body: 'x'.repeat(70 * 1024) }));
    expect((await a.waitClosed()).code).toBe(1009);
  });

  it('renews the session token with an auth frame and closes on another user’s token', async () => {
    const a = await connect(alice);
    const fresh = await request<{ accessToken: string }>(t.url, 'POST', '/api/auth/login', {
      body: { username: 'alice', password: alice.password },
    });
    a.send({ type: 'auth', token: fresh.body.accessToken, ref: 'renew' });
    a.send({ type: 'ping', ref: 'after-renew' });
    await a.next('pong', (f) => f.ref === 'after-renew');
    expect(a.ofType('error')).toHaveLength(0);
    a.send({ type: 'auth', token: bob.accessToken, ref: 'steal' });
    expect((await a.waitClosed()).code).toBe(4001);
  });
});
