/**
 * Message search in the web client (issue 14), in Chromium against the embedded launcher:
 * Ctrl+K, a part of an old word, hits grouped by conversation with the match in <mark>,
 * Enter on a hit opens the conversation at that message, highlighted, with history loading
 * both ways from it without moving what is on screen.
 */
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { runAxe } from './axe.js';
import {
  BROWSER_TIMEOUT_MS,
  expectCount,
  expectText,
  SCREENSHOTS,
  signedInDevice,
  uniqueName,
  useStack,
} from './harness.js';

const stack = useStack();

/** The seqs of the message rows in the open conversation, in DOM order. */
function loadedSeqs(page: Page): Promise<number[]> {
  return page
    .getByTestId('message-scroller')
    .evaluate((el) =>
      [...el.querySelectorAll<HTMLElement>('li[data-seq]')].map((r) => Number(r.dataset.seq)),
    );
}

/** Where a row is, in px from the top of the scroller's viewport (undefined: not rendered). */
function rowOffset(page: Page, seq: number): Promise<number | undefined> {
  return page.getByTestId('message-scroller').evaluate((el, s) => {
    const row = el.querySelector<HTMLElement>(`li[data-seq="${s}"]`);
    return row ? row.getBoundingClientRect().top - el.getBoundingClientRect().top : undefined;
  }, seq);
}

/** The option the combobox points at (aria-activedescendant). */
function activeOption(page: Page): Promise<{ testId: string | null; seq: string | null; text: string }> {
  return page.getByTestId('switcher-input').evaluate((input) => {
    const id = input.getAttribute('aria-activedescendant');
    const option = id ? document.getElementById(id) : null;
    return {
      testId: option?.getAttribute('data-testid') ?? null,
      seq: option?.getAttribute('data-seq') ?? null,
      text: option?.textContent ?? '',
    };
  });
}

describe('message search in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('finds an old message by part of a word, opens the channel there and scrolls both ways', async () => {
    const { api } = stack();
    const owner = await api.account(uniqueName('ola'));
    const readerName = uniqueName('rey');
    const reader = await api.account(readerName);
    const channelName = uniqueName('logbook');
    const channel = await api.createConversation(owner.token, { kind: 'channel', name: channelName });
    await api.join(reader.token, channel.id);

    // 300 messages; the 100th is the only one with "Quokkazoid".
    const line = (i: number) => `entry ${i}: routine status ${'and more words '.repeat(i % 4)}`;
    for (let i = 1; i < 100; i += 11) {
      const n = Math.min(11, 100 - i);
      await Promise.all(Array.from({ length: n }, (_, k) => api.send(owner.token, channel.id, line(i + k))));
    }
    const target = await api.send(
      owner.token,
      channel.id,
      'The Quokkazoid migration plan is <b>approved</b>',
    );
    for (let i = 101; i <= 300; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          api.send(k % 2 === 0 ? owner.token : reader.token, channel.id, line(i + k)),
        ),
      );
    }
    expect(target.seq).toBe(100);
    // The same word in a DM: a second group.
    const dm = await api.createConversation(owner.token, { kind: 'dm', with: reader.user.id });
    await api.send(owner.token, dm.id, 'did you see the quokkazoid thing?');
    const lastSeq = 300;

    // bypassCSP: axe-core is injected to check the dialog with results.
    const { page, errors } = await signedInDevice(stack(), readerName, { bypassCSP: true });

    // Ctrl+K, a part from the middle of the word.
    await page.keyboard.press('Control+k');
    const input = page.getByTestId('switcher-input');
    await input.waitFor();
    await input.fill('okkazo');
    const groups = page.getByTestId('search-group');
    await expectCount(groups, 2);
    const hits = page.getByTestId('search-hit');
    await expectCount(hits, 2);
    // Grouped by conversation, newest first (both match inside a word): the DM's, then the channel's.
    await expectText(groups.nth(1).getByTestId('search-group-title'), `#${channelName}`);
    const channelHit = page.locator(
      `[data-testid="search-hit"][data-seq="${target.seq}"][data-conv="${channel.id}"]`,
    );
    await expectText(channelHit.locator('mark'), 'okkazo');
    await expectText(
      channelHit.locator('.search-hit-body'),
      'The Quokkazoid migration plan is <b>approved</b>',
    );
    // The body is text: the <b> in it is shown, not made an element.
    await expectCount(page.getByTestId('switcher').locator('b'), 0);
    await expectText(channelHit.locator('.search-hit-author'), owner.user.username);
    await page.getByTestId('switcher').screenshot({ path: join(SCREENSHOTS, 'search.png') });
    // Groups of options in one listbox, the combobox pointing at the active one: no serious
    // or critical axe violation.
    expect((await runAxe(page, 'dialog: search results')).blocking).toEqual([]);

    // Arrow keys move over every option (the hits included); Enter opens the one chosen.
    for (let i = 0; i < 10 && (await activeOption(page)).seq !== String(target.seq); i += 1) {
      await input.press('ArrowDown');
    }
    expect((await activeOption(page)).seq).toBe(String(target.seq));
    await input.press('Enter');
    await expectCount(page.getByTestId('switcher'), 0);
    await expectText(page.getByTestId('conversation-title'), `#${channelName}`);

    // Landed on the message, highlighted, with history above and below it in the DOM.
    const targetRow = page.locator(`[data-testid="message"][data-seq="${target.seq}"]`);
    await targetRow.waitFor();
    await expect.poll(() => targetRow.getAttribute('class')).toContain('highlighted');
    await expect.poll(() => targetRow.isVisible()).toBe(true);
    const around = await loadedSeqs(page);
    expect(around.filter((s) => s < target.seq).length).toBeGreaterThanOrEqual(10);
    expect(around.filter((s) => s > target.seq).length).toBeGreaterThanOrEqual(10);
    expect(around).not.toContain(1);
    // Between the messages around the hit and the newest pages there is a hole (a page of it
    // may be fetched ahead): it fills as the reader scrolls down to it, checked below.
    await expectCount(page.getByTestId('history-gap'), 1);
    const scroller = page.getByTestId('message-scroller');
    const box = await scroller.boundingBox();
    const offset = (await rowOffset(page, target.seq))!;
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(box!.height);

    // Scroll up: older history loads above, and the row that was on screen stays where it was.
    for (let round = 0; round < 6 && !(await loadedSeqs(page)).includes(1); round += 1) {
      const before = await loadedSeqs(page);
      const watch = before[1]!;
      const at = await scroller.evaluate((el, s) => {
        el.scrollTop = 0;
        const row = el.querySelector<HTMLElement>(`li[data-seq="${s}"]`)!;
        return row.getBoundingClientRect().top - el.getBoundingClientRect().top;
      }, watch);
      await expect.poll(async () => (await loadedSeqs(page))[0]! < before[0]!).toBe(true);
      expect(Math.abs((await rowOffset(page, watch))! - at)).toBeLessThanOrEqual(2);
    }
    await page.locator('[data-testid="message"][data-seq="1"]').waitFor({ state: 'attached' });
    await page.getByText(`This is the beginning of #${channelName}.`).waitFor();

    // Scroll down past the target: the hole up to the newest page fills itself, below the
    // viewport, without moving what is on screen; then the newest message is reachable.
    await targetRow.scrollIntoViewIfNeeded();
    let fills = 0;
    for (; fills < 20 && (await page.getByTestId('history-gap').count()) > 0; fills += 1) {
      const seqs = await loadedSeqs(page);
      const gapAt = seqs.findIndex((s, i) => i > 0 && s > seqs[i - 1]! + 1);
      const lastBefore = seqs[gapAt - 1]!;
      // Bring the last row above the hole to the bottom of the viewport, note a row on screen.
      const watch = await scroller.evaluate((el, s) => {
        const row = el.querySelector<HTMLElement>(`li[data-seq="${s}"]`)!;
        el.scrollTop += row.getBoundingClientRect().bottom - el.getBoundingClientRect().bottom;
        const rows = [...el.querySelectorAll<HTMLElement>('li[data-seq]')];
        const top = el.getBoundingClientRect().top;
        const seen = rows.find((r) => r.getBoundingClientRect().top > top + 20)!;
        return { seq: Number(seen.dataset.seq), offset: seen.getBoundingClientRect().top - top };
      }, lastBefore);
      await expect.poll(async () => (await loadedSeqs(page)).includes(lastBefore + 1)).toBe(true);
      expect(Math.abs((await rowOffset(page, watch.seq))! - watch.offset)).toBeLessThanOrEqual(2);
    }
    expect(fills).toBeGreaterThan(0);
    await expectCount(page.getByTestId('history-gap'), 0);
    const all = await loadedSeqs(page);
    expect(all).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
    await scroller.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await expect
      .poll(() => page.locator(`[data-testid="message"][data-seq="${lastSeq}"]`).isVisible())
      .toBe(true);
    expect(errors).toEqual([]);
  });

  it('pages with Load more, says when nothing matches, and explains a query too short', async () => {
    const { api } = stack();
    const name = uniqueName('pia');
    const me = await api.account(name);
    const channel = await api.createConversation(me.token, { kind: 'channel', name: uniqueName('pile') });
    for (let i = 0; i < 25; i += 5) {
      await Promise.all(
        Array.from({ length: 5 }, (_, k) => api.send(me.token, channel.id, `Walrusing note ${i + k}`)),
      );
    }
    const { page, errors } = await signedInDevice(stack(), name);
    await page.keyboard.press('Control+k');
    const input = page.getByTestId('switcher-input');
    await input.fill('walrus');
    await expectCount(page.getByTestId('search-hit'), 20);
    await expectCount(page.getByTestId('search-group'), 1);
    // End of the list: the "Load more" option, by keyboard.
    await input.press('ArrowUp');
    expect((await activeOption(page)).testId).toBe('search-more');
    await input.press('Enter');
    await expectCount(page.getByTestId('search-hit'), 25);
    await expectCount(page.getByTestId('search-more'), 0);

    await input.fill('walrusxq');
    await expectText(
      page.getByTestId('search-empty'),
      'No messages match “walrusxq”. No conversation or person either.',
    );
    await expectCount(page.getByTestId('search-hit'), 0);

    // Two single letters: nothing the server can search.
    await input.fill('a b');
    await expect.poll(() => page.getByTestId('search-status').textContent()).toContain('two letters or more');
    // One character asks nothing: only names are filtered.
    await input.fill('w');
    await expect.poll(() => page.getByTestId('search-status').textContent()).not.toContain('Searching');
    await expectCount(page.getByTestId('search-hit'), 0);
    await input.press('Escape');
    await expectCount(page.getByTestId('switcher'), 0);
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  });
});
