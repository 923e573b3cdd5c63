import { asConversationId, asUserId, type Message } from '@relay-chat/protocol';
import { describe, expect, it } from 'vitest';
import { ApiClient, type FetchLike } from './api.js';
import { ChatApi } from './chat-api.js';

const C1 = asConversationId('c 1');
const message = (seq: number, extra: Partial<Message> = {}) => ({
  conv: C1,
  seq,
  id: `m${seq}`,
  from: 'u1',
  body: 'x',
  ts: 1,
  ...extra,
});

/** A ChatApi over a fetch that records each request and answers `answer`. */
function api(answer: unknown) {
  const calls: { method: string; url: string; body?: unknown }[] = [];
  const fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    calls.push({
      method: init?.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      ...(init?.body ? { body: JSON.parse(String(init.body)) } : {}),
    });
    return new Response(JSON.stringify(answer), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { chat: new ChatApi(new ApiClient({ baseUrl: 'http://x', fetch })), calls };
}

describe('ChatApi: messages that change', () => {
  it('edits, deletes and sets/clears reactions on the message routes (emoji percent-encoded)', async () => {
    const { chat, calls } = api({ message: message(4, { changeSeq: 2 }), changed: true });
    await expect(chat.editMessage(C1, 4, { body: 'new', mentions: [asUserId('u2')] })).resolves.toEqual({
      message: message(4, { changeSeq: 2 }),
      changed: true,
    });
    await chat.editMessage(C1, 4, { body: 'new' });
    await chat.deleteMessage(C1, 4);
    await chat.setReaction(C1, 4, '👍');
    await chat.clearReaction(C1, 4, '👍');
    const base = '/api/chat/conversations/c%201/messages/4';
    const thumbs = encodeURIComponent('👍');
    expect(calls).toEqual([
      { method: 'PATCH', url: base, body: { body: 'new', mentions: ['u2'] } },
      { method: 'PATCH', url: base, body: { body: 'new' } },
      { method: 'DELETE', url: base },
      { method: 'PUT', url: `${base}/reactions/${thumbs}` },
      { method: 'DELETE', url: `${base}/reactions/${thumbs}` },
    ]);
  });

  it('reads `changed: false` for a repeat', async () => {
    const { chat } = api({ message: message(4), changed: false });
    await expect(chat.deleteMessage(C1, 4)).resolves.toMatchObject({ changed: false });
  });

  it('reads changes, a thread, the messages around a seq and one message', async () => {
    const page = api({ messages: [message(2, { changeSeq: 5 })], lastChangeSeq: 5 });
    await expect(page.chat.changes(C1, 4, 200)).resolves.toEqual({
      messages: [message(2, { changeSeq: 5 })],
      lastChangeSeq: 5,
    });
    expect(page.calls[0]?.url).toBe('/api/chat/conversations/c%201/changes?after=4&limit=200');

    const thread = api({
      root: message(1, { replyCount: 1 }),
      messages: [message(3, { replyTo: 1, threadRoot: 1 })],
    });
    await expect(thread.chat.thread(C1, 1, { after: 2, limit: 50 })).resolves.toMatchObject({
      root: { seq: 1 },
      messages: [{ seq: 3 }],
    });
    expect(thread.calls[0]?.url).toBe('/api/chat/conversations/c%201/messages/1/thread?after=2&limit=50');

    const around = api({ messages: [message(9), message(10), message(11)] });
    await expect(around.chat.around(C1, 10, 3)).resolves.toHaveLength(3);
    expect(around.calls[0]?.url).toBe('/api/chat/conversations/c%201/messages?around=10&limit=3');

    const one = api({ messages: [message(7)] });
    await expect(one.chat.message(C1, 7)).resolves.toMatchObject({ seq: 7 });
    expect(one.calls[0]?.url).toBe('/api/chat/conversations/c%201/messages?after=6&limit=1');
    await expect(api({ messages: [] }).chat.message(C1, 7)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('searches with the query and only the filters given, and reads the page', async () => {
    const hit = { message: message(3, { body: 'Deploy done' }), matches: [[0, 6]] };
    const { chat, calls } = api({ hits: [hit], nextCursor: 'n1' });
    await expect(chat.search('deploy é&x')).resolves.toEqual({ hits: [hit], nextCursor: 'n1' });
    await chat.search('"big cat"', {
      conv: C1,
      author: asUserId('u2'),
      after: 10,
      before: 20,
      limit: 50,
      cursor: 'n1',
    });
    expect(calls.map((c) => c.url)).toEqual([
      `/api/chat/search?q=${encodeURIComponent('deploy é&x').replace(/%20/g, '+')}`,
      '/api/chat/search?q=%22big+cat%22&conv=c+1&author=u2&after=10&before=20&limit=50&cursor=n1',
    ]);
    await expect(api({ hits: [] }).chat.search('abc')).resolves.toEqual({ hits: [], nextCursor: null });
    await expect(api({}).chat.search('abc')).rejects.toMatchObject({ code: 'internal' });
  });

  it('stops a search when its signal aborts', async () => {
    const controller = new AbortController();
    const fetch: FetchLike = (_input, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason), { once: true });
      });
    const chat = new ChatApi(new ApiClient({ baseUrl: 'http://x', fetch }));
    const searching = chat.search('abc', { signal: controller.signal });
    controller.abort(new Error('replaced'));
    await expect(searching).rejects.toThrow('replaced');
  });

  it('sends replyTo and mentions over HTTP only when given', async () => {
    const { chat, calls } = api({ clientMsgId: 'a', conv: C1, id: 'm3', seq: 3, ts: 1 });
    await chat.sendMessage(C1, { clientMsgId: 'a', body: 'hi', replyTo: 2, mentions: [asUserId('u2')] });
    await chat.sendMessage(C1, { clientMsgId: 'b', body: 'hi' });
    expect(calls.map((c) => c.body)).toEqual([
      { clientMsgId: 'a', body: 'hi', replyTo: 2, mentions: ['u2'] },
      { clientMsgId: 'b', body: 'hi' },
    ]);
  });
});
