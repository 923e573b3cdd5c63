/**
 * What the web client says was read, and what it shows about others, in Chromium against the
 * embedded launcher: the read marker follows what was on screen (issue 12, bug 1), a channel
 * joined right after its last message shows that message in the list (bug 3), and presence
 * is shown as unknown while the client is disconnected (bug 4).
 */
import type { Conversation } from '@relay-chat/protocol';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  expectCount,
  expectText,
  messageTexts,
  signedInDevice,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';
import { controlSockets, cutSockets } from './sockets.js';

const stack = useStack();

async function serverView(token: string, conv: string): Promise<Conversation> {
  const answer = await stack().api.request<{ conversation: Conversation }>(
    'GET',
    `/api/chat/conversations/${conv}`,
    undefined,
    token,
  );
  return answer.conversation;
}

/** The seq of the last message row whose whole height is inside the scroller. */
function lastFullyVisibleSeq(page: Page): Promise<number> {
  return page.getByTestId('message-scroller').evaluate((scroller) => {
    const box = scroller.getBoundingClientRect();
    let last = 0;
    for (const row of scroller.querySelectorAll<HTMLElement>('li[data-seq]')) {
      const r = row.getBoundingClientRect();
      if (r.top >= box.top - 1 && r.bottom <= box.bottom + 1) last = Number(row.dataset.seq);
    }
    return last;
  });
}

describe('reading and presence in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('moves the read marker only past what was on screen; other devices keep their badge', async () => {
    const { api } = stack();
    const sender = await api.account(uniqueName('ros'));
    const readerName = uniqueName('tam');
    const reader = await api.account(readerName);
    const dm = await api.createConversation(sender.token, { kind: 'dm', with: reader.user.id });
    await api.send(reader.token, dm.id, 'ask me anything');
    for (let i = 1; i <= 150; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, k) => api.send(sender.token, dm.id, `question ${i + k}`)),
      );
    }
    const total = 151;

    const phone = await stack().newDevice();
    const desk = await stack().newDevice();
    await signIn(phone.page, readerName);
    await signIn(desk.page, readerName);
    await waitOnline(desk.page);
    const senderRow = (page: Page) => conversationItem(page, sender.user.username);
    await expectText(senderRow(phone.page).getByTestId('unread-badge'), '99+');

    await senderRow(desk.page).click();
    const divider = desk.page.getByTestId('unread-divider');
    await divider.waitFor();
    // The pill offers the unread messages below the fold.
    const pill = desk.page.getByTestId('new-messages-pill');
    await pill.waitFor();
    // The marker reaches what is on screen…
    const visible = await lastFullyVisibleSeq(desk.page);
    expect(visible).toBeGreaterThan(1);
    expect(visible).toBeLessThan(total);
    await expect.poll(async () => (await serverView(reader.token, dm.id)).lastReadSeq).toBe(visible);
    // …and no further, even once the last page and a later round trip are through: a new
    // message from the sender reaches the open view only after anything queued before it.
    await api.send(sender.token, dm.id, 'still there?');
    await expectText(pill, `${total + 1 - visible} new messages`);
    expect((await serverView(reader.token, dm.id)).lastReadSeq).toBe(visible);
    // The other device was told the marker moved, not that everything was read.
    await expect.poll(() => senderRow(phone.page).textContent()).toContain(`${total + 1 - visible} unread`);

    // Scrolling down reads the rest, on every device.
    await pill.click();
    await expect
      .poll(async () => (await serverView(reader.token, dm.id)).lastReadSeq, { timeout: 20_000 })
      .toBe(total + 1);
    await expectCount(senderRow(phone.page).getByTestId('unread-badge'), 0);
    await expectCount(pill, 0);
    for (const device of [phone, desk]) expect(device.errors).toEqual([]);
  });

  it('shows the last message in the list after joining a channel right after it was sent', async () => {
    const { api } = stack();
    const owner = await api.account(uniqueName('uma'));
    const joinerName = uniqueName('vic');
    await api.register(joinerName);
    const channel = `fresh-${Date.now().toString(36)}`;
    const created = await api.createConversation(owner.token, { kind: 'channel', name: channel });
    const device = await signedInDevice(stack(), joinerName);
    const { page } = device;
    await page.getByTestId('tab-channels').click();
    const join = page.getByRole('button', { name: `Join #${channel}` });
    await join.waitFor();

    await api.send(owner.token, created.id, 'the agenda is up');
    await join.click();
    await expectText(page.getByTestId('conversation-title'), `#${channel}`);
    await expect.poll(() => messageTexts(page)).toEqual(['the agenda is up']);
    const row = conversationItem(page, `#${channel}`);
    await expectText(row.locator('.conversation-item-preview'), `${owner.user.username}: the agenda is up`);
    // A member joining later changes nothing in it.
    const late = await api.account(uniqueName('wes'));
    await api.join(late.token, created.id);
    await expectText(page.locator('.conversation-subtitle'), '3 members');
    await expectText(row.locator('.conversation-item-preview'), `${owner.user.username}: the agenda is up`);
    expect(device.errors).toEqual([]);
  });

  it('shows presence as unknown while disconnected, and fresh once reconnected', async () => {
    const { api } = stack();
    const peerName = uniqueName('xan');
    const name = uniqueName('yul');
    const peer = await api.account(peerName);
    const me = await api.account(name);
    const dm = await api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
    await api.send(peer.token, dm.id, 'are you around?');
    const other = await signedInDevice(stack(), peerName);

    const device = await stack().newDevice();
    const { page, context } = device;
    await controlSockets(context);
    await signIn(page, name);
    await conversationItem(page, peerName).click();
    await waitOnline(page);
    const subtitle = page.locator('.conversation-subtitle');
    const listDot = conversationItem(page, peerName).locator('.presence-dot');
    await expectText(subtitle, 'Online');
    expect(await listDot.getAttribute('data-presence')).toBe('online');

    // The connection drops, and meanwhile the peer leaves: nothing may claim they are online.
    await context.setOffline(true);
    await cutSockets(page);
    await page.getByTestId('connection-banner').waitFor();
    await expectText(subtitle, 'Last known: online · reconnecting');
    expect(await subtitle.getAttribute('data-presence')).toBe('unknown');
    expect(await listDot.getAttribute('data-presence')).toBe('unknown');
    expect(await page.locator('.conversation-header .presence-dot').getAttribute('data-presence')).toBe(
      'unknown',
    );
    await other.context.close();

    // Back: the snapshot of `ready` is the truth again.
    await context.setOffline(false);
    await waitOnline(page);
    await expectText(subtitle, 'Offline');
    expect(await listDot.getAttribute('data-presence')).toBe('offline');
    expect(device.errors.filter((e) => !/WebSocket|ERR_INTERNET_DISCONNECTED/.test(e))).toEqual([]);
  });
});
