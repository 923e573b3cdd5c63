/**
 * Notifications in Chromium against the embedded launcher: permission asked only from the
 * settings button, a desktop notification for a DM while the tab is hidden (clicking it opens
 * the conversation), the sound, the unread count in the title and the favicon, and "Mark all
 * as read". The page's Notification and AudioContext are wrapped by an init script so the
 * test sees what would be shown and played; the permission itself is the browser's.
 */
import { join } from 'node:path';
import type { Conversation } from '@relay-chat/protocol';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  expectCount,
  expectText,
  SCREENSHOTS,
  signedInDevice,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

interface Shown {
  title: string;
  body: string;
  tag: string;
  closed: boolean;
}

/** Installed before any page script. The site starts without a decision, as in a fresh browser. */
function recordAlerts(): void {
  const Native = window.Notification;
  const w = window as unknown as Record<string, unknown>;
  const shown: Array<EventTarget & Record<string, unknown>> = [];
  let asked = false;
  w.__notes = shown;
  w.__permissionAsks = 0;
  w.__beeps = 0;
  class Recorded extends EventTarget {
    title: string;
    body: string;
    tag: string;
    closed = false;
    onclick: (() => void) | null = null;
    constructor(title: string, options: NotificationOptions = {}) {
      super();
      this.title = title;
      this.body = options.body ?? '';
      this.tag = options.tag ?? '';
      shown.push(this as unknown as EventTarget & Record<string, unknown>);
    }
    close() {
      this.closed = true;
    }
    static get permission() {
      return asked ? Native.permission : 'default';
    }
    static requestPermission() {
      asked = true;
      w.__permissionAsks = (w.__permissionAsks as number) + 1;
      return Native.requestPermission();
    }
  }
  w.Notification = Recorded;
  let hidden = false;
  Object.defineProperty(document, 'visibilityState', { get: () => (hidden ? 'hidden' : 'visible') });
  Object.defineProperty(document, 'hidden', { get: () => hidden });
  w.__setHidden = (value: boolean) => {
    hidden = value;
    document.dispatchEvent(new Event('visibilitychange'));
  };
  const NativeAudio = window.AudioContext;
  w.AudioContext = class extends NativeAudio {
    override createOscillator() {
      w.__beeps = (w.__beeps as number) + 1;
      return super.createOscillator();
    }
  };
}

const notes = (page: Page) =>
  page.evaluate(() =>
    ((window as unknown as { __notes: Shown[] }).__notes ?? []).map(({ title, body, tag, closed }) => ({
      title,
      body,
      tag,
      closed,
    })),
  );
const setHidden = (page: Page, hidden: boolean) =>
  page.evaluate((h) => (window as unknown as { __setHidden: (h: boolean) => void }).__setHidden(h), hidden);
const counter = (page: Page, name: '__permissionAsks' | '__beeps') =>
  page.evaluate((n) => (window as unknown as Record<string, number>)[n], name);

async function serverView(token: string, conv: string): Promise<Conversation> {
  return (
    await stack().api.request<{ conversation: Conversation }>(
      'GET',
      `/api/chat/conversations/${conv}`,
      undefined,
      token,
    )
  ).conversation;
}

describe('notifications in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('asks only from the button, notifies for a hidden DM, and marks all as read', async () => {
    const { api } = stack();
    const sender = await api.account(uniqueName('zed'));
    const other = await api.account(uniqueName('abe'));
    const name = uniqueName('bea');
    const reader = await api.account(name);
    const dm = await api.createConversation(sender.token, { kind: 'dm', with: reader.user.id });
    const dm2 = await api.createConversation(other.token, { kind: 'dm', with: reader.user.id });

    const device = await signedInDevice(stack(), name, {
      permissions: ['notifications'],
      initScript: recordAlerts,
    });
    const { page } = device;
    expect(await page.title()).toBe('relay');

    // Hidden, but notifications are not turned on: the title counts, nothing pops up.
    await setHidden(page, true);
    await api.send(sender.token, dm.id, 'first, before any permission');
    await expect.poll(() => page.title()).toBe('(1) relay');
    expect(await notes(page)).toEqual([]);
    expect(await counter(page, '__permissionAsks')).toBe(0);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toMatch(/^data:image\/png;base64,/);
    await setHidden(page, false);

    // The settings: turn desktop notifications and the sound on.
    await page.getByRole('button', { name: 'Notifications' }).click();
    const dialog = page.getByTestId('alerts-dialog');
    await expectText(dialog.getByTestId('desktop-status'), 'Off');
    await dialog.getByTestId('desktop-toggle').click();
    await expectText(dialog.getByTestId('desktop-status'), 'On');
    expect(await counter(page, '__permissionAsks')).toBe(1);
    await dialog.getByTestId('sound-toggle').check();
    await page.screenshot({ path: join(SCREENSHOTS, 'notifications.png') });
    await page.keyboard.press('Escape');
    await expectCount(dialog, 0);

    // Hidden again: a DM pops up, with a beep.
    await setHidden(page, true);
    await api.send(sender.token, dm.id, 'are you\n\nthere?');
    await expect
      .poll(() => notes(page))
      .toEqual([{ title: sender.user.username, body: 'are you there?', tag: dm.id, closed: false }]);
    expect(await counter(page, '__beeps')).toBeGreaterThan(0);
    expect(await page.title()).toBe('(2) relay');

    // Clicking it opens the conversation; reading it closes the notification.
    await setHidden(page, false);
    await page.evaluate(() =>
      (window as unknown as { __notes: Array<{ onclick: () => void }> }).__notes[0]!.onclick(),
    );
    await expectText(page.getByTestId('conversation-title'), sender.user.username);
    expect(page.url()).toContain(`#/c/${dm.id}`);
    await expect.poll(async () => (await notes(page))[0]?.closed).toBe(true);
    await expect.poll(() => page.title()).toBe(`${sender.user.username} · relay`);
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('/favicon.svg');

    // Mark all as read: two conversations with news, cleared here and on the server.
    await page.goto('/#/');
    await waitOnline(page);
    await api.send(sender.token, dm.id, 'one more');
    await api.send(other.token, dm2.id, 'hello from abe');
    await api.send(other.token, dm2.id, 'and again');
    await expectText(conversationItem(page, other.user.username).getByTestId('unread-badge'), '2');
    await expectText(conversationItem(page, sender.user.username).getByTestId('unread-badge'), '1');
    await page.getByRole('button', { name: 'Notifications' }).click();
    await dialog.getByTestId('mark-all-read').click();
    await expectCount(page.getByTestId('unread-badge'), 0);
    await expect.poll(async () => (await serverView(reader.token, dm.id)).unread).toBe(0);
    await expect.poll(async () => (await serverView(reader.token, dm2.id)).unread).toBe(0);
    expect(await dialog.getByTestId('mark-all-read').isDisabled()).toBe(true);
    expect(device.errors).toEqual([]);
  });
});
