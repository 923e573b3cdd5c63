/**
 * Shared set-up of the browser end-to-end tests: the embedded launcher on a free port with a
 * fresh data directory (serving the freshly built web client), Debian's Chromium through
 * playwright-core, a small REST client for seeding, and UI steps used by several tests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Conversation, Message, TokenPair, User } from '@relay-chat/protocol';
import { type EmbeddedServer, startEmbeddedServer } from '@relay-chat/server';
import { freePort } from '@relay-chat/testkit';
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect } from 'vitest';
import { ensureWebBuilt, ROOT } from './web-build.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(ROOT, 'docs/screenshots');
export const PASSWORD = 'correct-horse-9';
/** Time for starting the stack (a first run builds the web client) and for each browser test. */
export const BROWSER_TIMEOUT_MS = 180_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Debian's Chromium, headless, with the flags every browser test runs it with. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface Stack {
  url: string;
  api: RestApi;
  browser: Browser;
  /** A fresh browser context (its own storage: one "device") and a page in it. */
  newDevice(options?: DeviceOptions): Promise<Device>;
  close(): Promise<void>;
}

export interface DeviceOptions {
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** Browser permissions granted to the site, e.g. `['notifications']`. */
  permissions?: string[];
  /** Lets a test inject a script (axe-core) past the page's Content-Security-Policy. */
  bypassCSP?: boolean;
  /** Runs in every page of the device before the page's own scripts (context.addInitScript). */
  initScript?: () => void;
}

export interface Device {
  context: BrowserContext;
  page: Page;
  /** Uncaught page errors and console errors seen so far. */
  errors: string[];
  /** JavaScript dialogs (alert/confirm/prompt) the page opened. */
  dialogs: string[];
}

/** Builds the client if needed, starts the embedded server and Chromium. */
export async function startStack(): Promise<Stack> {
  await ensureWebBuilt();
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-chat-browser-'));
  let server: EmbeddedServer | undefined;
  let browser: Browser | undefined;
  try {
    server = await startEmbeddedServer({
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      // Every test user registers from 127.0.0.1.
      REGISTER_PER_ADDRESS_PER_HOUR: '1000',
    });
    browser = await launchChromium();
  } catch (err) {
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = server.url;
  const contexts: BrowserContext[] = [];
  const openBrowser = browser;
  const openServer = server;
  return {
    url,
    api: new RestApi(url),
    browser,
    async newDevice(options = {}) {
      const context = await openBrowser.newContext({
        baseURL: url,
        viewport: options.viewport ?? { width: 1280, height: 800 },
        colorScheme: options.colorScheme ?? 'light',
        locale: 'en-GB',
        timezoneId: 'Europe/London',
        ...(options.permissions ? { permissions: options.permissions } : {}),
        ...(options.bypassCSP ? { bypassCSP: true } : {}),
      });
      contexts.push(context);
      if (options.initScript) await context.addInitScript(options.initScript);
      const page = await context.newPage();
      const errors: string[] = [];
      const dialogs: string[] = [];
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text()))
          errors.push(`console: ${msg.text()}`);
      });
      page.on('dialog', (dialog) => {
        dialogs.push(`${dialog.type()}: ${dialog.message()}`);
        void dialog.dismiss().catch(() => {});
      });
      return { context, page, errors, dialogs };
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => {});
      await openBrowser.close().catch(() => {});
      await openServer.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the stack before the file's tests and closes it after them (hooks registered at the
 * call site, so call it at the top level of a test file). Returns an accessor for the running
 * stack; calling it outside the tests (before start-up) throws.
 */
export function useStack(): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack();
  }, BROWSER_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.close();
  });
  return () => {
    if (!stack) throw new Error('The browser stack is not running: use it inside a test');
    return stack;
  };
}

let counter = 0;
/** A username unique within the run (lower case, as the server stores them). */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${counter}${Date.now().toString(36).slice(-4)}`;
}

/** The REST API as scripts and bots use it; for seeding data quickly. */
export class RestApi {
  constructor(readonly url: string) {}

  async request<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    // A bot seeding data keeps to the server's pace: a 429 is waited out (Retry-After),
    // a few times, as the SDK does; anything else fails the test.
    let response: Response;
    for (let attempt = 1; ; attempt++) {
      response = await fetch(this.url + path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      if (response.status !== 429 || attempt === 5) break;
      await response.text();
      await new Promise((resolve) =>
        setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? '1')),
      );
    }
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} → ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  async register(username: string, password = PASSWORD): Promise<User> {
    return (await this.request<{ user: User }>('POST', '/api/auth/register', { username, password })).user;
  }

  login(username: string, password = PASSWORD): Promise<TokenPair> {
    return this.request<TokenPair>('POST', '/api/auth/login', { username, password });
  }

  /** Registers and logs in. */
  async account(username: string): Promise<{ user: User; token: string; tokens: TokenPair }> {
    const user = await this.register(username);
    const tokens = await this.login(username);
    return { user, token: tokens.accessToken, tokens };
  }

  async createConversation(token: string, body: Record<string, unknown>): Promise<Conversation> {
    return (
      await this.request<{ conversation: Conversation }>('POST', '/api/chat/conversations', body, token)
    ).conversation;
  }

  async send(token: string, conv: string, body: string): Promise<{ seq: number }> {
    return this.request(
      'POST',
      `/api/chat/conversations/${conv}/messages`,
      {
        clientMsgId: `seed-${crypto.randomUUID()}`,
        body,
      },
      token,
    );
  }

  async markRead(token: string, conv: string, seq: number): Promise<void> {
    await this.request('POST', `/api/chat/conversations/${conv}/read`, { seq }, token);
  }

  async join(token: string, conv: string): Promise<void> {
    await this.request('POST', `/api/chat/conversations/${conv}/join`, undefined, token);
  }

  async history(token: string, conv: string, query = ''): Promise<Message[]> {
    return (
      await this.request<{ messages: Message[] }>(
        'GET',
        `/api/chat/conversations/${conv}/messages${query}`,
        undefined,
        token,
      )
    ).messages;
  }
}

// ---------------------------------------------------------------------------- UI steps

/** Registers through the sign-up form and waits for the chat screen. */
export async function signUp(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.goto('/');
  await page.getByRole('tab', { name: 'Create account' }).click();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByTestId('auth-submit').click();
  await expectText(page.getByTestId('account-name'), username, 30_000);
}

/** Signs in through the form and waits for the chat screen. */
export async function signIn(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByTestId('auth-submit').click();
  await expectText(page.getByTestId('account-name'), username, 30_000);
}

/** Waits until the live connection is up (the account footer says Online). */
export async function waitOnline(page: Page): Promise<void> {
  await expectText(page.locator('.account-status'), 'Online', 30_000);
}

/** A new device (see Stack.newDevice) signed in through the form, its live connection up. */
export async function signedInDevice(
  stack: Stack,
  username: string,
  options?: DeviceOptions,
): Promise<Device> {
  const device = await stack.newDevice(options);
  await signIn(device.page, username);
  await waitOnline(device.page);
  return device;
}

/** The sidebar entry of a conversation, by its shown title ("bob", "#general"). */
export function conversationItem(page: Page, title: string) {
  return page.locator(`[data-testid="conversation-item"][data-title="${title}"]`);
}

/** Opens the People tab, finds a user and opens the DM with them. */
export async function openDmWith(page: Page, username: string): Promise<void> {
  await page.getByTestId('tab-people').click();
  await page.getByTestId('people-search').fill(username);
  await page.locator(`[data-testid="person"][data-username="${username}"]`).click();
  await expectText(page.getByTestId('conversation-title'), username);
}

/** Types into the composer and presses Enter. */
export async function sendFromComposer(page: Page, text: string): Promise<void> {
  const input = page.getByTestId('composer-input');
  await input.fill(text);
  await input.press('Enter');
}

/** The rendered text of every stored message in the open conversation. */
export function messageTexts(page: Page): Promise<string[]> {
  return page.locator('[data-testid="message"] .message-text').allTextContents();
}

/** Waits until the (first) element's text is `text`. */
export async function expectText(locator: Locator, text: string, timeout = 20_000): Promise<void> {
  await expect.poll(() => locator.first().textContent({ timeout }), { timeout }).toBe(text);
}

/** Waits until the number of matching elements is `count`. */
export async function expectCount(locator: Locator, count: number, timeout = 20_000): Promise<void> {
  await expect.poll(() => locator.count(), { timeout }).toBe(count);
}
