/**
 * Messages that change (issue 13, protocol v1.2) on the embedded server (SQLite), over the
 * socket and REST: edits, deletes (by the sender and by a group's owner), reactions,
 * replies and threads, mentions and their unread counts; the `change` frames reaching the
 * actor's other device and the other members; the typed errors; the changes catch-up and
 * the context read; and a v1 client (raw frames, none of the new fields) unaffected.
 */
import type {
  ChangeAckFrame,
  ChangeFrame,
  Conversation,
  ErrorFrame,
  Message,
  MessageFrame,
} from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
const open: FrameClient[] = [];
let ann: TestUser;
let ben: TestUser;
let cal: TestUser;

// Registering hashes passwords (slow on a busy machine): three users serve every test, each
// of which makes its own group.
beforeAll(async () => {
  t = await startTestServer();
  const [a, b, c] = await users('ann', 'ben', 'cal');
  [ann, ben, cal] = [a!, b!, c!];
}, 120_000);

afterAll(async () => {
  for (const client of open) client.close();
  await t?.close();
});

let counter = 0;
async function users(...names: string[]): Promise<TestUser[]> {
  const suffix = `${Date.now().toString(36)}${(counter++).toString(36)}`;
  return Promise.all(names.map((n) => registerUser(t.url, `${n}-${suffix}`)));
}

async function connect(user: TestUser): Promise<FrameClient> {
  const client = await FrameClient.connect(t.wsUrl, { token: user.accessToken });
  open.push(client);
  return client;
}

type ErrorBody = { error: { code: string; fields?: { field: string }[] } };
type ChangeBody = { message: Message; changed: boolean };
const path = (conv: string, rest = '') => `/api/chat/conversations/${conv}${rest}`;

function call<T = ChangeBody>(user: TestUser, method: string, url: string, body?: unknown) {
  return request<T>(t.url, method, url, { token: user.accessToken, ...(body !== undefined ? { body } : {}) });
}

async function expectRefused(
  res: Promise<{ status: number; body: unknown }>,
  status: number,
  code: string,
  field?: string,
): Promise<void> {
  const { status: got, body } = await res;
  const error = (body as ErrorBody).error;
  expect([got, error?.code, ...(field ? [error?.fields?.[0]?.field] : [])]).toEqual([
    status,
    code,
    ...(field ? [field] : []),
  ]);
}

let sent = 0;
async function post(user: TestUser, conv: string, body: string, extra: object = {}): Promise<number> {
  const res = await call<{ seq: number }>(user, 'POST', path(conv, '/messages'), {
    clientMsgId: `m-${sent++}`,
    body,
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.body.seq;
}

async function conversationOf(user: TestUser, conv: string): Promise<Conversation> {
  const res = await call<{ conversation: Conversation }>(user, 'GET', path(conv));
  expect(res.status).toBe(200);
  return res.body.conversation;
}

/** A group of `owner` with `members` (who wrote to the owner first: the consent rule). */
async function groupOf(owner: TestUser, members: TestUser[]): Promise<Conversation> {
  for (const m of members) await introduce(t.url, m, owner);
  return createConversation(t.url, owner, { kind: 'group', name: 'crew', members: members.map((m) => m.id) });
}

const changeOf =
  (conv: string, seq: number, pred: (m: Message) => boolean = () => true) =>
  (f: ChangeFrame) =>
    f.conv === conv && f.message.seq === seq && pred(f.message);

describe('messages that change, live and over REST', { timeout: 60_000 }, () => {
  it('edits over the socket: change_ack to the actor, the change to their other device and to the others', async () => {
    const g = await groupOf(ann, [ben]);
    const [phone, laptop, benDevice] = [await connect(ann), await connect(ann), await connect(ben)];
    const seq = await post(ann, g.id, 'helo');
    phone.send({ type: 'edit', conv: g.id, seq, body: 'hello', ref: 'e-1' });
    const ack = await phone.next('change_ack', (f) => f.ref === 'e-1');
    expect(ack).toEqual({ type: 'change_ack', ref: 'e-1', conv: g.id, seq, changeSeq: expect.any(Number) });
    for (const device of [phone, laptop, benDevice]) {
      const change = await device.next('change', changeOf(g.id, seq));
      expect(change.changeSeq).toBe(ack.changeSeq);
      expect(change.message).toMatchObject({ seq, body: 'hello', editedAt: expect.any(Number) });
      expect(change.message).not.toHaveProperty('clientMsgId');
    }
    // The same body again changes nothing: acked without a changeSeq (no new change).
    phone.send({ type: 'edit', conv: g.id, seq, body: 'hello', ref: 'e-2' });
    expect(await phone.next('change_ack', (f) => f.ref === 'e-2')).toEqual({
      type: 'change_ack',
      ref: 'e-2',
      conv: g.id,
      seq,
    });
    const history = await call<{ messages: Message[] }>(ben, 'GET', path(g.id, '/messages'));
    expect(history.body.messages.find((m) => m.seq === seq)).toMatchObject({
      body: 'hello',
      editedAt: expect.any(Number),
    });
    // Edits do not make a conversation unread.
    expect((await conversationOf(ann, g.id)).unread).toBe(0);
  });

  it('reacts over REST with a percent-encoded emoji, idempotently, and counts who', async () => {
    const g = await groupOf(ann, [ben]);
    const annDevice = await connect(ann);
    const seq = await post(ann, g.id, 'ship it?');
    const url = path(g.id, `/messages/${seq}/reactions/${encodeURIComponent('👍')}`);
    const first = await call(ben, 'PUT', url);
    expect(first.status).toBe(200);
    expect(first.body.changed).toBe(true);
    expect(first.body.message.reactions).toEqual([{ emoji: '👍', count: 1, users: [ben.id] }]);
    expect((await call(ben, 'PUT', url)).body.changed).toBe(false);
    const both = await call(ann, 'PUT', url);
    expect(both.body.message.reactions).toEqual([{ emoji: '👍', count: 2, users: [ben.id, ann.id] }]);
    const change = await annDevice.next(
      'change',
      changeOf(g.id, seq, (m) => m.reactions?.[0]?.count === 2),
    );
    expect(change.changeSeq).toBe(both.body.message.changeSeq);
    const cleared = await call(ben, 'DELETE', url);
    expect(cleared.body.message.reactions).toEqual([{ emoji: '👍', count: 1, users: [ann.id] }]);
    // The longest emoji percent-encode past 100 characters: still one path segment that works.
    const kiss = '\u{1F468}\u{1F3FB}\u200D\u2764\uFE0F\u200D\u{1F48B}\u200D\u{1F468}\u{1F3FC}';
    expect(encodeURIComponent(kiss).length).toBeGreaterThan(100);
    const long = await call(ben, 'PUT', path(g.id, `/messages/${seq}/reactions/${encodeURIComponent(kiss)}`));
    expect([long.status, long.body.message?.reactions?.at(-1)?.emoji]).toEqual([200, kiss]);
    // Over the socket too.
    annDevice.send({ type: 'react', conv: g.id, seq, emoji: '🎉', on: true, ref: 'r-1' });
    expect((await annDevice.next('change_ack', (f) => f.ref === 'r-1')).changeSeq).toBeGreaterThan(0);
    await expectRefused(
      call(ann, 'PUT', path(g.id, `/messages/${seq}/reactions/abc`)),
      400,
      'validation_failed',
      '/emoji',
    );
    annDevice.send({ type: 'react', conv: g.id, seq, emoji: '👍👍', on: true, ref: 'r-2' });
    expect((await annDevice.next('error', (f) => f.ref === 'r-2')).code).toBe('validation_failed');
  });

  it('replies: the reply carries its parent, the root its count, the thread lists it; a reply to a reply joins the root', async () => {
    const g = await groupOf(ann, [ben]);
    const annDevice = await connect(ann);
    const root = await post(ann, g.id, 'plan?');
    const benDevice = await connect(ben);
    benDevice.send({ type: 'send', conv: g.id, clientMsgId: 'r1', body: 'yes', replyTo: root });
    const ack = await benDevice.next('ack', (f) => f.clientMsgId === 'r1');
    const reply = await annDevice.next('message', (f) => f.seq === ack.seq);
    expect(reply).toMatchObject({ replyTo: root, threadRoot: root });
    benDevice.send({ type: 'send', conv: g.id, clientMsgId: 'r-bad', body: 'to nowhere', replyTo: 999 });
    const refused = await benDevice.next('error', (f) => f.ref === 'r-bad');
    expect([refused.code, refused.message]).toEqual([
      'validation_failed',
      expect.stringContaining('replyTo'),
    ]);
    benDevice.send({ type: 'send', conv: g.id, clientMsgId: 'm-bad', body: 'hey', mentions: [cal.id] });
    const badMention = await benDevice.next('error', (f) => f.ref === 'm-bad');
    expect([badMention.code, badMention.message]).toEqual([
      'validation_failed',
      expect.stringContaining('mentions'),
    ]);
    const rootChange = await annDevice.next('change', changeOf(g.id, root));
    expect(rootChange.message).toMatchObject({ replyCount: 1, lastReplyAt: reply.ts });
    const second = await post(ann, g.id, 'good', { replyTo: ack.seq });
    const thread = await call<{ root: Message; messages: Message[] }>(
      ben,
      'GET',
      path(g.id, `/messages/${root}/thread`),
    );
    expect(thread.status).toBe(200);
    expect(thread.body.root).toMatchObject({ seq: root, replyCount: 2 });
    expect(thread.body.messages.map((m) => [m.seq, m.replyTo, m.threadRoot])).toEqual([
      [ack.seq, root, root],
      [second, ack.seq, root],
    ]);
    const paged = await call<{ messages: Message[] }>(
      ben,
      'GET',
      path(g.id, `/messages/${root}/thread?after=${ack.seq}&limit=1`),
    );
    expect(paged.body.messages.map((m) => m.seq)).toEqual([second]);
    await expectRefused(
      call(ann, 'POST', path(g.id, '/messages'), {
        clientMsgId: 'bad-reply',
        body: 'to nowhere',
        replyTo: 999,
      }),
      400,
      'validation_failed',
      '/replyTo',
    );
  });

  it('mentions: counted for the mentioned member until read, dropped when the message is deleted', async () => {
    const g = await groupOf(ann, [ben]);
    const benDevice = await connect(ben);
    const s1 = await post(ann, g.id, `hi @${ben.username}`, { mentions: [ben.id, ben.id, ann.id] });
    const live = await benDevice.next('message', (f) => f.seq === s1);
    expect(live.mentions).toEqual([ben.id]);
    const s2 = await post(ann, g.id, `and again @${ben.username}`, { mentions: [ben.id] });
    let view = await conversationOf(ben, g.id);
    expect([view.unreadMentions, view.mentionSeqs]).toEqual([2, [s1, s2]]);
    // The sender's own mention list: nothing for ann.
    expect((await conversationOf(ann, g.id)).unreadMentions).toBe(0);
    expect((await call(ann, 'DELETE', path(g.id, `/messages/${s2}`))).status).toBe(200);
    view = await conversationOf(ben, g.id);
    expect([view.unreadMentions, view.mentionSeqs, view.unread]).toEqual([1, [s1], 2]);
    // An edit replaces the mentions: taking ben's away lowers his count, a non-member is refused.
    await expectRefused(
      call(ann, 'PATCH', path(g.id, `/messages/${s1}`), { body: 'hi @cal', mentions: [cal.id] }),
      400,
      'validation_failed',
      '/mentions',
    );
    const s3 = await post(ann, g.id, `third @${ben.username}`, { mentions: [ben.id] });
    expect((await conversationOf(ben, g.id)).mentionSeqs).toEqual([s1, s3]);
    const edited = await call(ann, 'PATCH', path(g.id, `/messages/${s3}`), { body: 'third, nobody' });
    expect(edited.body.message).not.toHaveProperty('mentions');
    expect((await conversationOf(ben, g.id)).mentionSeqs).toEqual([s1]);
    await call(ben, 'POST', path(g.id, '/read'), { seq: s3 });
    view = await conversationOf(ben, g.id);
    expect([view.unreadMentions, view.mentionSeqs]).toEqual([0, []]);
    // A reconnecting device gets the counts in `ready`.
    const fresh = await connect(ben);
    const ready = fresh.ofType('ready')[0]!;
    const inReady = ready.conversations.find((c) => c.id === g.id)!;
    expect(inReady).toMatchObject({ unreadMentions: 0, mentionSeqs: [], lastChangeSeq: expect.any(Number) });
    expect(inReady.lastChangeSeq).toBeGreaterThan(0);
    await expectRefused(
      call(ann, 'POST', path(g.id, '/messages'), {
        clientMsgId: 'bad-mention',
        body: 'hey',
        mentions: [cal.id],
      }),
      400,
      'validation_failed',
      '/mentions',
    );
  });

  it('deletes: the sender, or a group’s owner; a tombstone everywhere; the typed refusals', async () => {
    const g = await groupOf(ann, [ben]);
    const benDevice = await connect(ben);
    const annSeq = await post(ann, g.id, 'owner says');
    const benSeq = await post(ben, g.id, 'oops');
    await expectRefused(call(ben, 'DELETE', path(g.id, `/messages/${annSeq}`)), 403, 'forbidden');
    await expectRefused(
      call(ben, 'PATCH', path(g.id, `/messages/${annSeq}`), { body: 'mine' }),
      403,
      'forbidden',
    );
    await expectRefused(call(cal, 'DELETE', path(g.id, `/messages/${benSeq}`)), 403, 'not_member');
    await expectRefused(call(cal, 'GET', path(g.id, '/changes')), 403, 'not_member');
    await expectRefused(call(ann, 'DELETE', path(g.id, '/messages/999')), 404, 'not_found');
    await expectRefused(call(ann, 'GET', path('no-such-conversation', '/changes')), 404, 'not_found');
    const removed = await call(ann, 'DELETE', path(g.id, `/messages/${benSeq}`));
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ changed: true, message: { seq: benSeq, body: '', deleted: true } });
    const change = await benDevice.next('change', changeOf(g.id, benSeq));
    expect(change.message).toMatchObject({ body: '', deleted: true });
    expect((await call(ben, 'DELETE', path(g.id, `/messages/${benSeq}`))).body.changed).toBe(false);
    await expectRefused(
      call(ben, 'PATCH', path(g.id, `/messages/${benSeq}`), { body: 'back' }),
      409,
      'conflict',
    );
    await expectRefused(
      call(ben, 'PUT', path(g.id, `/messages/${benSeq}/reactions/${encodeURIComponent('👍')}`)),
      409,
      'conflict',
    );
    benDevice.send({ type: 'delete', conv: g.id, seq: annSeq, ref: 'd-1' });
    const error = (await benDevice.next('error', (f) => f.ref === 'd-1')) as ErrorFrame;
    expect(error.code).toBe('forbidden');
    // In a DM nobody deletes the other's messages.
    await introduce(t.url, ben, ann);
    const dms = await call<{ conversations: Conversation[] }>(ann, 'GET', '/api/chat/conversations');
    const dm = dms.body.conversations.find((c) => c.kind === 'dm' && c.members.some((m) => m.id === ben.id))!;
    await expectRefused(call(ann, 'DELETE', path(dm.id, '/messages/1')), 403, 'forbidden');
  });

  it('catches up through changes?after= and reads context around a seq', async () => {
    const g = await groupOf(ann, [ben]);
    const seqs: number[] = [];
    for (let i = 0; i < 7; i++) seqs.push(await post(ann, g.id, `m${i}`));
    const before = (await conversationOf(ben, g.id)).lastChangeSeq ?? 0;
    await call(ann, 'PATCH', path(g.id, `/messages/${seqs[1]}`), { body: 'm1 edited' });
    await call(ben, 'PUT', path(g.id, `/messages/${seqs[2]}/reactions/${encodeURIComponent('❤️')}`));
    await call(ann, 'PATCH', path(g.id, `/messages/${seqs[1]}`), { body: 'm1 edited twice' });
    await call(ann, 'DELETE', path(g.id, `/messages/${seqs[3]}`));
    const page = await call<{ messages: Message[]; lastChangeSeq: number }>(
      ben,
      'GET',
      path(g.id, `/changes?after=${before}`),
    );
    expect(page.status).toBe(200);
    expect(page.body.lastChangeSeq).toBe(before + 4);
    // Each changed message once, in its current state, in changeSeq order.
    expect(page.body.messages.map((m) => [m.seq, m.changeSeq])).toEqual([
      [seqs[2], before + 2],
      [seqs[1], before + 3],
      [seqs[3], before + 4],
    ]);
    expect(page.body.messages[1]!.body).toBe('m1 edited twice');
    const limited = await call<{ messages: Message[] }>(
      ben,
      'GET',
      path(g.id, `/changes?after=${before}&limit=1`),
    );
    expect(limited.body.messages).toHaveLength(1);
    await expectRefused(call(ben, 'GET', path(g.id, '/changes?limit=201')), 400, 'validation_failed');
    expect((await conversationOf(ben, g.id)).lastChangeSeq).toBe(before + 4);
    const around = await call<{ messages: Message[] }>(
      ben,
      'GET',
      path(g.id, `/messages?around=${seqs[3]}&limit=3`),
    );
    expect(around.body.messages.map((m) => m.seq)).toEqual([seqs[2], seqs[3], seqs[4]]);
    await expectRefused(call(ben, 'GET', path(g.id, `/messages?around=2&after=1`)), 400, 'validation_failed');
  });

  it('a v1 client (plain frames, no new fields) keeps sending and receiving; change frames are just unknown types to it', async () => {
    const g = await groupOf(ann, [ben]);
    // A v1 client: raw socket, knows ready/message/ack, ignores any other type.
    const ws = new WebSocket(t.wsUrl, { headers: { authorization: `Bearer ${ben.accessToken}` } });
    const known: MessageFrame[] = [];
    const acks: string[] = [];
    const unknown: string[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; clientMsgId?: string };
      if (frame.type === 'message') known.push(frame as unknown as MessageFrame);
      else if (frame.type === 'ack') acks.push(frame.clientMsgId ?? '');
      else if (
        !['ready', 'presence', 'typing', 'read', 'conversation', 'error', 'pong'].includes(frame.type)
      ) {
        unknown.push(frame.type);
      }
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    try {
      const annDevice = await connect(ann);
      const seq = await post(ann, g.id, 'v1 sees this');
      annDevice.send({ type: 'edit', conv: g.id, seq, body: 'v1 sees this, edited', ref: 'x' });
      await annDevice.next('change_ack', (f: ChangeAckFrame) => f.ref === 'x');
      ws.send(JSON.stringify({ type: 'send', conv: g.id, clientMsgId: 'v1-1', body: 'from v1' }));
      const deadline = Date.now() + 5000;
      while ((acks.length === 0 || unknown.length === 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(acks).toEqual(['v1-1']);
      expect(known.map((m) => m.body)).toEqual(['v1 sees this', 'from v1']);
      expect(unknown).toEqual(['change']);
    } finally {
      ws.close();
    }
  });
});

describe('the OpenAPI document', () => {
  it('lists the v1.2 routes', async () => {
    const doc = await request<{ paths: Record<string, Record<string, unknown>> }>(
      t.url,
      'GET',
      '/api/chat/docs/json',
    );
    expect(doc.status).toBe(200);
    const methods = (p: string) => Object.keys(doc.body.paths[`/api/chat/conversations/{id}${p}`] ?? {});
    expect(methods('/messages/{seq}')).toEqual(expect.arrayContaining(['patch', 'delete']));
    expect(methods('/messages/{seq}/reactions/{emoji}')).toEqual(expect.arrayContaining(['put', 'delete']));
    expect(methods('/messages/{seq}/thread')).toContain('get');
    expect(methods('/changes')).toContain('get');
  });
});
