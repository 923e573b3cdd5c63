/**
 * `npm start`'s launcher as a user runs it: a real process on a real port, SQLite files in a
 * data directory, the in-process bus; two users chat through the SDK.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { asUserId, type Message } from '@relay-chat/protocol';
import { ChatClient, type WebSocketConstructor } from '@relay-chat/sdk';
import { freePort, waitFor } from '@relay-chat/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ensureWebBuilt } from '../browser/web-build.js';
import { registerUser, request, type TestUser } from '../support/http.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
let child: ChildProcess;
let url: string;
let dataDir: string;
let output = '';

beforeAll(async () => {
  await ensureWebBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'relay-embedded-'));
  const port = await freePort();
  child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/server/src/main.ts'], {
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const match = await waitFor(() => /relay-chat is running at (http:\/\/\S+)/.exec(output), {
    timeoutMs: 60_000,
    what: `the launcher to print its URL (output so far: ${output})`,
  });
  url = match[1]!;
}, 90_000);

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

function client(user: TestUser): { chat: ChatClient; received: Message[] } {
  const received: Message[] = [];
  const chat = new ChatClient({
    url: `${url.replace('http', 'ws')}/ws`,
    getToken: () => user.accessToken,
    WebSocket: WebSocket as unknown as WebSocketConstructor,
  });
  chat.on('message', (m) => received.push(m));
  chat.connect();
  return { chat, received };
}

describe('the embedded launcher', () => {
  it('prints its URL and keeps its SQLite files in DATA_DIR', () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['auth.db', 'chat.db']));
  });

  it('serves the web client: the app shell revalidated, hashed assets cached for good, client routes to the shell', async () => {
    const shell = await fetch(url);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('cache-control')).toBe('no-cache');
    const html = await shell.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const script = await fetch(new URL(asset!, url));
    expect(script.headers.get('cache-control')).toContain('immutable');
    const route = await fetch(new URL('/c/some-conversation', url));
    expect(route.headers.get('content-type')).toContain('text/html');
    const api = await request(url, 'GET', '/api/chat/nope');
    expect(api.status).toBe(404);
    expect(api.body).toMatchObject({ error: { code: 'not_found' } });
  });

  it('lets two users register, exchange a DM over the SDK, see presence and unread counts, and read history', async () => {
    const [ann, ben] = await Promise.all([registerUser(url, 'ann'), registerUser(url, 'ben')]);
    const a = client(ann);
    const dm = await a.chat.api.createConversation({ kind: 'dm', with: asUserId(ben.id) });
    await waitFor(() => a.chat.state === 'open', { what: 'ann connected' });

    for (const body of ['hi ben', 'are you there?']) await a.chat.send(dm.id, body).acked;
    const b = client(ben);
    await waitFor(() => b.chat.state === 'open' && b.chat.conversation(dm.id) !== undefined, {
      what: 'ben ready',
    });
    expect(b.chat.conversation(dm.id)).toMatchObject({ unread: 2, lastSeq: 2 });
    await waitFor(() => a.chat.isOnline(asUserId(ben.id)), { what: 'ann to see ben online' });

    await b.chat.send(dm.id, 'yes!').acked;
    await waitFor(() => a.received.some((m) => m.body === 'yes!'), { what: 'ann to receive the reply' });

    const history = await b.chat.api.history(dm.id, { limit: 50 });
    expect(history.map((m) => [m.seq, m.body])).toEqual([
      [1, 'hi ben'],
      [2, 'are you there?'],
      [3, 'yes!'],
    ]);
    b.chat.close();
    await waitFor(() => !a.chat.isOnline(asUserId(ben.id)), { what: 'ann to see ben offline' });
    a.chat.close();
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    // The launcher forces an exit (code 1) 15 s after SIGTERM; say what it printed if it gets there.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit 20 s after SIGTERM; output: ${output}`)), 20_000);
    });
    const code = await Promise.race([exited, late]).finally(() => clearTimeout(timer));
    expect(code, `exit code; output: ${output}`).toBe(0);
  }, 30_000);
});
