/**
 * Embedded mode has one replica and an in-process bus: every message is published by the
 * process that stored it, in the order it was stored, so the reorder window (which waits up
 * to REORDER_WINDOW_MS for a seq that overtook a missing one, issue 16) must never hold a
 * message there — not under concurrent senders, and not for a receiver that connects while
 * messages are flowing.
 */
import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({ SEND_RATE_PER_SEC: '100000', SEND_BURST: '100000' });
});

afterAll(async () => {
  await t?.close();
});

async function metric(name: string): Promise<number> {
  const text = (await request<string>(t.url, 'GET', '/api/chat/metrics')).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.split(' ').at(-1));
}

describe('embedded delivery order', () => {
  it('never holds a message back for reordering, with concurrent senders and late joiners', async () => {
    const users = (await Promise.all(
      ['s1', 's2', 's3', 's4', 'late'].map((name) => registerUser(t.url, `order-${name}`)),
    )) as TestUser[];
    const [owner] = users as [TestUser];
    const channel = await createConversation(t.url, owner, { kind: 'channel', name: 'order' });
    for (const user of users.slice(1)) {
      await request(t.url, 'POST', `/api/chat/conversations/${channel.id}/join`, { token: user.accessToken });
    }
    const senders = await Promise.all(
      users.slice(0, 4).map((user) => FrameClient.connect(t.wsUrl, { token: user.accessToken })),
    );
    const heldBefore = await metric('chat_reorder_held_total');
    const perSender = 300;
    let late: FrameClient | undefined;
    for (let i = 0; i < perSender; i++) {
      senders.forEach((s, k) => {
        s.send({ type: 'send', conv: channel.id, clientMsgId: `o-${k}-${i}`, body: `m ${k} ${i}` });
      });
      // A receiver connects while messages are being stored and published.
      if (i === perSender / 2) late = await FrameClient.connect(t.wsUrl, { token: users[4]!.accessToken });
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
    }
    const total = perSender * senders.length;
    await waitFor(() => senders.every((s) => s.ofType('message').length >= total), {
      timeoutMs: 60_000,
      what: 'every sender to receive every message',
    });
    for (const s of senders) {
      expect(s.ofType('message').map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    }
    await waitFor(() => late!.ofType('message').some((m) => m.seq === total), {
      timeoutMs: 30_000,
      what: 'the late receiver to get the last message',
    });
    const seqs = late!.ofType('message').map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(await metric('chat_reorder_held_total')).toBe(heldBefore);
    for (const client of [...senders, late!]) client.close();
  });
});
