/**
 * Accessibility in Chromium against the embedded launcher: axe-core on every main view (sign-in,
 * create account, the conversation list, an open DM, an open channel, every dialog, the phone
 * layout, dark mode) with no serious or critical violation; touch targets of at least 44 px
 * in the phone layout; the keyboard: Ctrl/Cmd+K switches conversations, Alt+Up/Down moves
 * between them, Escape closes what is open. Prints the per-view axe table.
 */
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { type AxeResult, axeTable, runAxe } from './axe.js';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  type Device,
  expectCount,
  expectText,
  signedInDevice,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

/** Controls on screen smaller than 44 × 44 px (links inside message text are inline, and exempt). */
function smallTargets(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const controls = document.querySelectorAll<HTMLElement>(
      'button, [role="tab"], [role="option"], input:not([type="hidden"]), textarea, select, a[href], label.picker-item',
    );
    for (const el of controls) {
      if (el.closest('.message-text')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const style = getComputedStyle(el);
      if (style.visibility === 'hidden') continue;
      // A control inside a label (a checkbox row, a search field) is reached through it.
      const label = el.closest('label');
      const box = label && el instanceof HTMLInputElement ? label.getBoundingClientRect() : r;
      if (Math.min(box.width, box.height) < 44) {
        const name = el.getAttribute('aria-label') ?? el.textContent?.trim().slice(0, 24) ?? '';
        found.push(
          `${el.tagName.toLowerCase()}.${el.className} "${name}" ${Math.round(box.width)}×${Math.round(box.height)}`,
        );
      }
    }
    return found;
  });
}
const results: AxeResult[] = [];

afterAll(() => {
  if (results.length > 0) console.log(`axe-core results per view (rules violated)\n${axeTable(results)}`);
});

async function check(device: Device, view: string): Promise<void> {
  const result = await runAxe(device.page, view);
  results.push(result);
  expect.soft(result.blocking, `${view}: ${JSON.stringify(result.blocking, null, 1)}`).toEqual([]);
}

/** A small workspace for one user: a DM with news, a channel, a group. */
async function workspace() {
  const { api } = stack();
  const me = await api.account(uniqueName('ally'));
  const peer = await api.account(uniqueName('bo'));
  const third = await api.account(uniqueName('cy'));
  const dm = await api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
  await api.send(peer.token, dm.id, 'Hi! Is the **release** still on for _today_? https://example.com/plan');
  await api.send(me.token, dm.id, 'Yes — at 15:00 `v2.1` 🎉');
  await api.send(peer.token, dm.id, 'Great, see you there.');
  const channel = await api.createConversation(third.token, {
    kind: 'channel',
    name: `ops-${Date.now().toString(36)}`,
  });
  await api.join(me.token, channel.id);
  await api.send(third.token, channel.id, '> quoted\n\n- one\n- two');
  const hello = await api.createConversation(peer.token, { kind: 'dm', with: third.user.id });
  await api.send(third.token, hello.id, 'hello');
  await api.send(me.token, dm.id, 'ok');
  const group = await api.createConversation(peer.token, {
    kind: 'group',
    name: 'Launch crew',
    members: [me.user.id],
  });
  await api.send(peer.token, group.id, 'Kick-off at noon');
  return { me, peer, third, dm, channel, group, channelName: channel.name! };
}

describe('accessibility in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('has no serious or critical axe violation on the desktop views and dialogs', async () => {
    const w = await workspace();
    const device = await stack().newDevice({ bypassCSP: true });
    const { page } = device;
    await page.goto('/');
    await page.getByLabel('Username').waitFor();
    await check(device, 'sign-in');
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByText('3–32 characters').waitFor();
    await check(device, 'create account');

    await signIn(page, w.me.user.username);
    await waitOnline(page);
    await conversationItem(page, 'Launch crew').waitFor();
    await check(device, 'conversation list');
    await conversationItem(page, w.peer.user.username).click();
    await page.locator('[data-testid="message"]').nth(3).waitFor();
    await check(device, 'open DM');
    await conversationItem(page, `#${w.channelName}`).click();
    await page.locator('[data-testid="message"] blockquote').waitFor();
    await check(device, 'open channel');
    // Escape backs out of the leave question.
    await page.getByRole('button', { name: `Leave #${w.channelName}` }).click();
    await page.locator('.header-actions.confirm .danger-button').focus();
    await page.keyboard.press('Escape');
    await expectCount(page.locator('.header-actions.confirm'), 0);
    await page.getByTestId('tab-people').click();
    await page.locator('[data-testid="person"]').first().waitFor();
    await check(device, 'people directory');
    await page.getByTestId('tab-channels').click();
    await page.getByTestId('channel').first().waitFor();
    await check(device, 'channel directory');
    await page.getByTestId('tab-chats').click();

    await page.getByRole('button', { name: 'New group' }).click();
    await page.getByTestId('create-name').waitFor();
    await check(device, 'dialog: new group');
    await page.keyboard.press('Escape');
    await page.getByTestId('tab-channels').click();
    await page.getByTestId('new-channel').click();
    await page.getByTestId('create-name').waitFor();
    await check(device, 'dialog: new channel');
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Notifications' }).click();
    await page.getByTestId('alerts-dialog').waitFor();
    await check(device, 'dialog: notifications');
    await page.keyboard.press('Escape');
    await expectCount(page.getByTestId('alerts-dialog'), 0);

    // Keyboard: Ctrl+K finds a conversation by name, Enter opens it, Escape closes.
    await page.keyboard.press('Control+k');
    await page.getByTestId('switcher-input').waitFor();
    await check(device, 'dialog: conversation switcher');
    await page.keyboard.type('launch');
    await expectCount(page.getByTestId('switcher-option'), 1);
    await page.keyboard.press('Enter');
    await expectText(page.getByTestId('conversation-title'), 'Launch crew');
    await expectCount(page.getByTestId('switcher'), 0);
    await page.keyboard.press('Control+k');
    await page.getByTestId('switcher-input').waitFor();
    await page.keyboard.press('Escape');
    await expectCount(page.getByTestId('switcher'), 0);
    // Alt+↓ / Alt+↑ walk the list in its order.
    await page.getByTestId('tab-chats').click();
    const titles = await page
      .locator('[data-testid="conversation-item"]')
      .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.title));
    const at = titles.indexOf('Launch crew');
    await page.keyboard.press('Alt+ArrowDown');
    await expectText(page.getByTestId('conversation-title'), titles[at + 1]!);
    await page.keyboard.press('Alt+ArrowUp');
    await expectText(page.getByTestId('conversation-title'), 'Launch crew');
    expect(device.errors).toEqual([]);
  });

  it('has no serious or critical axe violation on the phone layout and in dark mode', async () => {
    const w = await workspace();
    const phone = await signedInDevice(stack(), w.me.user.username, {
      viewport: { width: 390, height: 844 },
      bypassCSP: true,
    });
    await conversationItem(phone.page, 'Launch crew').waitFor();
    await check(phone, 'phone: conversation list');
    // The phone list is a page of its own: a main landmark and a level-one heading.
    expect(await phone.page.locator('main').count()).toBe(1);
    expect(await phone.page.getByRole('heading', { level: 1 }).textContent()).toBe('relay');
    expect.soft(await smallTargets(phone.page), 'phone list').toEqual([]);
    await phone.page.getByTestId('tab-people').click();
    await phone.page.locator('[data-testid="person"]').first().waitFor();
    expect.soft(await smallTargets(phone.page), 'phone people').toEqual([]);
    await phone.page.getByTestId('tab-channels').click();
    await phone.page.getByTestId('channel').first().waitFor();
    expect.soft(await smallTargets(phone.page), 'phone channels').toEqual([]);
    await phone.page.getByTestId('tab-chats').click();
    await conversationItem(phone.page, w.peer.user.username).click();
    await phone.page.locator('[data-testid="message"]').nth(3).waitFor();
    await check(phone, 'phone: open DM');
    expect.soft(await smallTargets(phone.page), 'phone DM').toEqual([]);
    await phone.page.keyboard.press('Escape');
    await phone.page.locator('.sidebar').waitFor();
    await phone.page.getByRole('button', { name: 'New group' }).click();
    await phone.page.getByTestId('create-name').waitFor();
    await phone.page.locator('.picker-item').first().waitFor();
    await check(phone, 'phone: dialog new group');
    expect.soft(await smallTargets(phone.page), 'phone new group').toEqual([]);
    await phone.page.keyboard.press('Escape');

    const dark = await signedInDevice(stack(), w.me.user.username, { colorScheme: 'dark', bypassCSP: true });
    await conversationItem(dark.page, 'Launch crew').waitFor();
    await check(dark, 'dark: conversation list');
    await conversationItem(dark.page, w.peer.user.username).click();
    await dark.page.locator('[data-testid="message"]').nth(3).waitFor();
    await check(dark, 'dark: open DM');
    await conversationItem(dark.page, `#${w.channelName}`).click();
    await dark.page.locator('[data-testid="message"] blockquote').waitFor();
    await check(dark, 'dark: open channel');
    await dark.page.getByRole('button', { name: 'New group' }).click();
    await dark.page.getByTestId('create-name').waitFor();
    await check(dark, 'dark: dialog new group');
    await dark.page.keyboard.press('Escape');
    expect(phone.errors).toEqual([]);
    expect(dark.errors).toEqual([]);
  });
});
