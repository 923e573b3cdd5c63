/**
 * Managing conversations (issue 12) on the embedded server, over REST and the socket: the
 * owner/member rule for renaming, the topic and a group's members; each member's own mute
 * and hidden DMs; mark all as read; the default channels of a first visit; and history
 * that gives a sender back their own clientMsgId.
 */

import { CHANNEL_MEMBERS_WINDOW_MS } from '@relay-chat/chat';
import type { Conversation, ConversationFrame, ErrorFrame, Message } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
const open: FrameClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ MAX_GROUP_MEMBERS: '5' });
});

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

type ErrorBody = { error: { code: string } };
const path = (conv: string, rest = '') => `/api/chat/conversations/${conv}${rest}`;

/** A group of `owner` with `members`, who have written to the owner first (the consent rule). */
async function groupOf(owner: TestUser, members: TestUser[], name = 'crew'): Promise<Conversation> {
  for (const m of members) await introduce(t.url, m, owner);
  return createConversation(t.url, owner, { kind: 'group', name, members: members.map((m) => m.id) });
}

async function expectRefused(
  res: Promise<{ status: number; body: unknown }>,
  status: number,
  code: string,
): Promise<void> {
  const { status: got, body } = await res;
  expect([got, (body as ErrorBody).error?.code]).toEqual([status, code]);
}

function patch(user: TestUser, conv: string, body: unknown) {
  return request<{ conversation: Conversation }>(t.url, 'PATCH', path(conv), {
    token: user.accessToken,
    body,
  });
}
function addMembers(user: TestUser, conv: string, members: string[]) {
  return request<{ conversation: Conversation }>(t.url, 'POST', path(conv, '/members'), {
    token: user.accessToken,
    body: { members },
  });
}
function removeMember(user: TestUser, conv: string, member: string) {
  return request(t.url, 'DELETE', path(conv, `/members/${member}`), { token: user.accessToken });
}
function settings(user: TestUser, conv: string, body: unknown) {
  return request<{ conversation: Conversation }>(t.url, 'PUT', path(conv, '/settings'), {
    token: user.accessToken,
    body,
  });
}
async function list(user: TestUser): Promise<Conversation[]> {
  const res = await request<{ conversations: Conversation[] }>(t.url, 'GET', '/api/chat/conversations', {
    token: user.accessToken,
  });
  expect(res.status).toBe(200);
  return res.body.conversations;
}
async function send(user: TestUser, conv: string, body: string, clientMsgId = `${body}-${Math.random()}`) {
  const res = await request(t.url, 'POST', path(conv, '/messages'), {
    token: user.accessToken,
    body: { clientMsgId, body },
  });
  expect(res.status).toBe(201);
}
const convFrame = (conv: string, event: ConversationFrame['event']) => (f: ConversationFrame) =>
  f.conversation.id === conv && f.event === event;

describe('renaming a group or channel and its topic', () => {
  it('lets the owner rename and set a topic; every member’s devices get `updated` live', async () => {
    const [owner, bob, outsider] = (await users('own', 'bob', 'out')) as [TestUser, TestUser, TestUser];
    const group = await groupOf(owner, [bob]);
    expect(group).toMatchObject({ createdBy: owner.id, topic: null, muted: false, hidden: false });
    const bobPhone = await connect(bob);
    const bobLaptop = await connect(bob);
    const outsiderSocket = await connect(outsider);

    const res = await patch(owner, group.id, { name: '  Ｃｒｅｗ 2 ', topic: 'Plans for June' });
    expect(res.status).toBe(200);
    expect(res.body.conversation).toMatchObject({ id: group.id, name: 'Crew 2', topic: 'Plans for June' });
    for (const device of [bobPhone, bobLaptop]) {
      const frame = await device.next('conversation', convFrame(group.id, 'updated'));
      expect(frame).toMatchObject({
        user: owner.id,
        conversation: { name: 'Crew 2', topic: 'Plans for June' },
      });
    }
    // The outsider hears nothing: a DM the owner starts with them afterwards is their first frame.
    await createConversation(t.url, owner, { kind: 'dm', with: outsider.id });
    await outsiderSocket.next('conversation', (f) => f.event === 'created');
    expect(outsiderSocket.ofType('conversation').filter((f) => f.conversation.id === group.id)).toEqual([]);

    expect((await patch(owner, group.id, { topic: '' })).body.conversation).toMatchObject({
      name: 'Crew 2',
      topic: null,
    });
    expect((await patch(owner, group.id, { topic: 'again' })).body.conversation.topic).toBe('again');
    expect((await patch(owner, group.id, { topic: null })).body.conversation.topic).toBeNull();
    expect((await list(bob)).find((c) => c.id === group.id)).toMatchObject({ name: 'Crew 2', topic: null });
  });

  it('refuses a member who is not the owner, an outsider, a DM, an unknown conversation and bad input', async () => {
    const [owner, bob, outsider] = (await users('own', 'bob', 'out')) as [TestUser, TestUser, TestUser];
    const group = await groupOf(owner, [bob]);
    const dm = await createConversation(t.url, owner, { kind: 'dm', with: bob.id });
    await expectRefused(patch(bob, group.id, { name: 'mine' }), 403, 'forbidden');
    await expectRefused(patch(bob, group.id, { topic: 'mine' }), 403, 'forbidden');
    await expectRefused(patch(outsider, group.id, { name: 'x' }), 403, 'not_member');
    await expectRefused(patch(owner, dm.id, { name: 'x' }), 403, 'forbidden');
    await expectRefused(patch(owner, 'no-such-conversation', { name: 'x' }), 404, 'not_found');
    await expectRefused(patch(owner, group.id, {}), 400, 'validation_failed');
    await expectRefused(patch(owner, group.id, { name: 'a\u202Eb' }), 400, 'validation_failed');
    await expectRefused(patch(owner, group.id, { topic: 'bell\u0007' }), 400, 'validation_failed');
    await expectRefused(patch(owner, group.id, { topic: 'x'.repeat(251) }), 400, 'validation_failed');
    await expectRefused(patch(owner, group.id, { name: 'x', owner: bob.id }), 400, 'validation_failed');
    expect((await list(owner)).find((c) => c.id === group.id)).toMatchObject({ name: 'crew', topic: null });
  });

  it('keeps channel names unique across a rename', async () => {
    const [owner] = (await users('own')) as [TestUser];
    const taken = `taken-${counter}-${Date.now()}`;
    await createConversation(t.url, owner, { kind: 'channel', name: taken });
    const channel = await createConversation(t.url, owner, {
      kind: 'channel',
      name: `free-${counter}-${Date.now()}`,
    });
    await expectRefused(patch(owner, channel.id, { name: taken.toUpperCase() }), 409, 'conflict');
  });
});

describe('adding and removing members of a group', () => {
  it('lets the owner add people who wrote to them; newcomers get `joined`, members `member_joined`', async () => {
    const [owner, bob, cat] = (await users('own', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    const group = await groupOf(owner, [bob]);
    await introduce(t.url, cat, owner);
    const bobSocket = await connect(bob);
    const catSocket = await connect(cat);
    const res = await addMembers(owner, group.id, [cat.id]);
    expect(res.status).toBe(200);
    expect(res.body.conversation).toMatchObject({ memberCount: 3 });
    expect(await catSocket.next('conversation', convFrame(group.id, 'joined'))).toMatchObject({
      conversation: { memberCount: 3, createdBy: owner.id },
    });
    expect(await bobSocket.next('conversation', convFrame(group.id, 'member_joined'))).toMatchObject({
      user: cat.id,
      conversation: { memberCount: 3 },
    });
    // The newcomer is in: they receive what is said from now on.
    await send(bob, group.id, 'welcome cat');
    expect(await catSocket.next('message', (m) => m.conv === group.id)).toMatchObject({
      body: 'welcome cat',
    });
  });

  it('refuses strangers, members who are not the owner, outsiders, channels and a full group', async () => {
    const [owner, bob, stranger, outsider] = (await users('own', 'bob', 'str', 'out')) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    const group = await groupOf(owner, [bob]);
    await introduce(t.url, outsider, owner);
    await introduce(t.url, outsider, bob);
    await expectRefused(addMembers(owner, group.id, [stranger.id]), 403, 'forbidden');
    await expectRefused(addMembers(bob, group.id, [outsider.id]), 403, 'forbidden');
    await expectRefused(addMembers(outsider, group.id, [outsider.id]), 403, 'not_member');
    await expectRefused(addMembers(owner, group.id, ['no-such-user']), 404, 'not_found');
    await expectRefused(addMembers(owner, 'no-such-conversation', [bob.id]), 404, 'not_found');
    await expectRefused(addMembers(owner, group.id, []), 400, 'validation_failed');
    const channel = await createConversation(t.url, owner, {
      kind: 'channel',
      name: `ch-${counter}-${Date.now()}`,
    });
    await expectRefused(addMembers(owner, channel.id, [bob.id]), 403, 'forbidden');
    // MAX_GROUP_MEMBERS is 5 here.
    const more = await users('m1', 'm2', 'm3', 'm4');
    for (const m of more) await introduce(t.url, m, owner);
    await expectRefused(
      addMembers(
        owner,
        group.id,
        more.map((m) => m.id),
      ),
      400,
      'validation_failed',
    );
    expect((await list(owner)).find((c) => c.id === group.id)?.memberCount).toBe(2);
  });

  it('lets the owner remove a member: their devices get `left` and they can neither post nor read', async () => {
    const [owner, bob, cat] = (await users('own', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    const group = await groupOf(owner, [bob, cat]);
    const bobSocket = await connect(bob);
    const catSocket = await connect(cat);
    expect((await removeMember(owner, group.id, bob.id)).status).toBe(204);
    expect(await bobSocket.next('conversation', convFrame(group.id, 'left'))).toBeTruthy();
    expect(await catSocket.next('conversation', convFrame(group.id, 'member_left'))).toMatchObject({
      user: bob.id,
      conversation: { memberCount: 2 },
    });
    bobSocket.send({ type: 'send', conv: group.id, clientMsgId: 'after-removal', body: 'still here?' });
    expect(await bobSocket.next('error', (f: ErrorFrame) => f.ref === 'after-removal')).toMatchObject({
      code: 'not_member',
    });
    await expectRefused(
      request(t.url, 'GET', path(group.id, '/messages'), { token: bob.accessToken }),
      403,
      'not_member',
    );
    await expectRefused(removeMember(owner, group.id, bob.id), 404, 'not_found');
    expect((await list(bob)).map((c) => c.id)).not.toContain(group.id);
  });

  it('refuses removals by a member who is not the owner and by outsiders; removing yourself is leaving', async () => {
    const [owner, bob, cat, outsider] = (await users('own', 'bob', 'cat', 'out')) as [
      TestUser,
      TestUser,
      TestUser,
      TestUser,
    ];
    const group = await groupOf(owner, [bob, cat]);
    const dm = await createConversation(t.url, owner, { kind: 'dm', with: bob.id });
    await expectRefused(removeMember(bob, group.id, cat.id), 403, 'forbidden');
    await expectRefused(removeMember(bob, group.id, owner.id), 403, 'forbidden');
    await expectRefused(removeMember(outsider, group.id, bob.id), 403, 'not_member');
    await expectRefused(removeMember(owner, dm.id, bob.id), 403, 'forbidden');
    expect((await removeMember(cat, group.id, cat.id)).status).toBe(204);
    expect((await list(owner)).find((c) => c.id === group.id)?.memberCount).toBe(2);
  });
});

describe('each member’s own settings', () => {
  it('mutes a conversation for the caller on every device, and for nobody else', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const dm = await createConversation(t.url, ann, { kind: 'dm', with: bob.id });
    const annLaptop = await connect(ann);
    const bobSocket = await connect(bob);
    const res = await settings(ann, dm.id, { muted: true });
    expect(res.status).toBe(200);
    expect(res.body.conversation).toMatchObject({ muted: true, hidden: false });
    const frame = await annLaptop.next('conversation', convFrame(dm.id, 'updated'));
    expect(frame.user).toBeUndefined();
    expect(frame.conversation).toMatchObject({ muted: true });
    // bob hears nothing of it: his next frame is the message ann sends afterwards.
    await send(ann, dm.id, 'hi');
    await bobSocket.next('message', (m) => m.conv === dm.id);
    expect(bobSocket.ofType('conversation').filter((f) => f.conversation.id === dm.id)).toEqual([]);
    expect((await list(bob)).find((c) => c.id === dm.id)?.muted).toBe(false);
    const again = await connect(ann);
    expect((await again.next('ready')).conversations.find((c) => c.id === dm.id)).toMatchObject({
      muted: true,
    });
    expect((await settings(ann, dm.id, { muted: false })).body.conversation.muted).toBe(false);
  });

  it('hides a DM from the list and `ready` until its next message, which still arrives live', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const dm = await createConversation(t.url, ann, { kind: 'dm', with: bob.id });
    await send(bob, dm.id, 'one');
    const annOther = await connect(ann);
    expect((await settings(ann, dm.id, { hidden: true })).body.conversation).toMatchObject({ hidden: true });
    expect(await annOther.next('conversation', convFrame(dm.id, 'updated'))).toMatchObject({
      conversation: { hidden: true },
    });
    expect((await list(ann)).map((c) => c.id)).not.toContain(dm.id);
    expect((await list(bob)).map((c) => c.id)).toContain(dm.id);
    const fresh = await connect(ann);
    expect((await fresh.next('ready')).conversations.map((c) => c.id)).not.toContain(dm.id);
    const one = await request<{ conversation: Conversation }>(t.url, 'GET', path(dm.id), {
      token: ann.accessToken,
    });
    expect(one.body.conversation).toMatchObject({ hidden: true });

    await send(bob, dm.id, 'two');
    expect(await fresh.next('message', (m) => m.conv === dm.id)).toMatchObject({ body: 'two', seq: 2 });
    expect((await list(ann)).find((c) => c.id === dm.id)).toMatchObject({ hidden: false, lastSeq: 2 });

    // The caller's own message shows it again too.
    await settings(ann, dm.id, { hidden: true });
    await send(ann, dm.id, 'three');
    expect((await list(ann)).map((c) => c.id)).toContain(dm.id);
  });

  it('hides DMs only, for members only, and refuses an empty or unknown setting', async () => {
    const [owner, bob, outsider] = (await users('own', 'bob', 'out')) as [TestUser, TestUser, TestUser];
    const group = await groupOf(owner, [bob]);
    await expectRefused(settings(bob, group.id, { hidden: true }), 403, 'forbidden');
    await expectRefused(settings(outsider, group.id, { muted: true }), 403, 'not_member');
    await expectRefused(settings(owner, 'no-such-conversation', { muted: true }), 404, 'not_found');
    await expectRefused(settings(owner, group.id, {}), 400, 'validation_failed');
    await expectRefused(settings(owner, group.id, { pinned: true }), 400, 'validation_failed');
    await expectRefused(settings(owner, group.id, { muted: 'yes' }), 400, 'validation_failed');
    expect((await settings(bob, group.id, { muted: true })).status).toBe(200);
  });
});

describe('mark all as read', () => {
  it('reads every conversation up to its last message and tells every device', async () => {
    const [ann, bob, cat] = (await users('ann', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    const withBob = await createConversation(t.url, bob, { kind: 'dm', with: ann.id });
    const withCat = await createConversation(t.url, cat, { kind: 'dm', with: ann.id });
    await send(bob, withBob.id, 'b1');
    await send(bob, withBob.id, 'b2');
    await send(cat, withCat.id, 'c1');
    const annPhone = await connect(ann);
    expect((await list(ann)).filter((c) => c.unread > 0)).toHaveLength(2);
    const res = await request<{ read: { conv: string; seq: number }[] }>(
      t.url,
      'POST',
      '/api/chat/conversations/read',
      { token: ann.accessToken },
    );
    expect(res.status).toBe(200);
    expect(res.body.read.sort((x, y) => x.seq - y.seq)).toEqual([
      { conv: withCat.id, seq: 1 },
      { conv: withBob.id, seq: 2 },
    ]);
    expect(await annPhone.next('read', (f) => f.conv === withBob.id)).toMatchObject({ seq: 2 });
    expect(await annPhone.next('read', (f) => f.conv === withCat.id)).toMatchObject({ seq: 1 });
    for (const c of await list(ann)) expect(c.unread).toBe(0);
    expect((await list(bob)).find((c) => c.id === withBob.id)?.unread).toBe(0);
  });
});

describe('history and the sender’s clientMsgId', () => {
  it('gives the sender their own clientMsgId back, and nobody else', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const dm = await createConversation(t.url, ann, { kind: 'dm', with: bob.id });
    await send(ann, dm.id, 'mine', 'cm-ann-1');
    await send(bob, dm.id, 'his', 'cm-bob-1');
    const historyOf = async (user: TestUser) =>
      (
        await request<{ messages: Message[] }>(t.url, 'GET', path(dm.id, '/messages'), {
          token: user.accessToken,
        })
      ).body.messages.map((m) => [m.body, m.clientMsgId]);
    expect(await historyOf(ann)).toEqual([
      ['mine', 'cm-ann-1'],
      ['his', undefined],
    ]);
    expect(await historyOf(bob)).toEqual([
      ['mine', undefined],
      ['his', 'cm-bob-1'],
    ]);
    expect((await list(bob)).find((c) => c.id === dm.id)?.lastMessage?.clientMsgId).toBeUndefined();
  });
});

describe('the OpenAPI document', () => {
  it('lists every new route', async () => {
    const doc = await request<{ paths: Record<string, Record<string, unknown>> }>(
      t.url,
      'GET',
      '/api/chat/docs/json',
    );
    expect(doc.status).toBe(200);
    const { paths } = doc.body;
    expect(Object.keys(paths['/api/chat/conversations/{id}'] ?? {})).toContain('patch');
    expect(Object.keys(paths['/api/chat/conversations/{id}/members'] ?? {})).toContain('post');
    expect(Object.keys(paths['/api/chat/conversations/{id}/members/{userId}'] ?? {})).toContain('delete');
    expect(Object.keys(paths['/api/chat/conversations/{id}/settings'] ?? {})).toContain('put');
    expect(Object.keys(paths['/api/chat/conversations/read'] ?? {})).toContain('post');
  });
});

describe('a burst of joins to one channel', () => {
  it('reaches members as a few frames, the last with the channel as it ends, not one per join', async () => {
    const [owner, ...joiners] = (await users(
      'own',
      ...Array.from({ length: 8 }, (_, i) => `j${i}`),
    )) as TestUser[];
    const channel = await createConversation(t.url, owner!, {
      kind: 'channel',
      name: `burst-${Date.now().toString(36)}`,
    });
    const watcher = await connect(owner!);
    const joins = await Promise.all(
      joiners.map((j) => request(t.url, 'POST', path(channel.id, '/join'), { token: j.accessToken })),
    );
    expect(joins.map((r) => r.status)).toEqual(joiners.map(() => 200));
    const ofChannel = (f: ConversationFrame) =>
      f.conversation.id === channel.id && f.event === 'member_joined';
    await watcher.next('conversation', (f) => ofChannel(f) && f.conversation.memberCount === 9);
    // Whatever the window still held is out after it.
    await new Promise((resolve) => setTimeout(resolve, 2 * CHANNEL_MEMBERS_WINDOW_MS));
    const frames = watcher.ofType('conversation').filter(ofChannel);
    expect(frames.at(-1)!.conversation.memberCount).toBe(9);
    expect(joiners.map((j) => j.id)).toContain(frames.at(-1)!.user);
    expect(frames.length).toBeLessThan(joiners.length);
  }, 60_000);
});

describe('the default channels of a first visit', () => {
  it('puts a new user in #general, owner-less, once: a channel they leave stays left', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const annSocket = await connect(ann);
    const general = (await annSocket.next('ready')).conversations.find((c) => c.name === 'general');
    expect(general).toMatchObject({ kind: 'channel', createdBy: 'system' });
    const bobGeneral = (await list(bob)).find((c) => c.name === 'general');
    expect(bobGeneral?.id).toBe(general!.id);
    await expectRefused(patch(ann, general!.id, { topic: 'mine' }), 403, 'forbidden');

    expect(
      (await request(t.url, 'POST', path(general!.id, '/leave'), { token: ann.accessToken })).status,
    ).toBe(204);
    annSocket.close();
    const again = await connect(ann);
    expect((await again.next('ready')).conversations.map((c) => c.id)).not.toContain(general!.id);
    expect((await list(ann)).map((c) => c.id)).not.toContain(general!.id);
  });

  it('joins no channel when DEFAULT_CHANNELS is empty', async () => {
    const bare = await startTestServer({ DEFAULT_CHANNELS: '' });
    try {
      const ann = await registerUser(bare.url, 'ann-bare');
      const client = await FrameClient.connect(bare.wsUrl, { token: ann.accessToken });
      try {
        expect((await client.next('ready')).conversations).toEqual([]);
      } finally {
        client.close();
      }
    } finally {
      await bare.close();
    }
  });
});
