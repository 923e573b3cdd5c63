/**
 * The embedded server's durability promise: a message is acknowledged only once its commit
 * is on disk (SQLite in WAL mode, `synchronous = FULL`, written by the store's worker
 * thread), so every acknowledged message survives the process being killed with kill -9
 * in the middle of a stream of sends, with its seq, and seqs stay gapless. The text index,
 * which follows the appends, finds them after the restart too: the last ones acknowledged
 * were stored but most likely not indexed when the process died.
 */
import { randomUUID } from 'node:crypto';
import type { AckFrame, Conversation, Message, SearchResponse } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import { waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type EmbeddedProcess, startEmbeddedProcess } from '../support/embedded-process.js';
import { registerUser, request, type TestUser } from '../support/http.js';

let server: EmbeddedProcess;

beforeAll(async () => {
  server = await startEmbeddedProcess('durability', {
    // One client sends as fast as acks come back.
    SEND_RATE_PER_SEC: '100000',
    SEND_BURST: '100000',
    // The default, named: this is the promise the worker thread's store must keep.
    SQLITE_STORE_THREAD: 'worker',
  });
}, 150_000);

afterAll(async () => {
  await server?.stop();
});

async function historyOf(user: TestUser, conv: string): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const after = messages.at(-1)?.seq ?? 0;
    const page = await request<{ messages: Message[] }>(
      server.url,
      'GET',
      `/api/chat/conversations/${conv}/messages?after=${after}&limit=100`,
      { token: user.accessToken },
    );
    expect(page.status).toBe(200);
    if (page.body.messages.length === 0) return messages;
    messages.push(...page.body.messages);
  }
}

describe('the embedded server killed with kill -9', () => {
  it('keeps every message it acknowledged, with its seq', async () => {
    const user = await registerUser(server.url, `dura-${randomUUID().slice(0, 6)}`);
    const created = await request<{ conversation: Conversation }>(
      server.url,
      'POST',
      '/api/chat/conversations',
      {
        token: user.accessToken,
        body: { kind: 'channel', name: `durable-${randomUUID().slice(0, 8)}` },
      },
    );
    expect(created.status).toBe(201);
    const conv = created.body.conversation.id;

    const chat = new ChatClient({
      url: server.wsUrl,
      getToken: () => user.accessToken,
      WebSocket: WebSocket as unknown as WebSocketConstructor,
    });
    chat.connect();
    await waitFor(() => chat.state === 'open', { what: 'the client to connect' });

    // Sends keep 20 messages in flight; the server is killed once 200 are acknowledged,
    // with more on their way.
    const acked: AckFrame[] = [];
    const bodies = new Map<string, string>();
    let killed = false;
    const sender = (async () => {
      for (let i = 0; !killed; i++) {
        const inFlight: Promise<unknown>[] = [];
        for (let j = 0; j < 20; j++) {
          const body = `durable ${i * 20 + j}`;
          const handle = chat.send(conv, body);
          bodies.set(handle.clientMsgId, body);
          inFlight.push(handle.acked.then((ack) => void (killed || acked.push(ack))));
        }
        // Wait for part of the window only: sends overlap commits.
        await Promise.race([Promise.allSettled(inFlight), new Promise((r) => setTimeout(r, 5))]);
        if (bodies.size > 5000) break;
      }
    })();
    await waitFor(() => acked.length >= 200, { timeoutMs: 60_000, what: '200 acknowledgements' });
    const exit = await server.process.kill('SIGKILL');
    killed = true;
    chat.close();
    await sender;
    expect(exit?.signal).toBe('SIGKILL');
    const ackedBeforeKill = [...acked];

    await server.process.start();
    const history = await historyOf(user, conv);
    expect(history.map((m) => m.seq)).toEqual(history.map((_, i) => i + 1));
    const stored = new Map(history.map((m) => [m.clientMsgId, m]));
    const lost = ackedBeforeKill.filter((ack) => {
      const m = stored.get(ack.clientMsgId);
      return m?.seq !== ack.seq || m.id !== ack.id || m.body !== bodies.get(ack.clientMsgId);
    });
    expect(lost, `acknowledged messages lost or changed (of ${ackedBeforeKill.length})`).toEqual([]);

    const unfound: string[] = [];
    for (const ack of ackedBeforeKill.slice(-10)) {
      const body = bodies.get(ack.clientMsgId)!;
      const found = await request<SearchResponse>(
        server.url,
        'GET',
        `/api/chat/search?${new URLSearchParams({ q: body, conv, limit: '50' })}`,
        { token: user.accessToken },
      );
      expect(found.status).toBe(200);
      if (!found.body.hits.some((h) => h.message.seq === ack.seq)) unfound.push(body);
    }
    expect(unfound, 'acknowledged messages that search does not find after the restart').toEqual([]);
    console.log(
      `kill -9: ${ackedBeforeKill.length} acknowledged, ${history.length} stored, ${bodies.size} sent`,
    );
  });
});
