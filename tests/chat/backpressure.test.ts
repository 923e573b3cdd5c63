import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { FrameClient } from '../support/frame-client.js';
import { createConversation, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer({
    MAX_BUFFERED_BYTES: String(256 * 1024),
    SEND_RATE_PER_SEC: '100000',
    SEND_BURST: '100000',
  });
});

afterAll(async () => {
  await t?.close();
});

async function slowConsumerCloses(): Promise<number> {
  const text = (await request<string>(t.url, 'GET', '/api/chat/metrics')).body;
  const line = text
    .split('\n')
    .find((l) => l.startsWith('chat_ws_server_closes_total{reason="slow_consumer"}'));
  return Number(line?.split(' ').at(-1) ?? 0);
}

describe('backpressure', () => {
  it('closes a stalled reader as a slow consumer while everyone else receives every message', async () => {
    const [sender, healthy, stalled] = (await Promise.all(
      ['sender', 'healthy', 'stalled'].map((name) => registerUser(t.url, name)),
    )) as [TestUser, TestUser, TestUser];
    const channel = await createConversation(t.url, sender, { kind: 'channel', name: 'firehose' });
    for (const user of [healthy, stalled]) {
      await request(t.url, 'POST', `/api/chat/conversations/${channel.id}/join`, {
        token: user.accessToken,
      });
    }
    const [s, h, st] = await Promise.all(
      [sender, healthy, stalled].map((user) => FrameClient.connect(t.wsUrl, { token: user.accessToken })),
    );
    const before = await slowConsumerCloses();
    st!.pauseReading();

    // ~10 MB of frames at a pace healthy readers keep up with: far more than the socket
    // buffers of a stalled loopback connection hold, and for longer than the grace period.
    const total = 2500;
    const body = 'x'.repeat(4000);
    for (let i = 0; i < total; i++) {
      s!.send({ type: 'send', conv: channel.id, clientMsgId: `f-${i}`, body });
      if (i % 25 === 24) await new Promise((r) => setTimeout(r, 100));
    }

    await waitFor(() => h!.ofType('message').length >= total, {
      timeoutMs: 60_000,
      what: 'the healthy reader',
    });
    expect(h!.ofType('message').map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(await slowConsumerCloses()).toBe(before + 1);

    st!.resumeReading();
    const closed = await st!.waitClosed(30_000);
    expect([4008, 1006]).toContain(closed.code);
    for (const c of [s, h]) c!.close();
  }, 180_000);
});
