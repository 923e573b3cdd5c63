/**
 * The web client end to end, in Chromium against the embedded launcher: sign-up, DMs with
 * live unread badges across devices, channels, sessions across reloads, history paging,
 * typing, the composer's rules, and phone width.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  type Device,
  expectCount,
  expectText,
  messageTexts,
  openDmWith,
  SCREENSHOTS,
  sendFromComposer,
  signedInDevice,
  signIn,
  signUp,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

/** Every device must end a test without page errors. */
function expectClean(...devices: Device[]): void {
  for (const device of devices) expect(device.errors).toEqual([]);
}

describe('web client in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('shows the sign-in screen, field errors and the throttling message', async () => {
    const device = await stack().newDevice();
    const { page } = device;
    await page.goto('/');
    await page.getByLabel('Username').waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'login.png') });

    // Field errors before any round trip.
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Username').fill('ab');
    await page.getByLabel('Password', { exact: true }).fill('short');
    await page.getByTestId('auth-submit').click();
    await expectText(page.locator('.field-error').first(), 'Use 3 to 32 characters.');
    await expectText(page.locator('.field-error').nth(1), 'Use at least 8 characters.');

    // A taken username is explained on the username field.
    const taken = uniqueName('taken');
    await stack().api.register(taken);
    await page.getByLabel('Username').fill(taken);
    await page.getByLabel('Password', { exact: true }).fill('long-enough-1');
    await page.getByTestId('auth-submit').click();
    await expectText(page.locator('.field-error').first(), 'That username is taken. Try another one.');

    // Wrong passwords: one answer, then throttling with a countdown.
    await page.getByRole('tab', { name: 'Sign in' }).click();
    await page.getByLabel('Username').fill(taken);
    const error = page.getByTestId('auth-error');
    let throttled = false;
    for (let attempt = 0; attempt < 8 && !throttled; attempt += 1) {
      await page.getByLabel('Password', { exact: true }).fill(`wrong-password-${attempt}`);
      await page.getByTestId('auth-submit').click();
      await error.waitFor();
      await expect.poll(() => page.getByTestId('auth-submit').textContent()).toBe('Sign in');
      const text = (await error.textContent()) ?? '';
      if (text.startsWith('Too many attempts')) throttled = true;
      else expect(text).toBe('Wrong username or password.');
    }
    expect(throttled).toBe(true);
    expect(await error.textContent()).toMatch(/^Too many attempts\. Try again in \d+ (seconds?|minutes)\.$/);
    expect(await page.getByTestId('auth-submit').isDisabled()).toBe(true);
    expectClean(device);
  });

  it('delivers a DM with a live badge of 1 that clears on both of the recipient’s devices', async () => {
    const ada = uniqueName('ada');
    const bob = uniqueName('bob');
    const a = await stack().newDevice();
    const b1 = await stack().newDevice();
    const b2 = await stack().newDevice();
    await signUp(a.page, ada);
    await signUp(b1.page, bob);
    await signIn(b2.page, bob);
    await Promise.all([waitOnline(a.page), waitOnline(b1.page), waitOnline(b2.page)]);

    await openDmWith(a.page, bob);
    await sendFromComposer(a.page, `Hi ${bob}, lunch at noon?`);
    await expectCount(a.page.locator('[data-testid="message"] [data-status="sent"]'), 1);

    for (const device of [b1, b2]) {
      const badge = conversationItem(device.page, ada).getByTestId('unread-badge');
      await expectText(badge, '1');
    }

    await conversationItem(b1.page, ada).click();
    await expect.poll(() => messageTexts(b1.page)).toEqual([`Hi ${bob}, lunch at noon?`]);
    for (const device of [b1, b2]) {
      await expectCount(conversationItem(device.page, ada).getByTestId('unread-badge'), 0);
    }
    expectClean(a, b1, b2);
  });

  it('runs a channel with three users', async () => {
    const names = [uniqueName('cam'), uniqueName('dee'), uniqueName('eli')];
    const devices = await Promise.all(names.map(() => stack().newDevice()));
    for (const [i, device] of devices.entries()) await signUp(device.page, names[i]!);
    const [owner, ...others] = devices as [Device, Device, Device];
    const channel = `team-${Date.now().toString(36)}`;

    await owner.page.getByTestId('tab-channels').click();
    await owner.page.getByTestId('new-channel').click();
    await owner.page.getByTestId('create-name').fill(channel);
    await owner.page.getByTestId('create-submit').click();
    await expectText(owner.page.getByTestId('conversation-title'), `#${channel}`);

    for (const device of others) {
      await device.page.getByTestId('tab-channels').click();
      await device.page.getByRole('button', { name: `Join #${channel}` }).click();
      await expectText(device.page.getByTestId('conversation-title'), `#${channel}`);
    }
    for (const [i, device] of devices.entries()) {
      await waitOnline(device.page);
      await sendFromComposer(device.page, `hello from ${names[i]}`);
      await expectCount(device.page.locator('[data-testid="message"]'), i + 1, 15_000);
    }
    const expected = names.map((n) => `hello from ${n}`);
    for (const device of devices) {
      await expect.poll(() => messageTexts(device.page)).toEqual(expected);
      await expectText(device.page.locator('.conversation-subtitle'), '3 members');
    }

    // Leaving takes the channel out of the sidebar.
    const leaver = devices[2]!;
    await leaver.page.getByRole('button', { name: `Leave #${channel}` }).click();
    await leaver.page.locator('.header-actions .danger-button').click();
    await leaver.page.locator('.empty-pane').waitFor();
    await leaver.page.getByTestId('tab-chats').click();
    await expectCount(conversationItem(leaver.page, `#${channel}`), 0);
    expectClean(...devices);
  });

  it('keeps the session across a reload, and logging out ends it on the server', async () => {
    const name = uniqueName('fay');
    const device = await stack().newDevice();
    const { page } = device;
    await signUp(page, name);
    const other = uniqueName('gus');
    await stack().api.register(other);
    await openDmWith(page, other);
    const url = page.url();

    await page.reload();
    await expectText(page.getByTestId('account-name'), name);
    expect(page.url()).toBe(url);
    await expectText(page.getByTestId('conversation-title'), other);
    await waitOnline(page);

    // Storage says only who is signed in; the refresh token is an HttpOnly cookie for the refresh route.
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('relay-chat.session') ?? '{}'));
    expect(Object.keys(stored)).toEqual(['user']);
    const cookie = (await device.context.cookies()).find((c) => c.name === 'relay_refresh');
    expect(cookie).toMatchObject({ path: '/api/auth/refresh', httpOnly: true, sameSite: 'Strict' });
    expect(await page.evaluate(() => document.cookie)).not.toContain('relay_refresh');
    const refreshToken = cookie!.value;
    await page.getByTestId('logout').click();
    await page.getByTestId('auth-form').waitFor();
    expect(await page.evaluate(() => localStorage.getItem('relay-chat.session'))).toBeNull();
    await expect(stack().api.request('POST', '/api/auth/refresh', { refreshToken })).rejects.toThrow(/401/);

    await page.reload();
    await page.getByTestId('auth-form').waitFor();
    expectClean(device);
  });

  it('shares one cookie session between tabs: reloads at once, and a logout in one signs both out', async () => {
    const name = uniqueName('tab');
    const device = await stack().newDevice();
    await signUp(device.page, name);
    const second = await device.context.newPage();
    await second.goto('/');
    await expectText(second.getByTestId('account-name'), name);
    await waitOnline(second);
    // Both tabs get new access tokens through the one refresh cookie at the same moment.
    await Promise.all([device.page.reload(), second.reload()]);
    for (const page of [device.page, second]) {
      await expectText(page.getByTestId('account-name'), name);
      await waitOnline(page);
    }
    await device.page.getByTestId('logout').click();
    await device.page.getByTestId('auth-form').waitFor();
    await second.getByTestId('auth-form').waitFor();
    await second.close();
    expectClean(device);
  });

  it('lands on the first unread message and loads older history when scrolling up, without jumps', async () => {
    const sender = await stack().api.account(uniqueName('hal'));
    const readerName = uniqueName('ivy');
    const reader = await stack().api.account(readerName);
    const dm = await stack().api.createConversation(sender.token, { kind: 'dm', with: reader.user.id });
    // Seeded over REST, a few at a time (the seq, not the text, orders them).
    for (let i = 1; i <= 200; i += 5) {
      await Promise.all(
        [0, 1, 2, 3, 4].map((k) =>
          stack().api.send(
            sender.token,
            dm.id,
            `message ${i + k}${(i + k) % 7 === 0 ? '\nwith a second line' : ''}`,
          ),
        ),
      );
    }
    await stack().api.markRead(reader.token, dm.id, 195);

    const device = await stack().newDevice();
    const { page } = device;
    await signIn(page, readerName);
    await expectText(conversationItem(page, sender.user.username).getByTestId('unread-badge'), '5');
    await conversationItem(page, sender.user.username).click();

    // The divider sits right above message 196 and is in view.
    const divider = page.getByTestId('unread-divider');
    await divider.waitFor();
    const afterDivider = await divider.evaluate((el) => (el.nextElementSibling as HTMLElement).dataset.seq);
    expect(afterDivider).toBe('196');
    expect(await divider.isVisible()).toBe(true);

    const scroller = page.getByTestId('message-scroller');
    const firstSeq = () => page.locator('[data-testid="message"]').first().getAttribute('data-seq');
    const loadedBefore = Number(await firstSeq());
    expect(loadedBefore).toBeGreaterThan(1);

    // Scroll up step by step; whenever a page is prepended, the text on screen must not move.
    const textTop = (seq: string | null) =>
      page
        .locator(`[data-testid="message"][data-seq="${seq}"] .message-text`)
        .evaluate((el) => el.getBoundingClientRect().top);
    let rounds = 0;
    while ((await page.locator('.history-start').count()) === 0 && rounds < 40) {
      rounds += 1;
      const shownFirst = await firstSeq();
      const shownSecond = await page.locator('[data-testid="message"]').nth(1).getAttribute('data-seq');
      await scroller.evaluate((el) => {
        el.scrollTop = 0;
      });
      const before = [await textTop(shownFirst), await textTop(shownSecond)];
      await expect.poll(firstSeq, { timeout: 20_000 }).not.toBe(shownFirst);
      await page.waitForTimeout(50);
      const after = [await textTop(shownFirst), await textTop(shownSecond)];
      expect(Math.abs(after[0]! - before[0]!)).toBeLessThanOrEqual(1);
      expect(Math.abs(after[1]! - before[1]!)).toBeLessThanOrEqual(1);
    }
    expect(await firstSeq()).toBe('1');
    const seqs = await page
      .locator('[data-testid="message"]')
      .evaluateAll((els) => els.map((e) => Number((e as HTMLElement).dataset.seq)));
    expect(seqs).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expectClean(device);
  });

  it('lists users who register or come online without a reload', async () => {
    const watcherName = uniqueName('rae');
    const watcher = await stack().newDevice();
    await signUp(watcher.page, watcherName);
    await watcher.page.getByTestId('tab-people').click();
    await watcher.page.getByTestId('people-list').waitFor({ state: 'attached' });

    const newcomer = uniqueName('sol');
    await stack().api.register(newcomer);
    const person = watcher.page.locator(`[data-testid="person"][data-username="${newcomer}"]`);
    await person.waitFor({ timeout: 40_000 });
    expect(await person.getAttribute('data-online')).toBe('false');

    const device = await signedInDevice(stack(), newcomer);
    await expect.poll(() => person.getAttribute('data-online'), { timeout: 40_000 }).toBe('true');
    expectClean(watcher, device);
  });

  it('shows who is typing', async () => {
    const writer = uniqueName('jo');
    const watcher = uniqueName('kim');
    const w = await stack().newDevice();
    const v = await stack().newDevice();
    await signUp(w.page, writer);
    await signUp(v.page, watcher);
    await openDmWith(v.page, writer);
    await openDmWith(w.page, watcher);
    await Promise.all([waitOnline(w.page), waitOnline(v.page)]);
    await w.page.getByTestId('composer-input').pressSequentially('I am writing', { delay: 20 });
    await expectText(v.page.getByTestId('typing-indicator'), `${writer} is typing…`);
    await w.page.getByTestId('composer-input').press('Enter');
    await expectText(v.page.getByTestId('typing-indicator'), '');
    await expect.poll(() => messageTexts(v.page)).toEqual(['I am writing']);
    expectClean(w, v);
  });

  it('sends with Enter, breaks lines with Shift+Enter, and refuses empty or over-limit drafts', async () => {
    const name = uniqueName('lou');
    const peer = uniqueName('max');
    await stack().api.register(peer);
    const device = await stack().newDevice();
    const { page } = device;
    await signUp(page, name);
    await openDmWith(page, peer);
    const input = page.getByTestId('composer-input');

    await input.press('Enter');
    await expectText(page.getByTestId('composer-refusal'), 'Type a message first.');

    await input.fill('x'.repeat(4001));
    await input.press('Enter');
    await expectText(page.getByTestId('composer-refusal'), 'Too long by 1 character (limit 4,000).');
    expect(await input.inputValue()).toHaveLength(4001);
    await expectCount(page.locator('[data-testid="message"], [data-testid="pending-message"]'), 0);

    await input.fill('first line');
    await input.press('Shift+Enter');
    await input.pressSequentially('second line');
    await input.press('Enter');
    await expect.poll(() => messageTexts(page)).toEqual(['first line\nsecond line']);
    expect(await input.inputValue()).toBe('');
    expectClean(device);
  });

  it('works at phone width: one column at a time with a way back', async () => {
    const name = uniqueName('ned');
    const peer = await stack().api.account(uniqueName('ola'));
    const device = await stack().newDevice({ viewport: { width: 390, height: 844 } });
    const { page } = device;
    await signUp(page, name);
    const me = await stack().api.login(name);
    const dm = await stack().api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
    await stack().api.send(peer.token, dm.id, 'Are you on your phone? https://example.com/docs');
    await expectText(conversationItem(page, peer.user.username).getByTestId('unread-badge'), '1');
    await page.screenshot({ path: join(SCREENSHOTS, 'phone-list.png') });

    await conversationItem(page, peer.user.username).click();
    expect(await page.locator('.sidebar').isVisible()).toBe(false);
    await expect.poll(() => messageTexts(page)).toEqual(['Are you on your phone? https://example.com/docs']);
    const link = page.locator('.message-text a');
    expect(await link.getAttribute('href')).toBe('https://example.com/docs');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer nofollow');
    expect(await link.getAttribute('target')).toBe('_blank');
    await sendFromComposer(page, 'Yes — and it fits!');
    await expectCount(page.locator('[data-testid="message"] [data-status="sent"]'), 1);
    await page.screenshot({ path: join(SCREENSHOTS, 'phone-conversation.png') });

    await page.getByRole('button', { name: 'Back to conversations' }).click();
    await page.locator('.sidebar').waitFor();
    expect(await page.locator('.main-pane').isVisible()).toBe(false);
    expectClean(device);
  });
});
