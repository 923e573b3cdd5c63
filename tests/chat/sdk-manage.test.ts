/**
 * The SDK against the embedded server: devices of one user converge live on a rename, a
 * mute, a hidden DM and "mark all as read"; member events keep the list's per-user state
 * and previews; and a message whose ack was lost is recognised from history by its
 * clientMsgId after the reconnect (issue 11), shown once.
 */
import { asUserId, type Conversation, type Message, type UserId } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor, type WebSocketLike } from '@relay-chat/sdk';
import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
const clients: ChatClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ DEFAULT_CHANNELS: '' });
});

afterAll(async () => {
  for (const client of clients) client.close();
  await t?.close();
});

let counter = 0;
async function users(...names: string[]): Promise<TestUser[]> {
  const suffix = `${Date.now().toString(36)}${(counter++).toString(36)}`;
  return Promise.all(names.map((n) => registerUser(t.url, `${n}-${suffix}`)));
}

interface Device {
  client: ChatClient;
  messages: Message[];
  events: { event: string; conversation: Conversation; user?: UserId }[];
}

async function device(user: TestUser, WebSocketClass: WebSocketConstructor = ws): Promise<Device> {
  const client = new ChatClient({
    url: t.wsUrl,
    getToken: () => user.accessToken,
    WebSocket: WebSocketClass,
    reconnect: { baseDelayMs: 50, maxDelayMs: 200 },
  });
  clients.push(client);
  const messages: Message[] = [];
  const events: Device['events'] = [];
  client.on('message', (m) => messages.push(m));
  client.on('conversation', (e) => events.push(e));
  const ready = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  client.connect();
  await ready;
  return { client, messages, events };
}
const ws = WebSocket as unknown as WebSocketConstructor;

const until = (what: string, check: () => boolean) =>
  waitFor(async () => check(), { what, timeoutMs: 10_000 });

describe('two devices of one user', () => {
  it('converge live on a rename and topic, a mute, and mark all as read', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    await introduce(t.url, bob, ann);
    const phone = await device(ann);
    const laptop = await device(ann);
    const group = await phone.client.createConversation({
      kind: 'group',
      name: 'trip',
      members: [asUserId(bob.id)],
    });
    await until('the laptop to learn the group', () => laptop.client.conversation(group.id) !== undefined);

    const renamed = await phone.client.updateConversation(group.id, { name: 'Trip', topic: 'June' });
    expect(renamed).toMatchObject({ name: 'Trip', topic: 'June' });
    expect(phone.client.conversation(group.id)).toMatchObject({ name: 'Trip', topic: 'June' });
    await until(
      'the laptop to show the new name',
      () => laptop.client.conversation(group.id)?.name === 'Trip',
    );
    expect(laptop.client.conversation(group.id)).toMatchObject({
      topic: 'June',
      createdBy: asUserId(ann.id),
    });
    expect(laptop.events.at(-1)).toMatchObject({ event: 'updated', user: asUserId(ann.id) });

    await phone.client.mute(group.id);
    expect(phone.client.conversation(group.id)?.muted).toBe(true);
    await until('the laptop to show the mute', () => laptop.client.conversation(group.id)?.muted === true);

    // bob writes twice; one device marks everything read, the other follows.
    const dm = await createConversation(t.url, bob, { kind: 'dm', with: ann.id });
    for (const body of ['one', 'two']) {
      await request(t.url, 'POST', `/api/chat/conversations/${group.id}/messages`, {
        token: bob.accessToken,
        body: { clientMsgId: `${body}-g`, body },
      });
      await request(t.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
        token: bob.accessToken,
        body: { clientMsgId: `${body}-d`, body },
      });
    }
    await until('the laptop to count 4 unread', () => total(laptop.client.conversations()) === 4);
    const moved = await phone.client.markAllRead();
    expect(moved.map((m) => m.seq).sort()).toEqual([2, 3]);
    expect(total(phone.client.conversations())).toBe(0);
    await until('the laptop to count none unread', () => total(laptop.client.conversations()) === 0);
    // Muting is the user's own: bob's list is unchanged.
    const bobsView = await request<{ conversation: Conversation }>(
      t.url,
      'GET',
      `/api/chat/conversations/${group.id}`,
      { token: bob.accessToken },
    );
    expect(bobsView.body.conversation).toMatchObject({ muted: false, name: 'Trip' });
  });

  it('hide a DM on both devices until its next message shows it on both', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const dm = await createConversation(t.url, bob, { kind: 'dm', with: ann.id });
    const phone = await device(ann);
    const laptop = await device(ann);
    const listed = (d: Device) => d.client.conversations().some((c) => c.id === dm.id);
    expect(listed(phone) && listed(laptop)).toBe(true);

    await phone.client.hide(dm.id);
    expect(listed(phone)).toBe(false);
    await until('the laptop to hide it', () => !listed(laptop));
    expect(laptop.client.conversations({ includeHidden: true }).map((c) => c.id)).toContain(dm.id);

    await request(t.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
      token: bob.accessToken,
      body: { clientMsgId: 'back', body: 'are you there?' },
    });
    await until('both devices to list it again', () => listed(phone) && listed(laptop));
    expect(laptop.client.conversation(dm.id)).toMatchObject({ hidden: false, unread: 1 });
    expect(laptop.messages.filter((m) => m.conv === dm.id).map((m) => m.body)).toEqual(['are you there?']);

    // Hidden before a device connects: not in its list; the next message brings it back
    // with only what is unread, not the whole history.
    await phone.client.hide(dm.id);
    const tablet = await device(ann);
    expect(tablet.client.conversation(dm.id)).toBeUndefined();
    await request(t.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
      token: bob.accessToken,
      body: { clientMsgId: 'again', body: 'hello?' },
    });
    await until('the tablet to list it', () => listed(tablet));
    await until('the tablet to catch up', () => tablet.client.lastSeq(dm.id) === 2);
    expect(tablet.messages.filter((m) => m.conv === dm.id).map((m) => m.body)).toEqual([
      'are you there?',
      'hello?',
    ]);
  });
});

describe('member events in the SDK', () => {
  it('keep the last message and the caller’s own state when someone joins, leaves or renames', async () => {
    const [owner, bob, cat] = (await users('own', 'bob', 'cat')) as [TestUser, TestUser, TestUser];
    await introduce(t.url, bob, owner);
    await introduce(t.url, cat, owner);
    const ownerDevice = await device(owner);
    const group = await ownerDevice.client.createConversation({
      kind: 'group',
      name: 'g',
      members: [asUserId(bob.id)],
    });
    const bobDevice = await device(bob);
    await bobDevice.client.mute(group.id);
    const sent = bobDevice.client.send(group.id, 'last words');
    await sent.acked;
    await until('the owner to see the message', () =>
      ownerDevice.messages.some((m) => m.body === 'last words'),
    );

    await ownerDevice.client.addMembers(group.id, [asUserId(cat.id)]);
    await until('bob to see three members', () => bobDevice.client.conversation(group.id)?.memberCount === 3);
    expect(bobDevice.events.at(-1)).toMatchObject({ event: 'member_joined', user: asUserId(cat.id) });
    expect(bobDevice.client.conversation(group.id)).toMatchObject({
      muted: true,
      unread: 0,
      lastMessage: { body: 'last words' },
    });
    const catDevice = await device(cat);
    expect(catDevice.client.conversation(group.id)).toMatchObject({ memberCount: 3 });

    await ownerDevice.client.removeMember(group.id, asUserId(cat.id));
    await until('cat to lose the group', () => catDevice.client.conversation(group.id) === undefined);
    await until('bob to see two members', () => bobDevice.client.conversation(group.id)?.memberCount === 2);
    expect(bobDevice.client.conversation(group.id)).toMatchObject({
      muted: true,
      lastMessage: { body: 'last words' },
    });
    await expect(bobDevice.client.updateConversation(group.id, { name: 'mine' })).rejects.toMatchObject({
      code: 'forbidden',
    });
  });
});

describe('a lost ack', () => {
  it('is recovered from history by clientMsgId after the reconnect, and the message shown once', async () => {
    const [ann, bob] = (await users('ann', 'bob')) as [TestUser, TestUser];
    const link = new LossyLink();
    const ann1 = await device(ann, link.WebSocket);
    const dm = await ann1.client.createConversation({ kind: 'dm', with: asUserId(bob.id) });
    const { clientMsgId, acked } = ann1.client.send(dm.id, 'did this arrive?');
    // Stored: bob can read it; ann's device heard neither the ack nor the message.
    await waitFor(
      async () => {
        const res = await request<{ messages: Message[] }>(
          t.url,
          'GET',
          `/api/chat/conversations/${dm.id}/messages`,
          {
            token: bob.accessToken,
          },
        );
        return res.body.messages.length === 1;
      },
      { what: 'the message to be stored' },
    );
    expect(ann1.client.outbox().map((e) => e.status)).toEqual(['pending']);
    expect(ann1.messages).toEqual([]);

    let pendingWhenShown: string[] | undefined;
    ann1.client.on('message', (m) => {
      if (m.conv === dm.id) pendingWhenShown = ann1.client.outbox().map((e) => e.clientMsgId);
    });
    link.drop();
    const ack = await Promise.race([
      acked,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('never acknowledged')), 10_000)),
    ]);
    expect(ack).toMatchObject({ clientMsgId, conv: dm.id, seq: 1 });
    expect(ann1.messages.map((m) => [m.seq, m.body, m.clientMsgId])).toEqual([
      [1, 'did this arrive?', clientMsgId],
    ]);
    // The outbox entry was settled before the message was shown: a UI never shows both.
    expect(pendingWhenShown).toEqual([]);
    expect(ann1.client.outbox()).toEqual([]);
    // The resend of the new connection was a duplicate: nothing stored twice.
    const stored = await request<{ messages: Message[] }>(
      t.url,
      'GET',
      `/api/chat/conversations/${dm.id}/messages`,
      {
        token: ann.accessToken,
      },
    );
    expect(stored.body.messages.map((m) => m.body)).toEqual(['did this arrive?']);
  });
});

function total(conversations: Conversation[]): number {
  return conversations.reduce((sum, c) => sum + c.unread, 0);
}

/**
 * A link that loses every `ack` and every live `message` from the server, so only history
 * can tell the client what was stored; `drop()` cuts the current connection (the client
 * reconnects through the same kind of link).
 */
class LossyLink {
  private current: WebSocket | undefined;
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const link = this;
    this.WebSocket = class implements WebSocketLike {
      private readonly ws: WebSocket;
      onopen: WebSocketLike['onopen'] = null;
      onmessage: WebSocketLike['onmessage'] = null;
      onerror: WebSocketLike['onerror'] = null;
      onclose: WebSocketLike['onclose'] = null;

      constructor(url: string, protocols?: string | string[]) {
        this.ws = new WebSocket(url, protocols);
        link.current = this.ws;
        this.ws.onopen = (event) => this.onopen?.(event);
        this.ws.onerror = (event) => this.onerror?.(event);
        this.ws.onclose = (event) => this.onclose?.({ code: event.code, reason: event.reason });
        this.ws.onmessage = (event) => {
          const text = String(event.data);
          const type = (JSON.parse(text) as { type: string }).type;
          if (type === 'ack' || type === 'message') return;
          this.onmessage?.({ data: text });
        };
      }
      get readyState() {
        return this.ws.readyState;
      }
      get protocol() {
        return this.ws.protocol;
      }
      send(data: string) {
        this.ws.send(data);
      }
      close(code?: number, reason?: string) {
        this.ws.close(code, reason);
      }
    };
  }

  /** The connection drops without a closing handshake (1006): the client reconnects and resumes. */
  drop(): void {
    this.current?.terminate();
  }
}
