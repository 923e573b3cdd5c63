/**
 * The web client when the live connection fails, in Chromium against the embedded launcher:
 * the reconnecting banner, the gap filled in after reconnecting, and messages written while
 * disconnected (even across a reload) sent exactly once when the connection is back.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  expectCount,
  expectText,
  messageTexts,
  SCREENSHOTS,
  sendFromComposer,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';
import { blockSockets, controlSockets, cutSockets } from './sockets.js';

const stack = useStack();

describe('web client with a failing connection', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('shows a banner while the connection is down and fills in what was missed', async () => {
    const sender = await stack().api.account(uniqueName('pat'));
    const readerName = uniqueName('quinn');
    const reader = await stack().api.account(readerName);
    const dm = await stack().api.createConversation(sender.token, { kind: 'dm', with: reader.user.id });
    await stack().api.send(sender.token, dm.id, 'before the outage');
    const device = await stack().newDevice();
    const { page, context } = device;
    // Chromium's offline mode stops new connections but leaves an open WebSocket alone, so the
    // test keeps a handle on the page's sockets to cut the live one like a network loss would.
    await controlSockets(context);
    await signIn(page, readerName);
    await conversationItem(page, sender.user.username).click();
    await waitOnline(page);
    await expect.poll(() => messageTexts(page)).toEqual(['before the outage']);

    await context.setOffline(true);
    await cutSockets(page);
    await page.getByTestId('connection-banner').waitFor();
    await expectText(page.locator('.account-status'), 'Offline');
    for (const text of ['missed one', 'missed two', 'missed three'])
      await stack().api.send(sender.token, dm.id, text);
    // A message written while offline waits as "Sending…" and goes out once back.
    await sendFromComposer(page, 'written while offline');
    await expectText(page.locator('[data-testid="pending-message"] .message-sending'), 'Sending…');
    expect(await messageTexts(page)).toEqual(['before the outage']);
    await page.screenshot({ path: join(SCREENSHOTS, 'offline.png') });

    await context.setOffline(false);
    await waitOnline(page);
    await expectCount(page.getByTestId('connection-banner'), 0);
    await expect
      .poll(() => messageTexts(page))
      .toEqual(['before the outage', 'missed one', 'missed two', 'missed three', 'written while offline']);
    await expectCount(page.getByTestId('pending-message'), 0);
    await expectCount(page.locator('[data-testid="message"] [data-status="sent"]'), 1);
    expect(device.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([]);
  });

  it('keeps an unsent message across a reload and sends it once the connection is back', async () => {
    const peer = await stack().api.account(uniqueName('ray'));
    const name = uniqueName('sky');
    const me = await stack().api.account(name);
    const dm = await stack().api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
    await stack().api.send(peer.token, dm.id, 'ping');
    const device = await stack().newDevice();
    const { page, context } = device;
    await controlSockets(context);
    await signIn(page, name);
    await conversationItem(page, peer.user.username).click();
    await waitOnline(page);

    await blockSockets(page, true);
    await cutSockets(page);
    await page.getByTestId('connection-banner').waitFor();
    await sendFromComposer(page, 'pong, written before the reload');
    await expectText(page.locator('[data-testid="pending-message"] .message-sending'), 'Sending…');

    // Still no live connection after the reload: the list comes over REST, the message waits.
    await page.reload();
    await expectText(
      page.locator('[data-testid="pending-message"] .message-text'),
      'pong, written before the reload',
    );
    await page.getByTestId('connection-banner').waitFor();

    await blockSockets(page, false);
    await page.evaluate(() => window.dispatchEvent(new Event('online')));
    await waitOnline(page);
    await expect.poll(() => messageTexts(page)).toEqual(['ping', 'pong, written before the reload']);
    await expectCount(page.getByTestId('pending-message'), 0);
    const stored = await stack().api.history(peer.token, dm.id);
    expect(stored.map((m) => m.body)).toEqual(['ping', 'pong, written before the reload']);
    expect(
      await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('relay-chat.outbox'))),
    ).toEqual([]);
    expect(device.errors.filter((e) => !/WebSocket/.test(e))).toEqual([]);
  });
});
