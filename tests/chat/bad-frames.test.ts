import type { Conversation, ErrorCode } from '@relay-chat/protocol';
import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
let mallory: TestUser;
let alice: TestUser;
let bob: TestUser;
let theirDm: Conversation;
let ownDm: Conversation;

beforeAll(async () => {
  t = await startTestServer({ SEND_RATE_PER_SEC: '1000', SEND_BURST: '1000' });
  [mallory, alice, bob] = (await Promise.all(
    ['mallory', 'alice', 'bob'].map((n) => registerUser(t.url, n)),
  )) as [TestUser, TestUser, TestUser];
  theirDm = await createConversation(t.url, alice, { kind: 'dm', with: bob.id });
  ownDm = await createConversation(t.url, mallory, { kind: 'dm', with: alice.id });
});

afterAll(async () => {
  await t?.close();
});

type Case = [name: string, frame: () => string, code: ErrorCode];

const send = (fields: Record<string, unknown>) =>
  JSON.stringify({ type: 'send', conv: ownDm.id, clientMsgId: 'c', body: 'x', ...fields });

const cases: Case[] = [
  ['not JSON', () => '{"type": "send",', 'invalid_frame'],
  ['an empty frame', () => '', 'invalid_frame'],
  ['a bare number', () => '42', 'invalid_frame'],
  ['null', () => 'null', 'invalid_frame'],
  ['an array', () => '[{"type":"ping"}]', 'invalid_frame'],
  ['a string', () => '"ping"', 'invalid_frame'],
  ['no type', () => '{"conv":"x"}', 'invalid_frame'],
  ['a numeric type', () => '{"type":1}', 'invalid_frame'],
  ['an object type', () => '{"type":{"send":1}}', 'invalid_frame'],
  ['an unknown type', () => '{"type":"delete_everything"}', 'unknown_frame_type'],
  ['a server-only type', () => '{"type":"message","conv":"x","seq":1}', 'unknown_frame_type'],
  ['type __proto__', () => '{"type":"__proto__"}', 'unknown_frame_type'],
  ['type toString', () => '{"type":"toString"}', 'unknown_frame_type'],
  ['a __proto__ key', () => '{"type":"ping","__proto__":{"isAdmin":true}}', 'invalid_frame'],
  ['a constructor key', () => '{"type":"ping","constructor":{"prototype":{}}}', 'invalid_frame'],
  ['send without conv', () => JSON.stringify({ type: 'send', clientMsgId: 'c', body: 'x' }), 'invalid_frame'],
  [
    'send without clientMsgId',
    () => JSON.stringify({ type: 'send', conv: ownDm.id, body: 'x' }),
    'invalid_frame',
  ],
  [
    'send without body',
    () => JSON.stringify({ type: 'send', conv: ownDm.id, clientMsgId: 'c' }),
    'invalid_frame',
  ],
  ['send with an empty body', () => send({ body: '' }), 'invalid_frame'],
  ['send with a numeric body', () => send({ body: 7 }), 'invalid_frame'],
  ['send with an object body', () => send({ body: { html: '<b>' } }), 'invalid_frame'],
  ['send with a body over 4000 characters', () => send({ body: 'y'.repeat(4001) }), 'invalid_frame'],
  ['send with a 65-character clientMsgId', () => send({ clientMsgId: 'k'.repeat(65) }), 'invalid_frame'],
  ['send with an extra field', () => send({ from: 'someone-else' }), 'invalid_frame'],
  ['send with a numeric conv', () => send({ conv: 5 }), 'invalid_frame'],
  ['send with a path in conv', () => send({ conv: '../../etc' }), 'invalid_frame'],
  ['send to an unknown conversation', () => send({ conv: 'no-such-conversation' }), 'not_found'],
  ["send to someone else's conversation", () => send({ conv: theirDm.id }), 'not_member'],
  ['typing without conv', () => '{"type":"typing"}', 'invalid_frame'],
  [
    "typing in someone else's conversation",
    () => JSON.stringify({ type: 'typing', conv: theirDm.id }),
    'not_member',
  ],
  [
    'read with a string seq',
    () => JSON.stringify({ type: 'read', conv: ownDm.id, seq: '3' }),
    'invalid_frame',
  ],
  [
    'read with a negative seq',
    () => JSON.stringify({ type: 'read', conv: ownDm.id, seq: -1 }),
    'invalid_frame',
  ],
  [
    'read with a fractional seq',
    () => JSON.stringify({ type: 'read', conv: ownDm.id, seq: 0.5 }),
    'invalid_frame',
  ],
  [
    'read beyond lastSeq',
    () => JSON.stringify({ type: 'read', conv: ownDm.id, seq: 1000 }),
    'seq_out_of_range',
  ],
  [
    "read in someone else's conversation",
    () => JSON.stringify({ type: 'read', conv: theirDm.id, seq: 0 }),
    'not_member',
  ],
  ['auth without token', () => '{"type":"auth"}', 'invalid_frame'],
  ['auth with a garbage token', () => '{"type":"auth","token":"garbage"}', 'unauthorized'],
  ['ping with a numeric ref', () => '{"type":"ping","ref":5}', 'invalid_frame'],
];

describe('malformed, unknown and unauthorised frames', () => {
  it('has at least 30 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it('answers each with its typed error, keeps the connection, and leaves other users unaffected', async () => {
    const attacker = await FrameClient.connect(t.wsUrl, { token: mallory.accessToken });
    const [a, b] = await Promise.all([
      FrameClient.connect(t.wsUrl, { token: alice.accessToken }),
      FrameClient.connect(t.wsUrl, { token: bob.accessToken }),
    ]);
    for (const [index, [name, frame, code]] of cases.entries()) {
      const before = attacker.ofType('error').length;
      attacker.send(frame());
      await waitFor(() => attacker.ofType('error').length > before, { what: `the error for ${name}` });
      const error = attacker.ofType('error')[before];
      expect(error?.code, `case ${index} (${name})`).toBe(code);
      // the control pair keeps talking throughout
      if (index % 10 === 0) {
        a.send({ type: 'send', conv: theirDm.id, clientMsgId: `control-${index}`, body: `control ${index}` });
        await b.next('message', (f) => f.body === `control ${index}`);
      }
    }
    expect(attacker.closed).toBeUndefined();
    attacker.send({ type: 'ping', ref: 'still-alive' });
    await attacker.next('pong', (f) => f.ref === 'still-alive');
    const history = await request<{ messages: { body: string }[] }>(
      t.url,
      'GET',
      `/api/chat/conversations/${theirDm.id}/messages?limit=200`,
      { token: alice.accessToken },
    );
    expect(history.body.messages.every((m) => m.body.startsWith('control '))).toBe(true);
    const health = await request(t.url, 'GET', '/api/chat/health');
    expect(health.status).toBe(200);
    for (const c of [attacker, a, b]) c.close();
  });

  it('echoes the ref of a rejected frame so the client can match it', async () => {
    const client = await FrameClient.connect(t.wsUrl, { token: mallory.accessToken });
    client.send({ type: 'send', conv: theirDm.id, clientMsgId: 'mine-42', body: 'hi' });
    expect(await client.next('error', (f) => f.ref === 'mine-42')).toMatchObject({ code: 'not_member' });
    client.send({ type: 'read', conv: ownDm.id, seq: 'x', ref: 'r-7' });
    expect(await client.next('error', (f) => f.ref === 'r-7')).toMatchObject({ code: 'invalid_frame' });
    client.close();
  });
});
