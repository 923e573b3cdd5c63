/**
 * The rules that keep one user from filling another's conversation list or connect payload
 * (issue 10): consent before a group, a creation cap, one page of conversations in `ready`
 * with a cursor for the rest, cut previews, and names and bodies that are well-formed text.
 */
import type { Conversation, ReadyFrame } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, introduce, registerUser, request, type TestUser } from '../support/http.js';

const PAGE = 10;
let t: TestServer;
let ada: TestUser;
let bob: TestUser;
let eve: TestUser;
const open: FrameClient[] = [];

beforeAll(async () => {
  t = await startTestServer({ CONVERSATIONS_PAGE: String(PAGE), GROUPS_PER_HOUR: '25' });
  [ada, bob, eve] = (await Promise.all(['ada', 'bob', 'eve'].map((n) => registerUser(t.url, n)))) as [
    TestUser,
    TestUser,
    TestUser,
  ];
});

afterAll(async () => {
  for (const client of open) client.close();
  await t?.close();
});

async function listAll(user: TestUser): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: Awaited<
      ReturnType<typeof request<{ conversations: Conversation[]; nextCursor: string | null }>>
    > = await request(t.url, 'GET', `/api/chat/conversations${cursor ? `?cursor=${cursor}` : ''}`, {
      token: user.accessToken,
    });
    expect(res.status).toBe(200);
    expect(res.body.conversations.length).toBeLessThanOrEqual(PAGE);
    ids.push(...res.body.conversations.map((c) => c.id));
    cursor = res.body.nextCursor;
    pages += 1;
  } while (cursor !== null);
  return { ids, pages };
}

describe('adding people to groups', () => {
  it('refuses to put someone in a group who has not written to the creator, and creates nothing', async () => {
    const before = await listAll(bob);
    const res = await request<{ error: { code: string } }>(t.url, 'POST', '/api/chat/conversations', {
      token: eve.accessToken,
      body: { kind: 'group', name: 'spam', members: [bob.id] },
    });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect((await listAll(bob)).ids).toEqual(before.ids);
  });

  it('lets the creator add them once they have written in a shared DM', async () => {
    await introduce(t.url, bob, ada);
    const group = await createConversation(t.url, ada, {
      kind: 'group',
      name: 'Book club',
      members: [bob.id],
    });
    expect(group.memberCount).toBe(2);
  });
});

describe('one user’s conversations, bounded', () => {
  it('lists one page in ready and GET /conversations, and the cursor pages through every one exactly once', async () => {
    await introduce(t.url, ada, bob);
    const made = new Set<string>();
    for (let i = 0; i < 2 * PAGE + 3; i++) {
      made.add(
        (await createConversation(t.url, bob, { kind: 'group', name: `g${i}`, members: [ada.id] })).id,
      );
    }
    const client = await FrameClient.connect(t.wsUrl, { token: ada.accessToken });
    open.push(client);
    const ready = (await client.next('ready')) as ReadyFrame;
    expect(ready.conversations).toHaveLength(PAGE);
    expect(ready.nextCursor).toEqual(expect.any(String));
    expect(ready.limits).toMatchObject({ sendPerSec: 30, framesPerSec: 60 });

    const { ids, pages } = await listAll(ada);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of made) expect(ids).toContain(id);
    expect(pages).toBe(Math.ceil(ids.length / PAGE));
    // ready's page is the first page of the same order.
    expect(ready.conversations.map((c) => c.id)).toEqual(ids.slice(0, PAGE));
  });

  it('caps the groups and channels one user creates in an hour', async () => {
    let refused: { status: number; retryAfter: string | null; code: string } | undefined;
    for (let i = 0; i < 30 && !refused; i++) {
      const res = await request<{ error?: { code: string } }>(t.url, 'POST', '/api/chat/conversations', {
        token: eve.accessToken,
        body: { kind: 'channel', name: `eve-${i}` },
      });
      if (res.status !== 201) {
        refused = {
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          code: res.body.error!.code,
        };
      }
    }
    expect(refused).toEqual({ status: 429, retryAfter: expect.any(String), code: 'rate_limited' });
  });

  it('cuts long last-message previews, while history keeps the whole body', async () => {
    const dm = await createConversation(t.url, ada, { kind: 'dm', with: bob.id });
    const long = `${'x'.repeat(3998)}😀`;
    await request(t.url, 'POST', `/api/chat/conversations/${dm.id}/messages`, {
      token: ada.accessToken,
      body: { clientMsgId: 'long-1', body: long },
    });
    const listed = await request<{ conversation: Conversation }>(
      t.url,
      'GET',
      `/api/chat/conversations/${dm.id}`,
      {
        token: bob.accessToken,
      },
    );
    const preview = listed.body.conversation.lastMessage!.body;
    expect(preview.length).toBeLessThanOrEqual(500);
    expect(preview.endsWith('…')).toBe(true);
    const history = await request<{ messages: { body: string }[] }>(
      t.url,
      'GET',
      `/api/chat/conversations/${dm.id}/messages?limit=1`,
      { token: bob.accessToken },
    );
    expect(history.body.messages[0]!.body).toBe(long);
  });
});

describe('well-formed text', () => {
  it('stores names NFKC-normalised and refuses invisible and direction-changing characters', async () => {
    const channel = await createConversation(t.url, ada, { kind: 'channel', name: 'Ｆｕｌｌｗｉｄｔｈ' });
    expect(channel.name).toBe('Fullwidth');
    for (const name of ['a\u202Eb', 'zero\u200Bwidth', '\u3164', ' \u00A0 ', 'bell\u0007']) {
      const res = await request<{ error: { code: string } }>(t.url, 'POST', '/api/chat/conversations', {
        token: ada.accessToken,
        body: { kind: 'channel', name },
      });
      expect([res.status, res.body.error.code], JSON.stringify(name)).toEqual([400, 'validation_failed']);
    }
  });

  it('refuses a lone surrogate or a control character in a body, over REST and on the socket, storing nothing', async () => {
    const dm = await createConversation(t.url, ada, { kind: 'dm', with: bob.id });
    const before = dm.lastSeq;
    for (const body of ['\ud800 alone', 'tail \udc00', 'nul \u0000', 'escape \u001b[2J', 'c1 \u0085']) {
      const res = await request<{ error: { code: string } }>(
        t.url,
        'POST',
        `/api/chat/conversations/${dm.id}/messages`,
        {
          token: ada.accessToken,
          body: JSON.stringify({ clientMsgId: `bad-${body.length}-${body.charCodeAt(0)}`, body }),
        },
      );
      expect([res.status, res.body.error.code], JSON.stringify(body)).toEqual([400, 'validation_failed']);
    }
    const client = await FrameClient.connect(t.wsUrl, { token: ada.accessToken });
    open.push(client);
    client.send(JSON.stringify({ type: 'send', conv: dm.id, clientMsgId: 'socket-bad', body: 'x\ud800' }));
    expect(await client.next('error', (f) => f.ref === 'socket-bad')).toMatchObject({
      code: 'invalid_frame',
    });
    // Tab and newline are text.
    client.send({ type: 'send', conv: dm.id, clientMsgId: 'socket-good', body: 'a\tb\nc' });
    expect(await client.next('ack', (f) => f.clientMsgId === 'socket-good')).toMatchObject({
      seq: before + 1,
    });
  });
});
