import {
  asConversationId,
  type ChangeFrame,
  type ConversationId,
  type Message,
  type ServerFrame,
} from '@relay-chat/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  conversation,
  type GatewayDouble,
  ME,
  message,
  OTHER,
  type Peer,
  recordingWebSocket,
  settle,
  startGatewayDouble,
} from '../../../tests/support/gateway-double.js';
import type { FetchLike } from './api.js';
import type { ChangeEvent } from './change-feed.js';
import { ChatClient } from './chat-client.js';
import type { ChatClientOptions } from './chat-client-options.js';

const C1 = asConversationId('c1');
const C2 = asConversationId('c2');

let gateway: GatewayDouble;
const clients: ChatClient[] = [];

beforeEach(async () => {
  gateway = await startGatewayDouble();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  vi.useRealTimers();
  await gateway.close();
});

/** Message `seq` of `conv` in the state it took at change `changeSeq` (edited). */
function changed(conv: string, seq: number, changeSeq: number, extra: Partial<Message> = {}): Message {
  return {
    ...message(conv, seq),
    body: `edit ${changeSeq}`,
    editedAt: 2_000 + changeSeq,
    changeSeq,
    ...extra,
  };
}

const changeFrame = (m: Message): ChangeFrame => ({
  type: 'change',
  conv: m.conv,
  changeSeq: m.changeSeq!,
  message: m,
});

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/**
 * A ChatClient on the scripted gateway. REST: history from the double; the changes route,
 * the change routes and one conversation from `server` here (what a test stores in it).
 */
function client(options: Partial<ChatClientOptions> = {}) {
  const server = {
    /** conv → current state of each changed message. */
    changed: new Map<string, Message[]>(),
    lastChangeSeq: new Map<string, number>(),
    conversations: new Map<string, ReturnType<typeof conversation>>(),
    rest: [] as { method: string; path: string; body?: unknown }[],
    restAnswer: undefined as Message | undefined,
  };
  const fetchImpl: FetchLike = async (input, init) => {
    const url = new URL(input);
    const method = init?.method ?? 'GET';
    const changes = /conversations\/([^/]+)\/changes$/.exec(url.pathname);
    if (changes) {
      const conv = decodeURIComponent(changes[1]!);
      server.rest.push({ method, path: `${url.pathname}${url.search}` });
      const after = Number(url.searchParams.get('after') ?? 0);
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const messages = (server.changed.get(conv) ?? [])
        .filter((m) => m.changeSeq! > after)
        .sort((a, b) => a.changeSeq! - b.changeSeq!)
        .slice(0, limit);
      return json({ messages, lastChangeSeq: server.lastChangeSeq.get(conv) ?? 0 });
    }
    const one = /^\/api\/chat\/conversations\/([^/]+)$/.exec(url.pathname);
    if (one && method === 'GET') {
      const found = server.conversations.get(decodeURIComponent(one[1]!));
      return found
        ? json({ conversation: found })
        : json({ error: { code: 'not_found', message: 'no' } }, 404);
    }
    if (/\/messages\/\d+/.test(url.pathname)) {
      server.rest.push({
        method,
        path: url.pathname,
        ...(init?.body ? { body: JSON.parse(String(init.body)) } : {}),
      });
      return json({ message: server.restAnswer, changed: true });
    }
    return globalThis.fetch(input, init);
  };
  const c = new ChatClient({
    url: gateway.wsUrl,
    getToken: () => 'token',
    WebSocket: recordingWebSocket().WebSocket,
    fetch: fetchImpl,
    pingIntervalMs: 0,
    reconnect: { baseDelayMs: 0, maxDelayMs: 0 },
    changes: { gapWaitMs: 50 },
    ...options,
  });
  clients.push(c);
  const changes: ChangeEvent[] = [];
  const delivered: Message[] = [];
  c.on('change', (e) => changes.push(e));
  c.on('message', (m) => delivered.push(m));
  return {
    client: c,
    server,
    changes,
    delivered,
    changeSeqs: (conv: ConversationId = C1) => changes.filter((e) => e.conv === conv).map((e) => e.changeSeq),
    ready: () =>
      new Promise<void>((resolve) => {
        const off = c.on('ready', () => {
          off();
          resolve();
        });
        if (c.state === 'idle' || c.state === 'closed') c.connect();
      }),
    /** Resolves once the client took in everything `peer` sent so far. */
    taken: (peer: Peer) =>
      new Promise<void>((resolve) => {
        const off = c.on('typing', () => {
          off();
          resolve();
        });
        peer.send({ type: 'typing', conv: C1, user: OTHER.id });
      }),
  };
}

function readyWith(...conversations: ReturnType<typeof conversation>[]): void {
  gateway.onConnection = (peer) => peer.ready({ conversations });
}

describe('ChatClient: changes', () => {
  it('emits each change once, in changeSeq order, filling a gap from the changes route after the wait', async () => {
    readyWith(conversation('c1', 3, { lastChangeSeq: 2 }));
    const t = client();
    await t.ready();
    const peer = gateway.peers[0]!;
    expect(t.client.lastChangeSeq(C1)).toBe(2); // the baseline: nothing fetched
    peer.send(changeFrame(changed('c1', 1, 3)));
    peer.send(changeFrame(changed('c1', 1, 3))); // a duplicate
    // 4 is lost on the bus; 5 arrives.
    t.server.changed.set('c1', [changed('c1', 2, 4), changed('c1', 3, 5)]);
    t.server.lastChangeSeq.set('c1', 5);
    peer.send(changeFrame(changed('c1', 3, 5)));
    await t.taken(peer);
    expect(t.changeSeqs()).toEqual([3]);
    await vi.waitFor(() => expect(t.changeSeqs()).toEqual([3, 4, 5]));
    expect(t.server.rest.map((r) => r.path)).toEqual([
      '/api/chat/conversations/c1/changes?after=3&limit=200',
    ]);
    expect(t.changes[1]).toEqual({ conv: C1, changeSeq: 4, message: changed('c1', 2, 4) });
  });

  it('after a reconnect, fetches the changes missed (from what it applied) at once', async () => {
    readyWith(conversation('c1', 3, { lastChangeSeq: 1 }));
    const t = client();
    await t.ready();
    t.server.changed.set('c1', [changed('c1', 1, 3), changed('c1', 2, 4)]);
    t.server.lastChangeSeq.set('c1', 4);
    readyWith(conversation('c1', 3, { lastChangeSeq: 4 }));
    const again = t.ready();
    gateway.peers[0]!.close(1012, 'server_shutting_down');
    await again;
    await vi.waitFor(() => expect(t.changeSeqs()).toEqual([3, 4]));
    expect(t.server.rest[0]?.path).toBe('/api/chat/conversations/c1/changes?after=1&limit=200');
    expect(t.client.lastChangeSeq(C1)).toBe(4);
  });

  it('delivers a message in the newer state of a change that overtook it', async () => {
    readyWith(conversation('c1', 0));
    const t = client();
    await t.ready();
    const peer = gateway.peers[0]!;
    peer.send(changeFrame(changed('c1', 1, 1)));
    peer.send({ type: 'message', ...message('c1', 1) });
    await t.taken(peer);
    expect(t.changeSeqs()).toEqual([1]);
    expect(t.delivered).toEqual([changed('c1', 1, 1)]);
  });

  it('holds changes of a conversation not known yet and applies those after its baseline once it is', async () => {
    readyWith(conversation('c1', 0));
    const t = client();
    await t.ready();
    const peer = gateway.peers[0]!;
    t.server.conversations.set('c2', conversation('c2', 2, { lastChangeSeq: 1 }));
    peer.send(changeFrame(changed('c2', 1, 1)));
    peer.send(changeFrame(changed('c2', 2, 2)));
    await vi.waitFor(() => expect(t.changeSeqs(C2)).toEqual([2]));
    expect(t.client.conversation(C2)?.lastChangeSeq).toBe(2);
  });

  it('edit: writes the frame with a ref and resolves with the state of the change its ack names', async () => {
    readyWith(conversation('c1', 1, { lastChangeSeq: 0 }));
    const t = client();
    await t.ready();
    const peer = gateway.peers[0]!;
    const edited = t.client.edit(C1, 1, 'fixed', { mentions: [OTHER.id] });
    const frame = await peer.next('edit');
    expect(frame).toEqual({
      type: 'edit',
      conv: 'c1',
      seq: 1,
      body: 'fixed',
      mentions: [OTHER.id],
      ref: frame.ref,
    });
    const state = changed('c1', 1, 1, { body: 'fixed', mentions: [OTHER.id] });
    peer.send({ type: 'change_ack', ref: frame.ref!, conv: C1, seq: 1, changeSeq: 1 });
    peer.send(changeFrame(state));
    await expect(edited).resolves.toEqual(state);
    await vi.waitFor(() => expect(t.changeSeqs()).toEqual([1]));
    expect(t.server.rest).toEqual([]);
  });

  it('react and delete: a refusal rejects with its ChatError and emits no error event', async () => {
    readyWith(conversation('c1', 1));
    const t = client();
    await t.ready();
    const peer = gateway.peers[0]!;
    const errors: unknown[] = [];
    t.client.on('error', (e) => errors.push(e));
    const reacted = t.client.react(C1, 1, '👍');
    const frame = await peer.next('react');
    expect(frame).toMatchObject({ conv: 'c1', seq: 1, emoji: '👍', on: true });
    peer.send({ type: 'error', code: 'conflict', message: 'deleted', ref: frame.ref! });
    await expect(reacted).rejects.toMatchObject({ code: 'conflict' });
    expect(errors).toEqual([]);
  });

  it('goes over REST when the connection is gone', async () => {
    readyWith(conversation('c1', 1));
    const t = client();
    await t.ready();
    t.client.close();
    t.server.restAnswer = changed('c1', 1, 1, { body: '', deleted: true, editedAt: undefined });
    await expect(t.client.deleteMessage(C1, 1)).resolves.toMatchObject({ deleted: true });
    await expect(t.client.react(C1, 1, '🎉', false)).resolves.toMatchObject({ deleted: true });
    expect(t.server.rest.map((r) => `${r.method} ${r.path}`)).toEqual([
      'DELETE /api/chat/conversations/c1/messages/1',
      `DELETE /api/chat/conversations/c1/messages/1/reactions/${encodeURIComponent('🎉')}`,
    ]);
  });
});

describe('ChatClient: sends with replyTo and mentions', () => {
  it('writes them with the message and again, unchanged, after a reconnect', async () => {
    readyWith(conversation('c1', 1));
    const t = client();
    await t.ready();
    const first = gateway.peers[0]!;
    t.client.send(C1, 'hi @other', { replyTo: 1, mentions: [OTHER.id, OTHER.id] });
    const sent = await first.next('send');
    expect(sent).toMatchObject({ replyTo: 1, mentions: [OTHER.id] });
    const again = t.ready();
    first.close(1012, 'server_shutting_down');
    await again;
    const resent = await gateway.peers[1]!.next('send');
    expect(resent).toEqual(sent);
  });
});

describe('ChatClient: unread mentions', () => {
  const mention = (seq: number, extra: Partial<Message> = {}): Message => ({
    ...message('c1', seq),
    body: '@me hi',
    mentions: [ME.id],
    ...extra,
  });

  it('counts a new message mentioning me, drops it when read, and when a change deletes it', async () => {
    readyWith(
      conversation('c1', 2, { lastReadSeq: 2, unreadMentions: 1, mentionSeqs: [2], lastChangeSeq: 0 }),
    );
    const t = client();
    await t.ready();
    // A snapshot's seqs at or below the read marker do not count.
    expect(t.client.conversation(C1)).toMatchObject({ unreadMentions: 0, mentionSeqs: [] });
    const peer = gateway.peers[0]!;
    const frames: ServerFrame[] = [
      { type: 'message', ...mention(3) },
      { type: 'message', ...mention(4) },
      { type: 'message', ...mention(5, { from: ME.id }) }, // mine: also moves my read marker
    ];
    for (const f of frames.slice(0, 2)) peer.send(f);
    await t.taken(peer);
    expect(t.client.conversation(C1)).toMatchObject({ unreadMentions: 2, mentionSeqs: [3, 4] });
    peer.send(
      changeFrame({ ...mention(3), body: '', mentions: undefined, deleted: true, changeSeq: 1 } as Message),
    );
    await t.taken(peer);
    expect(t.client.conversation(C1)).toMatchObject({ unreadMentions: 1, mentionSeqs: [4] });
    peer.send(changeFrame({ ...mention(4), mentions: undefined, editedAt: 9, changeSeq: 2 } as Message));
    await t.taken(peer);
    expect(t.client.conversation(C1)).toMatchObject({ unreadMentions: 0, mentionSeqs: [] });
    peer.send(frames[2]!);
    peer.send({ type: 'message', ...mention(6) });
    await t.taken(peer);
    expect(t.client.conversation(C1)?.lastReadSeq).toBe(5);
    expect(t.client.conversation(C1)?.unreadMentions).toBe(1);
    t.client.markRead(C1, 6);
    expect(t.client.conversation(C1)).toMatchObject({ unreadMentions: 0, unread: 0 });
    await settle();
  });
});
