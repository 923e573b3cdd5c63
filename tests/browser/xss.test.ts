/**
 * Hostile message bodies and names render as inert text in the real browser: no dialogs, no
 * script runs, no injected elements, only http(s) links (opened safely), and bidi controls
 * cannot reorder the interface around a message. Markdown vectors too: script and data links
 * are text, HTML inside code is code text, a link whose text names another site shows its
 * real target, and emphasis or nesting bombs render (as plain text) without stalling.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_TIMEOUT_MS,
  conversationItem,
  expectCount,
  messageTexts,
  SCREENSHOTS,
  sendFromComposer,
  signIn,
  uniqueName,
  useStack,
  waitOnline,
} from './harness.js';

/** Each payload would set window.__xss (or open a dialog) if it ever ran. */
const XSS_PAYLOADS = [
  '<script>window.__xss=1</script>',
  '<img src=x onerror="window.__xss=2">',
  '<svg onload="window.__xss=3">',
  '<svg><script>window.__xss=4</script></svg>',
  'javascript:window.__xss=5',
  '[click me](javascript:window.__xss=6)',
  '<a href="javascript:window.__xss=7">click me</a>',
  '<iframe src="javascript:window.__xss=8"></iframe>',
  '<iframe srcdoc="<script>parent.__xss=9</script>"></iframe>',
  '<body onload="window.__xss=10">',
  '<details open ontoggle="window.__xss=11">x</details>',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=12">',
  '"><img src=x onerror=window.__xss=13>',
  "'><script>window.__xss=14</script>",
  '<input autofocus onfocus="window.__xss=15">',
  '<video><source onerror="window.__xss=16"></video>',
  '<object data="javascript:window.__xss=17"></object>',
  'data:text/html,<script>window.__xss=18</script>',
  'https://example.com/"onmouseover="window.__xss=19"',
  "<style>@import 'javascript:window.__xss=20';</style>",
  '\u202Egnp.exe — right-to-left override, never closed',
  '\u2066<img src=x onerror=window.__xss=22>\u2069 isolate',
  "{{constructor.constructor('window.__xss=23')()}}",
  '<a href="  JaVaScRiPt:window.__xss=24">spaced scheme</a>',
  '&lt;script&gt;window.__xss=25&lt;/script&gt;',
  '<img src=x onerror=alert(26)>',
  '<svg/onload=alert(27)>',
  'javascript:alert(28)',
  '<form><button formaction="javascript:window.__xss=29">go</button></form>',
  '<marquee onstart="window.__xss=30">x</marquee>',
  '\u202Bembedding \u202Aand \u202Dmore \u2067isolates\u2068 never popped',
  'vbscript:msgbox(32) and file:///etc/passwd and //evil.example/33',
];

/** Markdown vectors and the text each must show. */
const MARKDOWN_PAYLOADS: Array<[payload: string, shown: string]> = [
  ['[safe-looking](javascript:window.__xss=40)', 'safe-looking'],
  ['[data link](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX194c3M9NDE8L3NjcmlwdD4=)', 'data link'],
  ['<javascript:window.__xss=42>', 'javascript:window.__xss=42'],
  ['[shouting](  JAVASCRIPT:window.__xss=43 "t")', 'shouting'],
  ['`<img src=x onerror=window.__xss=44>`', '<img src=x onerror=window.__xss=44>'],
  ['```html\n<script>window.__xss=45</script>\n```', '<script>window.__xss=45</script>\n'],
  ['[a](https://example.com/ok "x\\" onmouseover=\\"window.__xss=46")', 'a'],
  ['[https://bank.example/login](https://evil.example/phish)', 'https://evil.example/phish'],
  ['![tracker](https://evil.example/pixel.png)', '!tracker'],
  ['*_'.repeat(1500), '*_'.repeat(1500)],
  ['>'.repeat(3000), '>'.repeat(3000)],
  ['- '.repeat(1500).trim(), '- '.repeat(1500).trim()],
];

const BIDI = /[\u202A-\u202E\u2066-\u2069]/g;

const stack = useStack();

describe('hostile content in Chromium', { timeout: BROWSER_TIMEOUT_MS }, () => {
  it(`renders ${XSS_PAYLOADS.length} XSS and bidi payloads and ${MARKDOWN_PAYLOADS.length} Markdown vectors as inert text`, async () => {
    expect(XSS_PAYLOADS.length).toBeGreaterThanOrEqual(20);
    const { api } = stack();
    const senderName = uniqueName('mallory');
    const readerName = uniqueName('victor');
    const sender = await api.account(senderName);
    const reader = await api.account(readerName);
    const dm = await api.createConversation(sender.token, { kind: 'dm', with: reader.user.id });
    // The reader wrote first, so the sender may put them in a group (direction-changing
    // characters are refused in names, so the hostile name is markup only).
    const greeting = 'hi, who is this?';
    await api.send(reader.token, dm.id, greeting);
    const hostileName = '<img src=x onerror=window.__xss=100>quorg';
    await api.createConversation(sender.token, {
      kind: 'group',
      name: hostileName,
      members: [reader.user.id],
    });
    await api.createConversation(sender.token, { kind: 'channel', name: '<svg onload=alert(101)>' });

    // Most arrive over REST; the last few are typed by the sender in the browser.
    const typed = XSS_PAYLOADS.slice(-4);
    for (const body of XSS_PAYLOADS.slice(0, -4)) await api.send(sender.token, dm.id, body);
    for (const [body] of MARKDOWN_PAYLOADS) await api.send(sender.token, dm.id, body);

    const s = await stack().newDevice();
    const r = await stack().newDevice();
    await signIn(s.page, senderName);
    await signIn(r.page, readerName);
    await conversationItem(s.page, readerName).click();
    await waitOnline(s.page);
    for (const body of typed) await sendFromComposer(s.page, body);
    const total = XSS_PAYLOADS.length + MARKDOWN_PAYLOADS.length + 1;
    await expectCount(s.page.locator('[data-testid="message"]'), total, 30_000);

    await conversationItem(r.page, senderName).click();
    await expectCount(r.page.locator('[data-testid="message"]'), total, 30_000);
    await r.page.getByTestId('tab-channels').click();
    // The hostile channel is listed (beside any default channel a server creates).
    await expectCount(r.page.getByTestId('channel').filter({ hasText: '<svg onload=alert(101)>' }), 1);
    await r.page.getByTestId('tab-chats').click();

    const typedFrom = XSS_PAYLOADS.length - 4;
    const expected = [
      greeting,
      ...XSS_PAYLOADS.slice(0, typedFrom).map((p) => p.replace(BIDI, '')),
      ...MARKDOWN_PAYLOADS.map(([, shown]) => shown),
      ...XSS_PAYLOADS.slice(typedFrom).map((p) => p.replace(BIDI, '').trim()),
    ].map((text) => (text === '[click me](javascript:window.__xss=6)' ? 'click me' : text));
    for (const device of [s, r]) {
      const { page } = device;
      // Give anything that might fire (onerror, onload, autofocus, timers) a chance to.
      await page.locator('[data-testid="message"]').last().hover();
      for (const row of await page.locator('[data-testid="message"]').all()) await row.hover();
      await page.waitForTimeout(500);

      expect(await messageTexts(page)).toEqual(expected);
      // The bombs are on screen and the page still answers at once.
      const started = Date.now();
      await page.evaluate(() => document.querySelectorAll('.message-text').length);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(device.dialogs).toEqual([]);
      expect(await page.evaluate(() => (window as { __xss?: unknown }).__xss)).toBeUndefined();
      // Nothing but our own markup: no element a payload could have smuggled in.
      const smuggled = await page.evaluate(() => {
        const anywhere = document.querySelectorAll(
          'img, iframe, object, embed, video, audio, source, math, marquee, body script',
        );
        const inContent = document.querySelectorAll(
          ['.messages', '.sidebar', '.conversation-header']
            .map(
              (scope) =>
                `${scope} :is(form, input, details, style, svg:not([aria-hidden="true"]), button[formaction])`,
            )
            .join(', '),
        );
        return [...anywhere, ...inContent].map((el) => el.outerHTML.slice(0, 80));
      });
      expect(smuggled).toEqual([]);
      // Links: only the real http(s) URLs among the payloads, each opened safely and titled
      // with its real target.
      const links = await page.locator('.message-text a').evaluateAll((els) =>
        els.map((a) => ({
          href: a.getAttribute('href'),
          rel: a.getAttribute('rel'),
          target: a.getAttribute('target'),
          title: a.getAttribute('title'),
        })),
      );
      const safe = (href: string) => ({
        href,
        rel: 'noopener noreferrer nofollow',
        target: '_blank',
        title: href,
      });
      expect(links).toEqual([
        // The quote ends no attribute: it is part of the URL, percent-encoded.
        safe('https://example.com/%22onmouseover=%22window.__xss=19'),
        safe('https://example.com/ok'),
        safe('https://evil.example/phish'),
        safe('https://evil.example/pixel.png'),
      ]);
      // No bidi control is left anywhere in the rendered text.
      expect(
        await page.evaluate(() =>
          /[\u202A-\u202E\u2066-\u2069]/.test(document.getElementById('root')?.textContent ?? ''),
        ),
      ).toBe(false);
      // The sender name still comes before the time on every message header.
      const headersInOrder = await page.locator('.message-meta').evaluateAll((metas) =>
        metas.every((meta) => {
          const name = meta.querySelector('.message-sender')!.getBoundingClientRect();
          const time = meta.querySelector('.message-time')!.getBoundingClientRect();
          return name.right <= time.left;
        }),
      );
      expect(headersInOrder).toBe(true);
      expect(device.errors).toEqual([]);
    }
    await r.page.screenshot({ path: join(SCREENSHOTS, 'hostile-content.png') });
    // The hostile group name is shown as text in the sidebar.
    const groupTitle = await r.page
      .locator('[data-testid="conversation-item"] .conversation-item-title')
      .allTextContents();
    expect(groupTitle).toContain(hostileName);
  });
});
