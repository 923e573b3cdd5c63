/**
 * Managing conversations in Chromium against the embedded launcher (issue 12): the owner of a
 * group renames it and sets its topic from the details dialog and the member's page shows it
 * live; a member has no rename control; mute on one device shows on the user's other device;
 * the owner removes the member, whose list drops the group on every device. axe-core checks
 * the details dialog.
 */
import { describe, expect, it } from 'vitest';
import { runAxe } from './axe.js';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  expectCount,
  expectText,
  signedInDevice,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

const stack = useStack();

describe('managing conversations in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it('renames, sets a topic, mutes across devices and removes a member, live', async () => {
    const { api } = stack();
    const owner = await api.account(uniqueName('own'));
    const member = await api.account(uniqueName('mem'));
    // Adding someone to a group needs a conversation with them first.
    const dm = await api.createConversation(member.token, { kind: 'dm', with: owner.user.id });
    await api.send(member.token, dm.id, 'hi');
    const firstName = uniqueName('Crew');
    const group = await api.createConversation(owner.token, {
      kind: 'group',
      name: firstName,
      members: [member.user.id],
    });
    await api.send(owner.token, group.id, 'welcome');

    const ownerDevice = await stack().newDevice();
    const memberDevice = await stack().newDevice({ bypassCSP: true });
    const secondDevice = await stack().newDevice();
    const o = ownerDevice.page;
    const m = memberDevice.page;
    const m2 = secondDevice.page;
    await signIn(o, owner.user.username);
    await signIn(m, member.user.username);
    await signIn(m2, member.user.username);
    await Promise.all([waitOnline(o), waitOnline(m), waitOnline(m2)]);

    // The owner renames the group and sets a topic.
    await conversationItem(o, firstName).click();
    await o.getByTestId('details-button').click();
    const ownerDialog = o.getByTestId('details-dialog');
    await ownerDialog.getByLabel('Name').fill('Launch crew');
    await ownerDialog.getByLabel('Topic').fill('Friday release, 15:00');
    await ownerDialog.getByTestId('details-save').click();
    await expectText(ownerDialog.getByRole('status'), 'Saved');
    await ownerDialog.getByRole('button', { name: 'Done' }).click();
    await expectText(o.getByTestId('conversation-topic'), 'Friday release, 15:00');

    // The member's list and header follow live.
    await conversationItem(m, 'Launch crew').waitFor();
    await expectCount(conversationItem(m, firstName), 0);
    await conversationItem(m, 'Launch crew').click();
    await expectText(m.getByTestId('conversation-title'), 'Launch crew');
    await expectText(m.getByTestId('conversation-topic'), 'Friday release, 15:00');

    // A member sees the details, but no rename or topic control and no remove buttons.
    await m.getByRole('button', { name: 'Details of Launch crew' }).click();
    const memberDialog = m.getByTestId('details-dialog');
    await memberDialog.getByTestId('member').first().waitFor();
    await expectText(memberDialog.getByTestId('details-topic'), 'Friday release, 15:00');
    expect(await memberDialog.getByTestId('details-name').count()).toBe(0);
    expect(await memberDialog.getByTestId('remove-member').count()).toBe(0);
    expect(
      await memberDialog.getByTestId('member').evaluateAll((els) => els.map((e) => e.dataset.username)),
    ).toEqual(expect.arrayContaining([owner.user.username, member.user.username]));
    const axe = await runAxe(m, 'dialog: conversation details');
    expect(axe.blocking, JSON.stringify(axe.blocking, null, 1)).toEqual([]);

    // Mute on one device: the other device of the same user shows it muted, with no count.
    await memberDialog.getByTestId('mute-toggle').click();
    await expectText(memberDialog.getByTestId('mute-toggle'), 'Unmute');
    await expect
      .poll(() => conversationItem(m2, 'Launch crew').getAttribute('data-muted'), { timeout: 20_000 })
      .toBe('true');
    await api.send(owner.token, group.id, 'while muted');
    await conversationItem(m2, 'Launch crew').getByText('while muted').waitFor();
    expect(await conversationItem(m2, 'Launch crew').getByTestId('unread-badge').count()).toBe(0);
    // Escape closes the dialog.
    await m.keyboard.press('Escape');
    await expectCount(m.getByTestId('details-dialog'), 0);

    // The owner removes the member: the group leaves both of the member's lists.
    await o.getByTestId('details-button').click();
    await ownerDialog.getByRole('button', { name: `Remove ${member.user.username}` }).click();
    await expectCount(ownerDialog.getByTestId('member'), 1);
    await expectCount(conversationItem(m, 'Launch crew'), 0);
    await expectCount(conversationItem(m2, 'Launch crew'), 0);
    // The member's open conversation closed with it.
    await expectCount(m.getByTestId('conversation-title'), 0);

    // …and adds them back: the group returns to their list, renamed.
    await ownerDialog.getByTestId('add-member-search').fill(member.user.username);
    await ownerDialog.getByRole('button', { name: `Add ${member.user.username}` }).click();
    await expectCount(ownerDialog.getByTestId('member'), 2);
    await conversationItem(m2, 'Launch crew').waitFor();

    for (const device of [ownerDevice, memberDevice, secondDevice]) expect(device.errors).toEqual([]);
  });

  it('hides a DM until its next message, and keeps the dialog usable on a phone', async () => {
    const { api } = stack();
    const me = await api.account(uniqueName('hid'));
    const peer = await api.account(uniqueName('pee'));
    const dm = await api.createConversation(peer.token, { kind: 'dm', with: me.user.id });
    await api.send(peer.token, dm.id, 'first');

    const device = await signedInDevice(stack(), me.user.username, { viewport: { width: 390, height: 844 } });
    const { page } = device;
    await conversationItem(page, peer.user.username).click();
    await page.getByRole('button', { name: `Details of ${peer.user.username}` }).click();
    const dialog = page.getByTestId('details-dialog');
    await dialog.getByTestId('hide-dm').waitFor();
    // Touch targets in the dialog: at least 44 × 44 px.
    const small = await dialog.locator('button, input').evaluateAll((els) =>
      els
        .map((el) => el.getBoundingClientRect())
        .filter((r) => r.width > 0 && Math.min(r.width, r.height) < 44)
        .map((r) => `${Math.round(r.width)}×${Math.round(r.height)}`),
    );
    expect(small).toEqual([]);
    await dialog.getByTestId('hide-dm').click();
    await expectCount(page.getByTestId('details-dialog'), 0);
    await expectCount(conversationItem(page, peer.user.username), 0);

    // A reload does not bring it back; the next message does.
    await page.reload();
    await waitOnline(page);
    expect(await conversationItem(page, peer.user.username).count()).toBe(0);
    await api.send(peer.token, dm.id, 'are you there?');
    await conversationItem(page, peer.user.username).getByText('are you there?').waitFor();
    expect(device.errors).toEqual([]);
  });
});
