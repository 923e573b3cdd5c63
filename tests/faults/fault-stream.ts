/**
 * A steady stream of messages across replicas through a fault: devices (SDK clients, spread
 * over the replicas by nginx) in one channel, four of them sending. After the fault and the
 * settling, every acknowledged message must be stored exactly once with gapless seqs, and
 * every device must show exactly the store's transcript, in its order.
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import { waitFor } from '@relay-chat/testkit';
import WebSocket from 'ws';
import { createChannel, request, type TestUser } from '../support/http.js';

export interface StreamTarget {
  url: string;
  wsUrl: string;
}

export interface StreamResult {
  sent: number;
  acked: number;
  stored: number;
  /** Sent (and so acknowledged once settled) but not in the store. */
  lost: number;
  /** Stored more than once, or shown more than once on a device. */
  duplicated: number;
  /** Devices whose transcript differs from the store's (order or content). */
  devicesOutOfOrder: number;
  /** Problems, each a sentence with numbers. */
  problems: string[];
}

const SEND_INTERVAL_MS = 50;
const SENDERS = 4;

/**
 * Streams until `whileRunning` settles (and at least `minMs`), then settles for up to
 * `settleMs` and checks store and devices.
 */
export async function streamThrough(
  target: StreamTarget,
  members: TestUser[],
  name: string,
  whileRunning: Promise<unknown>,
  { minMs = 3000, settleMs = 45_000, maxPerSender = 1000 } = {},
): Promise<StreamResult> {
  const channel = await createChannel(
    target.url,
    members[0]!,
    `${name}-${randomUUID().slice(0, 6)}`,
    members,
  );
  const devices = members.map((user) => device(target, user));
  try {
    await waitFor(() => devices.every((d) => d.client.state === 'open'), {
      timeoutMs: 20_000,
      what: `all ${devices.length} devices connected`,
    });
    const sent: string[] = [];
    const acked = new Set<string>();
    let faultOver = false;
    whileRunning.then(
      () => {
        faultOver = true;
      },
      () => {
        faultOver = true;
      },
    );
    const began = Date.now();
    const streams = devices.slice(0, SENDERS).map(async (sender, s) => {
      for (let i = 0; i < maxPerSender && (!faultOver || Date.now() - began < minMs); i++) {
        const body = `${name}-${s}-${i}`;
        sent.push(body);
        sender.client.send(channel.id, body).acked.then(
          () => acked.add(body),
          () => {},
        );
        await new Promise((r) => setTimeout(r, SEND_INTERVAL_MS));
      }
    });
    await Promise.all(streams);
    await whileRunning.catch(() => {});

    const problems: string[] = [];
    const settled = await waitFor(() => acked.size === sent.length, {
      timeoutMs: settleMs,
      what: 'every send acked',
    }).then(
      () => true,
      () => false,
    );
    if (!settled)
      problems.push(
        `${sent.length - acked.size} of ${sent.length} sends never acknowledged within ${settleMs} ms`,
      );
    const stored = await storedHistory(target, members[0]!, channel.id);
    await waitFor(() => devices.every((d) => (d.messages.get(channel.id)?.length ?? 0) >= stored.length), {
      timeoutMs: 20_000,
      what: 'every device to catch up with the store',
    }).catch(() => {
      problems.push(
        `devices behind the store (${stored.length}): ${devices.map((d) => d.messages.get(channel.id)?.length ?? 0).join(', ')}`,
      );
    });

    const seqs = stored.map((m) => m.seq);
    const gapless = seqs.every((seq, i) => seq === i + 1);
    if (!gapless) problems.push(`stored seqs are not gapless 1..${stored.length}`);
    const bodies = stored.map((m) => m.body);
    const storedOnce = new Set(bodies);
    const lost = [...acked].filter((b) => !storedOnce.has(b)).length;
    const duplicatedInStore = bodies.length - storedOnce.size;
    const unknown = bodies.filter((b) => !sent.includes(b)).length;
    if (unknown > 0) problems.push(`${unknown} stored messages nobody sent`);
    const expected = stored.map((m) => `${m.seq}:${m.id}`);
    let devicesOutOfOrder = 0;
    let duplicatedOnDevices = 0;
    for (const [i, d] of devices.entries()) {
      const transcript = (d.messages.get(channel.id) ?? []).map((m) => `${m.seq}:${m.id}`);
      duplicatedOnDevices += transcript.length - new Set(transcript).size;
      if (transcript.join(',') !== expected.join(',')) {
        devicesOutOfOrder += 1;
        problems.push(
          `device ${i}: ${transcript.length} messages differ from the store's ${expected.length}`,
        );
      }
    }
    if (lost > 0) problems.push(`${lost} acknowledged messages missing from the store`);
    if (duplicatedInStore + duplicatedOnDevices > 0) {
      problems.push(`${duplicatedInStore} stored twice, ${duplicatedOnDevices} shown twice on devices`);
    }
    return {
      sent: sent.length,
      acked: acked.size,
      stored: stored.length,
      lost,
      duplicated: duplicatedInStore + duplicatedOnDevices,
      devicesOutOfOrder,
      problems,
    };
  } finally {
    for (const d of devices) d.client.close();
  }
}

function device(
  target: StreamTarget,
  user: TestUser,
): { client: ChatClient; messages: Map<string, Message[]> } {
  const messages = new Map<string, Message[]>();
  const client = new ChatClient({
    url: target.wsUrl,
    httpUrl: target.url,
    getToken: () => user.accessToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
    reconnect: { baseDelayMs: 100, maxDelayMs: 1000 },
    sendRetry: { baseDelayMs: 200, maxDelayMs: 1000 },
    connectTimeoutMs: 5000,
  });
  client.on('message', (message) => {
    let list = messages.get(message.conv);
    if (!list) {
      list = [];
      messages.set(message.conv, list);
    }
    list.push(message);
  });
  client.connect();
  return { client, messages };
}

/** The whole stored history, in seq order (retried while the service recovers). */
/** A conversation's whole stored history, page by page, as `user` reads it over REST. */
export async function storedHistory(target: StreamTarget, user: TestUser, conv: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const after = all.at(-1)?.seq ?? 0;
    const page = await waitFor(
      async () => {
        const answer = await request<{ messages: Message[] }>(
          target.url,
          'GET',
          `/api/chat/conversations/${conv}/messages?after=${after}&limit=200`,
          { token: user.accessToken },
        );
        return answer.status === 200 ? answer.body.messages : undefined;
      },
      { timeoutMs: 20_000, what: 'the stored history' },
    );
    all.push(...page);
    if (page.length < 200) return all;
  }
}
