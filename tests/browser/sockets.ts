/** Cutting and blocking a page's WebSockets, as a network loss would (shared by browser tests). */
import type { BrowserContext, Page } from 'playwright-core';

/**
 * Test hook on the page's WebSocket class (installed before any page script): keeps every
 * socket so a test can cut it, and while `blockSockets(page, true)` is in force (it survives
 * reloads) sends new connections to a path with no gateway, so they fail like a dead network.
 */
export async function controlSockets(context: BrowserContext): Promise<void> {
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    const sockets: WebSocket[] = [];
    (window as unknown as { __sockets: WebSocket[] }).__sockets = sockets;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        const blocked = sessionStorage.getItem('test.blockSockets') === '1';
        super(blocked ? String(url).replace(/\/ws$/, '/ws-blocked') : url, protocols);
        sockets.push(this);
      }
    };
  });
}

export async function cutSockets(page: Page): Promise<void> {
  await page.evaluate(() => {
    for (const socket of (window as unknown as { __sockets: WebSocket[] }).__sockets) socket.close();
  });
}

export async function blockSockets(page: Page, blocked: boolean): Promise<void> {
  await page.evaluate((on) => {
    if (on) sessionStorage.setItem('test.blockSockets', '1');
    else sessionStorage.removeItem('test.blockSockets');
  }, blocked);
}
