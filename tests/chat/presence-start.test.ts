/**
 * Presence is right from the moment two people first share a DM or group (issue 12, bug 2):
 * both sides' gateways start watching each other and send the current status at once,
 * instead of leaving the receiver of a new DM thinking the sender is offline until one of
 * them reconnects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
const open: FrameClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  for (const client of open) client.close();
  await t?.close();
});

async function users(...names: string[]): Promise<TestUser[]> {
  const suffix = Math.random().toString(36).slice(2, 8);
  return Promise.all(names.map((n) => registerUser(t.url, `${n}-${suffix}`)));
}

async function connect(user: TestUser): Promise<FrameClient> {
  const client = await FrameClient.connect(t.wsUrl, { token: user.accessToken });
  open.push(client);
  return client;
}

describe('presence from the start', () => {
  it('tells both sides of a new DM that the other is online, at once', async () => {
    const [ann, ben] = (await users('ann', 'ben')) as [TestUser, TestUser];
    const annSocket = await connect(ann);
    const benSocket = await connect(ben);
    // Strangers: neither watches the other yet.
    expect(annSocket.ofType('presence')).toEqual([]);
    expect((await benSocket.next('ready')).online).toEqual([]);

    await createConversation(t.url, ann, { kind: 'dm', with: ben.id });
    expect(await benSocket.next('presence', (f) => f.user === ann.id)).toMatchObject({ status: 'online' });
    expect(await annSocket.next('presence', (f) => f.user === ben.id)).toMatchObject({ status: 'online' });

    // From then on transitions flow as for any contact.
    benSocket.close();
    expect(await annSocket.next('presence', (f) => f.user === ben.id && f.status === 'offline')).toBeTruthy();
  });

  it('tells the members of a new group about each other', async () => {
    const [owner, bob, cat] = (await users('owner', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    await introduce(t.url, bob, owner);
    await introduce(t.url, cat, owner);
    // bob and cat never shared anything: only the group makes them contacts.
    const bobSocket = await connect(bob);
    const catSocket = await connect(cat);
    await createConversation(t.url, owner, { kind: 'group', name: 'pals', members: [bob.id, cat.id] });
    expect(await catSocket.next('presence', (f) => f.user === bob.id)).toMatchObject({ status: 'online' });
    expect(await bobSocket.next('presence', (f) => f.user === cat.id)).toMatchObject({ status: 'online' });
  });

  it('tells a newcomer to a group who is online there, and the members about the newcomer', async () => {
    const [owner, bob, cat] = (await users('owner', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    await introduce(t.url, bob, owner);
    await introduce(t.url, cat, owner);
    const group = await createConversation(t.url, owner, { kind: 'group', name: 'pals', members: [bob.id] });
    const bobSocket = await connect(bob);
    const catSocket = await connect(cat);
    await connect(owner);
    expect(catSocket.ofType('presence').filter((f) => f.user === bob.id)).toEqual([]);

    const added = await request(t.url, 'POST', `/api/chat/conversations/${group.id}/members`, {
      token: owner.accessToken,
      body: { members: [cat.id] },
    });
    expect(added.status).toBe(200);
    expect(await catSocket.next('presence', (f) => f.user === bob.id)).toMatchObject({ status: 'online' });
    expect(await bobSocket.next('presence', (f) => f.user === cat.id)).toMatchObject({ status: 'online' });
  });

  it('says offline for a contact who is not connected', async () => {
    const [dee, eli] = (await users('dee', 'eli')) as [TestUser, TestUser];
    const deeSocket = await connect(dee);
    await createConversation(t.url, dee, { kind: 'dm', with: eli.id });
    expect(await deeSocket.next('presence', (f) => f.user === eli.id)).toMatchObject({ status: 'offline' });
  });
});
