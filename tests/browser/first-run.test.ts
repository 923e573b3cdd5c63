/**
 * A newcomer alone on a fresh install, in Chromium against the embedded launcher: the empty
 * states offer the next action as buttons (start a DM, join or create a channel, invite
 * someone), and a second person who signs up can be messaged at once.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { axeTable, runAxe } from './axe.js';
import {
  BROWSER_TIMEOUT_MS,
  expectCount,
  expectText,
  SCREENSHOTS,
  signUp,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

describe('first run in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('offers the next actions as buttons and gets a newcomer talking', async () => {
    const device = await stack().newDevice({
      permissions: ['clipboard-read', 'clipboard-write'],
      bypassCSP: true,
    });
    const { page } = device;
    const name = uniqueName('first');
    await signUp(page, name);
    await waitOnline(page);

    // The main pane says what to do next, with buttons.
    const pane = page.locator('.empty-pane');
    await expect
      .poll(async () => (await pane.getByRole('button').allTextContents()).map((t) => t.trim()))
      .toEqual(['Start a direct message', 'Join a channel', 'Create a channel']);
    await page.mouse.move(900, 100);
    await page.screenshot({ path: join(SCREENSHOTS, 'first-run.png') });
    const axe = await runAxe(page, 'first run (empty states)');
    console.log(`axe-core results per view (rules violated)\n${axeTable([axe])}`);
    expect(axe.blocking).toEqual([]);

    // Alone: the People list invites someone.
    await pane.getByTestId('action-find-people').click();
    await expect.poll(() => page.getByTestId('tab-people').getAttribute('aria-selected')).toBe('true');
    const empty = page.getByTestId('people-empty');
    await empty.waitFor();
    await empty.getByTestId('copy-invite-link').click();
    await expectText(empty.getByRole('status'), 'Copied.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(new URL(page.url()).origin);

    // The channel actions: the directory, and the create dialog.
    await pane.getByTestId('action-browse-channels').click();
    await expect.poll(() => page.getByTestId('tab-channels').getAttribute('aria-selected')).toBe('true');
    await page.getByTestId('channel-list').waitFor({ state: 'attached' });
    await pane.getByTestId('action-create-channel').click();
    await page.getByTestId('create-name').fill('hello-world');
    await page.getByTestId('create-submit').click();
    await expectText(page.getByTestId('conversation-title'), '#hello-world');

    // A second person signs up: one click starts the DM.
    const friend = uniqueName('second');
    await stack().api.register(friend);
    await page.getByTestId('tab-people').click();
    await page.locator(`[data-testid="person"][data-username="${friend}"]`).click({ timeout: 30_000 });
    await expectText(page.getByTestId('conversation-title'), friend);
    await expectCount(page.getByTestId('people-empty'), 0);
    expect(device.errors).toEqual([]);
  });
});
