/**
 * Messages that change, end to end in Chromium against the embedded launcher: two users edit,
 * delete, react, reply (and jump to a parent that was not loaded), follow a thread, and
 * mention each other with autocomplete and the @ badge; a second device of one of them,
 * signed in only afterwards, and a reload show exactly the same conversation.
 */
import { join } from 'node:path';
import type { Message } from '@relay-chat/protocol';
import type { Locator, Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runAxe } from './axe.js';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  type Device,
  expectCount,
  expectText,
  SCREENSHOTS,
  sendFromComposer,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

function expectClean(...devices: Device[]): void {
  for (const device of devices) expect(device.errors).toEqual([]);
}

/** The (last) stored message row whose own text (not a quote of its parent) contains `text`. */
function row(page: Page, text: string): Locator {
  return page
    .locator('[data-testid="message"]')
    .filter({ has: page.locator('.message-text', { hasText: text }) })
    .last();
}

/** Hovers a message and clicks one of its actions. */
async function act(page: Page, text: string, action: string): Promise<void> {
  const target = row(page, text);
  await target.scrollIntoViewIfNeeded();
  await target.hover();
  await target.getByTestId(action).click();
}

/** What a device shows of one message: text, edited and deleted marks, reactions, replies. */
async function shown(page: Page, seq: number): Promise<Record<string, unknown>> {
  const li = page.locator(`[data-testid="message"][data-seq="${seq}"]`);
  await li.waitFor();
  return {
    text: (await li.locator('.message-text').allTextContents()).join(''),
    edited: await li.getByTestId('message-edited').count(),
    deleted: await li.getByTestId('message-deleted').count(),
    reactions: await li.getByTestId('reaction-chip').allTextContents(),
    thread: (await li.getByTestId('thread-summary').locator('.thread-count').allTextContents()).join(''),
    quote: await li.getByTestId('reply-quote').count(),
  };
}

describe('messages that change in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('edits, deletes, reacts, replies with a jump, follows a thread; another device converges', async () => {
    const { api } = stack();
    const adaName = uniqueName('ada');
    const bobName = uniqueName('bob');
    const ada = await api.account(adaName);
    const bob = await api.account(bobName);
    const dm = await api.createConversation(ada.token, { kind: 'dm', with: bob.user.id });
    // Old history: ada's first page (50) will not reach seq 1.
    for (let i = 1; i <= 60; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, k) => api.send(ada.token, dm.id, `seed ${i + k}`)));
    }
    const first = (await api.history(ada.token, dm.id, '?limit=200')).find((m) => m.body === 'seed 1')!;
    await api.request(
      'POST',
      `/api/chat/conversations/${dm.id}/messages`,
      {
        clientMsgId: `seed-${crypto.randomUUID()}`,
        body: 'answering the very first one',
        replyTo: first.seq,
      },
      bob.token,
    );

    const a = await stack().newDevice();
    const b1 = await stack().newDevice();
    await signIn(a.page, adaName);
    await signIn(b1.page, bobName);
    await Promise.all([waitOnline(a.page), waitOnline(b1.page)]);
    await conversationItem(a.page, bobName).click();
    await conversationItem(b1.page, adaName).click();

    // Reply quote of a parent that is not loaded: click → loaded around it, scrolled to, flashed.
    const quote = row(a.page, 'answering the very first one').getByTestId('reply-quote');
    await quote.waitFor();
    await expectCount(a.page.locator(`[data-testid="message"][data-seq="${first.seq}"]`), 0);
    await quote.click();
    const parentRow = a.page.locator(`[data-testid="message"][data-seq="${first.seq}"]`);
    await parentRow.waitFor();
    await expect.poll(() => parentRow.getAttribute('class')).toContain('highlighted');
    await expect.poll(() => parentRow.isVisible()).toBe(true);
    await expectText(quote.locator('.reply-quote-text'), 'seed 1');

    // Edit: ↑ in the empty composer edits the last own message; Escape cancels, Enter saves.
    await sendFromComposer(a.page, 'lunch at noon?');
    await row(b1.page, 'lunch at noon?').waitFor();
    const input = a.page.getByTestId('composer-input');
    await input.press('ArrowUp');
    await a.page.getByTestId('edit-input').press('Escape');
    await expectCount(a.page.getByTestId('edit-input'), 0);
    await input.press('ArrowUp');
    await a.page.getByTestId('edit-input').fill('lunch at one?');
    await a.page.getByTestId('edit-input').press('Enter');
    for (const page of [a.page, b1.page]) {
      await row(page, 'lunch at one?').getByTestId('message-edited').waitFor();
    }
    expect(await row(b1.page, 'lunch at one?').getByTestId('message-edited').getAttribute('title')).toMatch(
      /^Edited /,
    );
    expect(await b1.page.locator('.message-text', { hasText: 'lunch at noon?' }).count()).toBe(0);

    // Reactions: bob picks 👍 from the picker; ada adds hers with the chip; counts, who, own highlight.
    await act(b1.page, 'lunch at one?', 'action-react');
    await b1.page.getByTestId('emoji-picker').locator('[data-emoji="👍"]').click();
    const chip = (page: Page) =>
      row(page, 'lunch at one?').locator('[data-testid="reaction-chip"][data-emoji="👍"]');
    await expectText(chip(a.page).locator('.reaction-count'), '1');
    expect(await chip(a.page).getAttribute('title')).toBe(
      `${bobName[0]!.toUpperCase()}${bobName.slice(1)} reacted with 👍`,
    );
    expect(await chip(a.page).getAttribute('aria-pressed')).toBe('false');
    expect(await chip(b1.page).getAttribute('aria-pressed')).toBe('true');
    await chip(a.page).click();
    await expectText(chip(b1.page).locator('.reaction-count'), '2');
    await chip(b1.page).click();
    await expectText(chip(a.page).locator('.reaction-count'), '1');
    await expect.poll(() => chip(a.page).getAttribute('aria-pressed')).toBe('true');

    // Reply: bob answers with the quote above his composer; ada sees the quote and the count.
    await act(b1.page, 'lunch at one?', 'action-reply');
    await b1.page.getByTestId('composer-reply').waitFor();
    await sendFromComposer(b1.page, 'one works');
    await expectCount(b1.page.getByTestId('composer-reply'), 0);
    await expectText(row(a.page, 'one works').locator('.reply-quote-text'), 'lunch at one?');
    await expectText(row(a.page, 'lunch at one?').locator('.thread-count'), '1 reply');

    // Thread panel: the root and its replies; its composer sends a reply to the root.
    await row(a.page, 'lunch at one?').getByTestId('thread-summary').click();
    const panel = a.page.getByTestId('thread-panel');
    await expect
      .poll(() => panel.locator('[data-testid="thread-message"] .message-text').allTextContents())
      .toEqual(['lunch at one?', 'one works']);
    await a.page.getByTestId('thread-composer-input').fill('see you there');
    await a.page.getByTestId('thread-composer-input').press('Enter');
    await expect
      .poll(() => panel.locator('[data-testid="thread-message"] .message-text').allTextContents())
      .toEqual(['lunch at one?', 'one works', 'see you there']);
    await expectText(row(b1.page, 'lunch at one?').locator('.thread-count'), '2 replies');
    await a.page.screenshot({ path: join(SCREENSHOTS, 'thread.png') });
    await a.page.getByTestId('thread-close').click();

    // Delete with confirmation: a tombstone for everyone, and the preview says so.
    await sendFromComposer(a.page, 'oops, wrong chat');
    await row(b1.page, 'oops, wrong chat').waitFor();
    await act(a.page, 'oops, wrong chat', 'action-delete');
    await a.page.getByTestId('delete-dialog').getByRole('button', { name: 'Cancel' }).click();
    await expectCount(a.page.getByTestId('delete-dialog'), 0);
    await act(a.page, 'oops, wrong chat', 'action-delete');
    await a.page.getByTestId('delete-confirm').click();
    for (const page of [a.page, b1.page]) {
      await expectCount(page.locator('.message-text', { hasText: 'oops, wrong chat' }), 0);
    }
    await expect
      .poll(() => conversationItem(b1.page, adaName).locator('.conversation-item-preview').textContent())
      .toBe('Message deleted');

    // The store's state, and every device showing exactly it: a device signed in only now,
    // and the first one after a reload.
    const stored = await api.history(bob.token, dm.id, '?limit=10');
    const tail = stored.filter((m) => m.seq > 61);
    const b2 = await stack().newDevice();
    await signIn(b2.page, bobName);
    await conversationItem(b2.page, adaName).click();
    await b1.page.reload();
    await conversationItem(b1.page, adaName).click();
    const expected = tail.map((m: Message) => ({
      text: m.deleted ? '' : m.body,
      edited: m.editedAt !== undefined && !m.deleted ? 1 : 0,
      deleted: m.deleted ? 1 : 0,
      reactions: (m.reactions ?? []).map((r) => `${r.emoji}${r.count}`),
      thread: m.replyCount ? `${m.replyCount} repl${m.replyCount === 1 ? 'y' : 'ies'}` : '',
      quote: m.replyTo !== undefined ? 1 : 0,
    }));
    expect(expected.some((m) => m.deleted === 1)).toBe(true);
    expect(expected.some((m) => m.edited === 1 && m.reactions.length === 1 && m.thread === '2 replies')).toBe(
      true,
    );
    for (const device of [a, b1, b2]) {
      const seen = [];
      for (const m of tail) seen.push(await shown(device.page, m.seq));
      expect(seen).toEqual(expected);
    }
    expectClean(a, b1, b2);
  });

  it('mentions with autocomplete, highlight and an @ badge; the owner deletes anyone’s message', async () => {
    const { api } = stack();
    const adaName = uniqueName('ada');
    const bobName = uniqueName('bob');
    const ada = await api.account(adaName);
    const bob = await api.account(bobName);
    const other = await api.account(uniqueName('cy'));
    const channel = `plans-${Date.now().toString(36)}`;
    const groupName = `#${channel}`;
    const group = await api.createConversation(ada.token, { kind: 'channel', name: channel });
    await api.join(bob.token, group.id);
    await api.join(other.token, group.id);
    await api.send(bob.token, group.id, 'hello group');
    const dm = await api.createConversation(bob.token, { kind: 'dm', with: other.user.id });
    await api.send(other.token, dm.id, 'a side chat');

    const a = await stack().newDevice();
    const b = await stack().newDevice();
    await signIn(a.page, adaName);
    await signIn(b.page, bobName);
    await Promise.all([waitOnline(a.page), waitOnline(b.page)]);
    // Bob looks at another conversation meanwhile.
    await conversationItem(b.page, other.user.username).click();

    await conversationItem(a.page, groupName).click();
    const input = a.page.getByTestId('composer-input');
    await input.click();
    await input.pressSequentially(`lunch? @${bobName.slice(0, 3)}`);
    const option = a.page.locator(`[data-testid="mention-option"][data-username="${bobName}"]`);
    await option.waitFor();
    await input.press('Enter');
    await expect.poll(() => input.inputValue()).toBe(`lunch? @${bobName} `);
    await input.pressSequentially('are you in?');
    await input.press('Enter');
    await expectText(row(a.page, 'are you in?').locator('.mention'), `@${bobName}`);

    // Bob: an @ badge beside the unread count; opening it shows his mention, stronger, and clears both.
    const item = conversationItem(b.page, groupName);
    await expectText(item.getByTestId('mention-badge'), '@');
    await expectText(item.getByTestId('unread-badge'), '1');
    await item.click();
    await expectText(row(b.page, 'are you in?').locator('.mention-me'), `@${bobName}`);
    await expectCount(item.getByTestId('mention-badge'), 0);
    await expectCount(item.getByTestId('unread-badge'), 0);

    // The owner (ada) may delete bob's message; bob may not delete ada's.
    await row(b.page, 'are you in?').hover();
    await expectCount(row(b.page, 'are you in?').getByTestId('action-delete'), 0);
    await act(a.page, 'hello group', 'action-delete');
    await a.page.getByTestId('delete-confirm').click();
    for (const page of [a.page, b.page]) {
      await expectCount(page.locator('.message-text', { hasText: 'hello group' }), 0);
      await expectCount(page.getByTestId('message-deleted'), 1);
    }
    expectClean(a, b);
  });

  it('is accessible: axe on the new views, keyboard-only reactions, long-press on a phone', async () => {
    const { api } = stack();
    const adaName = uniqueName('ada');
    const bobName = uniqueName('bob');
    const ada = await api.account(adaName);
    const bob = await api.account(bobName);
    const dm = await api.createConversation(ada.token, { kind: 'dm', with: bob.user.id });
    const root = await api.send(bob.token, dm.id, `hi @${adaName}, a question`);
    await api.request(
      'PUT',
      `/api/chat/conversations/${dm.id}/messages/${root.seq}/reactions/${encodeURIComponent('🎉')}`,
      undefined,
      ada.token,
    );
    await api.request(
      'POST',
      `/api/chat/conversations/${dm.id}/messages`,
      { clientMsgId: `seed-${crypto.randomUUID()}`, body: 'an answer', replyTo: root.seq },
      ada.token,
    );
    const mine = await api.send(ada.token, dm.id, 'a message of mine');

    const desk = await stack().newDevice({ bypassCSP: true });
    await signIn(desk.page, adaName);
    await conversationItem(desk.page, bobName).click();
    await row(desk.page, 'a message of mine').waitFor();
    const blocking: unknown[] = [];
    const check = async (view: string) => {
      const result = await runAxe(desk.page, view);
      if (result.blocking.length > 0) blocking.push({ view, blocking: result.blocking });
    };
    await check('conversation with reactions, replies and a thread summary');

    // Keyboard only: Tab into a message's toolbar, open the picker, choose with arrows and Enter.
    await row(desk.page, 'a message of mine').getByTestId('action-react').focus();
    await desk.page.keyboard.press('Enter');
    await desk.page.getByTestId('emoji-picker').waitFor();
    await check('emoji picker');
    await desk.page.keyboard.press('ArrowRight');
    await desk.page.keyboard.press('Enter');
    await expectText(row(desk.page, 'a message of mine').getByTestId('reaction-chip'), '❤️1');
    await row(desk.page, 'a message of mine').getByTestId('action-edit').focus();
    await desk.page.keyboard.press('Enter');
    await desk.page.getByTestId('edit-input').waitFor();
    await check('editing in place');
    await desk.page.keyboard.press('Escape');
    await expect
      .poll(() => desk.page.evaluate(() => document.activeElement?.getAttribute('data-testid')))
      .toBe('composer-input');
    await act(desk.page, 'a message of mine', 'action-delete');
    await desk.page.getByTestId('delete-dialog').waitFor();
    await check('delete confirmation');
    await desk.page.keyboard.press('Escape');
    await expectCount(desk.page.getByTestId('delete-dialog'), 0);
    await row(desk.page, 'a question').getByTestId('thread-summary').click();
    await desk.page.getByTestId('thread-panel').waitFor();
    await check('thread panel');
    await desk.page.keyboard.press('Escape');
    await expectCount(desk.page.getByTestId('thread-panel'), 0);
    await desk.page.getByTestId('composer-input').pressSequentially('@');
    await desk.page.getByTestId('mention-list').waitFor();
    await check('mention autocomplete');
    expect(blocking).toEqual([]);

    // Phone: a long press opens the actions (hidden otherwise); they are big enough to touch.
    const phone = await stack().newDevice({ viewport: { width: 390, height: 760 } });
    await signIn(phone.page, bobName);
    await conversationItem(phone.page, adaName).click();
    const target = phone.page.locator(`[data-testid="message"][data-seq="${mine.seq}"]`);
    await target.waitFor();
    expect(await target.getByTestId('action-reply').isVisible()).toBe(false);
    await target.dispatchEvent('touchstart');
    await expect.poll(() => target.getByTestId('action-reply').isVisible()).toBe(true);
    await target.dispatchEvent('touchend');
    const box = await target.getByTestId('action-reply').boundingBox();
    expect(Math.min(box!.width, box!.height)).toBeGreaterThanOrEqual(44);
    await target.getByTestId('action-reply').click();
    await phone.page.getByTestId('composer-reply').waitFor();
    expectClean(desk, phone);
  });
});
