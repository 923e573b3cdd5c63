/**
 * Message search over HTTP on the embedded server (SQLite): the hits a member sees with
 * their highlight ranges, paging with the cursor, membership, the client-made id shown to
 * its sender only, hostile queries answered with results or a typed `validation_failed`
 * (never a 500), a forged cursor, and the per-user search budget.
 */
import type { Conversation, SearchResponse } from '@relay-chat/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/embedded.js';
import { createChannel, registerUser, request, type TestUser } from '../support/http.js';

let t: TestServer;
let ann: TestUser;
let ben: TestUser;
let cal: TestUser;
let channel: Conversation;

beforeAll(async () => {
  t = await startTestServer({ SEARCH_RATE_PER_SEC: '1', SEARCH_BURST: '60', REFUSAL_DELAY_MS: '0' });
  const suffix = Date.now().toString(36);
  const [a, b, c] = await Promise.all(
    ['ann', 'ben', 'cal'].map((n) => registerUser(t.url, `${n}-${suffix}`)),
  );
  [ann, ben, cal] = [a!, b!, c!];
  channel = await createChannel(t.url, ann, `search-${suffix}`, [ben]);
  let n = 0;
  const post = (user: TestUser, body: string) =>
    request(t.url, 'POST', `/api/chat/conversations/${channel.id}/messages`, {
      token: user.accessToken,
      body: { clientMsgId: `s-${n++}`, body },
    });
  await post(ann, 'The Deployment of **Café** failed');
  await post(ben, 'we deploy on Fridays 🚀');
  for (let i = 0; i < 25; i++) await post(ben, `nightly report ${i}`);
  await post(ann, '東京タワーに行きました');
}, 120_000);

afterAll(async () => {
  await t?.close();
});

type ErrorBody = { error: { code: string; fields?: { field: string }[] } };

function search(user: TestUser, params: Record<string, string | number>) {
  const query = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
  return request<SearchResponse & ErrorBody>(t.url, 'GET', `/api/chat/search?${query}`, {
    token: user.accessToken,
  });
}

describe('GET /api/chat/search', () => {
  it('finds words, prefixes and substrings with the ranges to highlight', async () => {
    const res = await search(ben, { q: 'deploy cafe' });
    expect(res.status).toBe(200);
    expect(res.body.hits).toHaveLength(1);
    const [hit] = res.body.hits;
    expect(hit!.message.body).toBe('The Deployment of **Café** failed');
    expect(hit!.matches.map(([s, e]) => hit!.message.body.slice(s, e))).toEqual(['Deploy', 'Café']);
    // The client-made id is its sender's only.
    expect(hit!.message.clientMsgId).toBeUndefined();
    const own = await search(ann, { q: 'deploy cafe' });
    expect(own.body.hits[0]!.message.clientMsgId).toBe('s-0');

    const words = await search(ann, { q: 'deploy' });
    expect(words.body.hits.map((h) => h.message.body)).toEqual([
      'we deploy on Fridays 🚀',
      'The Deployment of **Café** failed',
    ]);
    const cjk = await search(ann, { q: 'タワー' });
    expect(cjk.body.hits.map((h) => h.message.seq)).toHaveLength(1);
    const [s, e] = cjk.body.hits[0]!.matches[0]!;
    expect(cjk.body.hits[0]!.message.body.slice(s, e)).toBe('タワー');
    expect((await search(ann, { q: '🚀' })).body.hits).toHaveLength(1);
  });

  it('pages through every hit exactly once with the cursor', async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 10; page++) {
      const res = await search(ann, { q: 'nightly', limit: 7, ...(cursor ? { cursor } : {}) });
      expect(res.status).toBe(200);
      seen.push(...res.body.hits.map((h) => h.message.seq));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(cursor).toBeNull();
    expect(seen).toHaveLength(25);
    expect([...seen].sort((a, b) => b - a)).toEqual(seen);
  });

  it('shows nothing of conversations the caller is not a member of', async () => {
    const res = await search(cal, { q: 'deploy' });
    expect(res.status).toBe(200);
    expect(res.body.hits).toEqual([]);
    const scoped = await search(cal, { q: 'deploy', conv: channel.id });
    expect(scoped.body.hits).toEqual([]);
  });

  it('answers hostile queries with results or validation_failed, never a server error', async () => {
    const hostile = [
      '"',
      '""',
      '"unbalanced phrase',
      '!!!???...',
      "'; DROP TABLE messages; --",
      '%',
      '_%_',
      '\\',
      '.*',
      '(a|b)*c+',
      'NEAR(deploy cafe)',
      'deploy OR 1=1',
      '* AND *',
      '\u0000\u0001',
      'a',
      '🚀🚀🚀',
      ' '.repeat(200),
      'x'.repeat(256),
      'deploy '.repeat(30),
    ];
    for (const q of hostile) {
      const res = await search(ann, { q });
      expect([200, 400], `${JSON.stringify(q)} → ${res.status}`).toContain(res.status);
      if (res.status === 400) expect(res.body.error.code, JSON.stringify(q)).toBe('validation_failed');
      else expect(Array.isArray(res.body.hits)).toBe(true);
    }
    const long = await search(ann, { q: 'x'.repeat(10_000) });
    expect([long.status, long.body.error.code]).toEqual([400, 'validation_failed']);
    const empty = await search(ann, { q: '' });
    expect([empty.status, empty.body.error.code]).toEqual([400, 'validation_failed']);
    const single = await search(ann, { q: 'a' });
    expect([single.status, single.body.error.code, single.body.error.fields?.[0]?.field]).toEqual([
      400,
      'validation_failed',
      '/q',
    ]);
  });

  it('refuses a cursor it did not make and filters that cannot match', async () => {
    for (const cursor of ['nope', Buffer.from('{"t":3,"p":"1"}').toString('base64url'), '!!']) {
      const res = await search(ann, { q: 'nightly', cursor });
      expect([res.status, res.body.error.code, res.body.error.fields?.[0]?.field]).toEqual([
        400,
        'validation_failed',
        '/cursor',
      ]);
    }
    const res = await search(ann, { q: 'nightly', after: 2000, before: 1000 });
    expect([res.status, res.body.error.code]).toEqual([400, 'validation_failed']);
    const tooMany = await search(ann, { q: 'nightly', limit: 51 });
    expect([tooMany.status, tooMany.body.error.code]).toEqual([400, 'validation_failed']);
    const unknown = await request<ErrorBody>(t.url, 'GET', '/api/chat/search?q=nightly&sort=relevance', {
      token: ann.accessToken,
    });
    expect(unknown.status).toBe(400);
  });

  it('keeps to the per-user search budget', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 70; i++) answers.push((await search(cal, { q: 'nothing here' })).status);
    expect(answers.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(answers.every((s) => s === 200 || s === 429)).toBe(true);
    // Another user is not held back by it.
    expect((await search(ben, { q: 'nightly' })).status).toBe(200);
  }, 60_000);
});

describe('GET /api/chat/search with SEARCH_INDEX=off', () => {
  it('stores and serves messages but answers every search with forbidden', async () => {
    const off = await startTestServer({ SEARCH_INDEX: 'off', REFUSAL_DELAY_MS: '0' });
    try {
      const suffix = Date.now().toString(36);
      const [a, b] = await Promise.all(['dee', 'eve'].map((n) => registerUser(off.url, `${n}-${suffix}`)));
      const room = await createChannel(off.url, a!, `off-${suffix}`, [b!]);
      const sent = await request(off.url, 'POST', `/api/chat/conversations/${room.id}/messages`, {
        token: a!.accessToken,
        body: { clientMsgId: 'off-1', body: 'nothing indexed here' },
      });
      expect(sent.status).toBe(201);
      const page = await request<{ messages: { body: string }[] }>(
        off.url,
        'GET',
        `/api/chat/conversations/${room.id}/messages`,
        { token: b!.accessToken },
      );
      expect(page.body.messages.map((m) => m.body)).toEqual(['nothing indexed here']);
      const res = await request<ErrorBody>(off.url, 'GET', '/api/chat/search?q=indexed', {
        token: b!.accessToken,
      });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    } finally {
      await off.close();
    }
  });
});
