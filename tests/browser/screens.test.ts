/**
 * Builds a small, realistic workspace and saves screenshots of the main screens into
 * docs/screenshots (named in the README): the conversation view with unread badges in the
 * sidebar and someone typing, a busy channel, a group being created, and the dark theme.
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
  signIn,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

describe('screenshots of the main screens', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('shows a conversation with unread badges, a channel, group creation and the dark theme', async () => {
    const { api } = stack();
    const [ada, grace, linus, margaret, ken] = await Promise.all(
      ['ada', 'grace', 'linus', 'margaret', 'ken'].map((name) => api.account(name)),
    );
    const everyone = [ada, grace, linus, margaret, ken].map((a) => a!);

    const general = await api.createConversation(ada!.token, { kind: 'channel', name: 'general' });
    await api.createConversation(linus!.token, { kind: 'channel', name: 'design-reviews' });
    await api.createConversation(ken!.token, { kind: 'channel', name: 'random' });
    for (const member of everyone.slice(1)) await api.join(member.token, general.id);
    const say = (who: { token: string }, conv: string, text: string) => api.send(who.token, conv, text);

    await say(ada!, general.id, 'Good morning everyone! Stand-up notes are in the doc.');
    await say(linus!, general.id, 'Morning! The build is green again after last night’s fix.');
    await say(linus!, general.id, 'Release candidate goes out at 15:00.');
    await say(
      margaret!,
      general.id,
      'Great work. I will run the load test against the RC: https://example.com/bench/rc-1',
    );
    await say(ken!, general.id, 'Anyone up for lunch at the new ramen place?');

    const dm = await api.createConversation(ada!.token, { kind: 'dm', with: grace!.user.id });
    await say(ada!, dm.id, 'Hi Grace! Do you have a minute to look at the compiler patch?');
    await say(grace!, dm.id, 'Sure — send it over.');
    await say(
      ada!,
      dm.id,
      'Here it is: https://example.com/patches/analytical-engine\nThe interesting part is the **loop unrolling** in `unroll()`.',
    );
    await say(grace!, dm.id, 'Looks clean. One nit: the bounds check on line 42 can go.');

    // Someone may be added to a group only by a person they have written to.
    for (const member of [grace!, margaret!]) {
      const hello = await api.createConversation(member.token, { kind: 'dm', with: linus!.user.id });
      await say(member, hello.id, 'Happy to help with the launch.');
    }
    const group = await api.createConversation(linus!.token, {
      kind: 'group',
      name: 'Launch plan',
      members: [grace!.user.id, margaret!.user.id],
    });
    await say(linus!, group.id, 'Draft timeline is ready for review.');
    await say(margaret!, group.id, 'I added the rollback steps.');
    await say(linus!, group.id, 'Can we sign off by Friday?');

    const kenDm = await api.createConversation(ken!.token, { kind: 'dm', with: grace!.user.id });
    await say(ken!, kenDm.id, 'Are you joining the ramen run?');

    // Grace has read the DM with Ada; the rest is news.
    await api.markRead(grace!.token, dm.id, 4);

    const g = await signedInDevice(stack(), 'grace', { viewport: { width: 1360, height: 820 } });
    await expectText(conversationItem(g.page, 'Launch plan').getByTestId('unread-badge'), '3');
    await expectText(conversationItem(g.page, '#general').getByTestId('unread-badge'), '5');
    await expectText(conversationItem(g.page, 'ken').getByTestId('unread-badge'), '1');
    await conversationItem(g.page, 'ada').click();
    await expect.poll(() => g.page.locator('[data-testid="message"]').count()).toBe(4);

    // Ada is typing in the open DM while Grace looks at it.
    const a = await stack().newDevice();
    await signIn(a.page, 'ada');
    await conversationItem(a.page, 'grace').click();
    await waitOnline(a.page);
    await a.page.getByTestId('composer-input').pressSequentially('Thanks! Merging now', { delay: 30 });
    await expectText(g.page.getByTestId('typing-indicator'), 'ada is typing…');
    await g.page.mouse.move(900, 150); // no hover highlight in the pictures
    await g.page.screenshot({ path: join(SCREENSHOTS, 'conversation-unread.png') });

    await conversationItem(g.page, '#general').click();
    await expect.poll(() => g.page.locator('[data-testid="message"]').count()).toBe(5);
    await expectCount(conversationItem(g.page, '#general').getByTestId('unread-badge'), 0);
    await g.page.getByTestId('composer-input').fill('Count me in for ramen!');
    await g.page.getByTestId('composer-input').press('Enter');
    await expectCount(g.page.locator('[data-testid="message"] [data-status="sent"]'), 1);
    await g.page.mouse.move(900, 150);
    await g.page.screenshot({ path: join(SCREENSHOTS, 'channel.png') });

    // The switcher (Ctrl+K) finds a conversation by name.
    await g.page.keyboard.press('Control+k');
    await g.page.getByTestId('switcher-input').fill('la');
    await expectCount(g.page.getByTestId('switcher-option'), 1);
    // The message search for the same text settles before the picture.
    await g.page.waitForFunction(
      () => !document.querySelector('[data-testid="search-status"]')?.textContent?.includes('Searching'),
    );
    await g.page.screenshot({ path: join(SCREENSHOTS, 'switcher.png') });
    await g.page.keyboard.press('Escape');
    await expectCount(g.page.getByTestId('switcher'), 0);

    await g.page.getByRole('button', { name: 'New group' }).click();
    await g.page.getByTestId('create-name').fill('Book club');
    await g.page.locator('.picker-item input[data-username="ada"]').check();
    await g.page.locator('.picker-item input[data-username="margaret"]').check();
    await g.page.screenshot({ path: join(SCREENSHOTS, 'new-group.png') });
    await g.page.getByTestId('create-submit').click();
    await expectText(g.page.getByTestId('conversation-title'), 'Book club');

    await g.page.getByTestId('tab-channels').click();
    await expectCount(g.page.getByTestId('channel'), 3);
    await g.page.screenshot({ path: join(SCREENSHOTS, 'channels.png') });

    const dark = await stack().newDevice({ viewport: { width: 1360, height: 820 }, colorScheme: 'dark' });
    await signIn(dark.page, 'linus');
    await conversationItem(dark.page, 'Launch plan').click();
    await expect.poll(() => dark.page.locator('[data-testid="message"]').count()).toBe(3);
    await dark.page.screenshot({ path: join(SCREENSHOTS, 'dark.png') });

    for (const device of [g, a, dark]) expect(device.errors).toEqual([]);
  });
});
