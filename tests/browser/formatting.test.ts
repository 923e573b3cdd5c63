/**
 * Message formatting in Chromium against the embedded launcher: the Markdown subset as
 * elements (code in a monospace font, emoji in colour), very long messages collapsed behind
 * "Show more", and drafts kept per conversation across a reload and marked in the list.
 */
import { join } from 'node:path';
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

const FORMATTED = [
  'Release notes for **v2.1** — _finally_ ~~next week~~ today 🎉',
  '',
  '> The build is green again.',
  '',
  '- run `npm ci`',
  '- then `npm start`',
  '',
  '```',
  'const answer = 42; // <b>not bold</b>',
  '```',
  '',
  'Details: [the changelog](https://example.com/changelog)',
].join('\n');

describe('formatting in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('renders the Markdown subset, collapses long messages, and keeps drafts', async () => {
    const { api } = stack();
    const peer = await api.account(uniqueName('cal'));
    const other = await api.account(uniqueName('dot'));
    const name = uniqueName('eve');
    const me = await api.account(name);
    const dm = await api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
    const dm2 = await api.createConversation(other.token, { kind: 'dm', with: me.user.id });
    await api.send(peer.token, dm.id, FORMATTED);
    const long = Array.from({ length: 40 }, (_, i) => `line ${i + 1} of a very long paste`).join('\n');
    await api.send(peer.token, dm.id, long);
    await api.send(other.token, dm2.id, 'hi there');

    const device = await signedInDevice(stack(), name, { viewport: { width: 1360, height: 900 } });
    const { page } = device;
    await conversationItem(page, peer.user.username).click();
    const first = page.locator('[data-testid="message"]').first();
    await first.locator('strong').waitFor();

    // The subset as elements.
    expect(await first.locator('strong').textContent()).toBe('v2.1');
    expect(await first.locator('em').textContent()).toBe('finally');
    expect(await first.locator('del').textContent()).toBe('next week');
    expect(await first.locator('blockquote').textContent()).toContain('The build is green again.');
    expect(await first.locator('ul > li').allTextContents()).toEqual(['run npm ci', 'then npm start']);
    expect(await first.locator('pre code').textContent()).toBe('const answer = 42; // <b>not bold</b>\n');
    expect(await first.locator('pre b, .message-text b').count()).toBe(0);
    const codeFont = await first.locator('pre code').evaluate((el) => getComputedStyle(el).fontFamily);
    expect(codeFont).toMatch(/monospace/);
    const link = first.locator('a');
    expect(await link.getAttribute('href')).toBe('https://example.com/changelog');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    // Emoji in colour: the font stack names a colour emoji font, and the browser has it.
    const bodyFont = await first.locator('.message-text').evaluate((el) => getComputedStyle(el).fontFamily);
    expect(bodyFont).toContain('Noto Color Emoji');
    expect(await page.evaluate(() => document.fonts.check('16px "Noto Color Emoji"', '🎉'))).toBe(true);

    // The long paste starts collapsed; Show more opens it.
    const longRow = page.locator('[data-testid="message"]').nth(1);
    const toggle = longRow.getByTestId('show-more');
    expect(await toggle.getAttribute('aria-expanded')).toBe('false');
    const collapsed = await longRow.boundingBox();
    await toggle.click();
    await expectText(toggle, 'Show less');
    const expanded = await longRow.boundingBox();
    expect(expanded!.height).toBeGreaterThan(collapsed!.height * 2);
    await toggle.click();
    await expectText(toggle, 'Show more');
    await page.mouse.move(900, 100);
    await page.screenshot({ path: join(SCREENSHOTS, 'formatting.png') });

    // A draft stays with its conversation, across a reload, and the list marks it.
    const input = page.getByTestId('composer-input');
    await input.fill('half-written *reply*');
    await conversationItem(page, other.user.username).click();
    await expectText(page.getByTestId('conversation-title'), other.user.username);
    const peerRow = conversationItem(page, peer.user.username);
    await expectText(peerRow.getByTestId('draft-preview'), 'Draft: half-written *reply*');
    await page.reload();
    await waitOnline(page);
    await expectText(peerRow.getByTestId('draft-preview'), 'Draft: half-written *reply*');
    await peerRow.click();
    await expect.poll(() => input.inputValue()).toBe('half-written *reply*');
    await input.press('Enter');
    await expectCount(page.locator('[data-testid="message"] [data-status="sent"]'), 1);
    await conversationItem(page, other.user.username).click();
    await expectCount(peerRow.getByTestId('draft-preview'), 0);
    expect(
      await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('relay-chat.drafts'))),
    ).toEqual([]);
    expect(device.errors).toEqual([]);
  });
});
