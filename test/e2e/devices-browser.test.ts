import { mkdirSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAVE_CHROMIUM, launchBrowser } from '../helpers/browser.js';
import { PASSWORD } from '../helpers/oauth.js';
import { seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';

/** WCAG 2.x contrast ratio of two computed CSS colours (rgb()/rgba(), opaque enough to read). */
function contrast(a: string, b: string): number {
  const luminance = (color: string) => {
    const [r, g, bl] = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** The little of the DOM these checks use (the tests compile without the DOM library; the casts vanish in the browser). */
interface Dom {
  document: { activeElement: unknown; documentElement: { scrollWidth: number } };
  innerWidth: number;
  getComputedStyle(node: unknown): { fontSize: string; color: string; backgroundColor: string; outlineStyle: string };
}
interface DomNode {
  querySelector(selector: string): DomNode;
  parentElement: DomNode | null;
}

describe.skipIf(!HAVE_CHROMIUM)('Signed-in devices in a real browser', () => {
  let ts: TestServer;
  let browser: Browser;
  let user: Seeded;
  const contexts: BrowserContext[] = [];

  async function signedInPage(userAgent?: string): Promise<Page> {
    const context = await browser.newContext(userAgent ? { userAgent } : {});
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(`${ts.url}/login`);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/dashboard$/);
    return page;
  }

  /** Presses Tab until the focused element is `target` (at most 80 times): reachable by keyboard alone. */
  async function tabTo(page: Page, target: ReturnType<Page['getByRole']>): Promise<void> {
    for (let i = 0; i < 80; i++) {
      await page.keyboard.press('Tab');
      if (await target.evaluate((el) => (globalThis as unknown as Dom).document.activeElement === el)) return;
    }
    throw new Error('never reached by Tab');
  }

  beforeAll(async () => {
    mkdirSync('test-results', { recursive: true });
    ts = await startTestServer('sqlite', { RATE_LIMIT_LOGIN: '0' });
    browser = await launchBrowser();
    user = await seedUser(ts, 'devices_browser');
  });
  afterAll(async () => {
    await browser?.close();
    await ts?.close();
  });

  it('lists the devices readably and signs one out, then every other one, by keyboard alone', async () => {
    const laptop = await signedInPage();
    const desktop = await signedInPage(FIREFOX_MAC);
    const phone = await signedInPage(SAFARI_IPHONE);

    await laptop.goto(`${ts.url}/dashboard/account`);
    const section = laptop.getByRole('region', { name: 'Signed-in devices' });
    const table = section.getByRole('table', { name: 'Signed-in devices' });
    await expect(table.getByRole('columnheader').allInnerTexts()).resolves.toEqual(['Browser', 'IP address', 'Signed in', 'Last seen', 'Actions']);
    const rows = table.getByRole('row');
    await expect(rows.count()).resolves.toBe(4);
    const texts = (await rows.allInnerTexts()).slice(1).map((t) => t.replace(/\s+/g, ' ').trim());
    expect(texts.find((t) => t.startsWith('Chrome on Linux'))).toMatch(/^Chrome on Linux This device 127\.0\.0\.1 \d{4}-\d\d-\d\d \d\d:\d\d UTC \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    expect(texts.filter((t) => /^(Firefox on macOS|Safari on iOS) 127\.0\.0\.1 .* Sign out$/.test(t))).toHaveLength(2);
    await laptop.screenshot({ path: 'test-results/devices-account.png', fullPage: true });

    // Readable: body-size text with WCAG AA contrast for the cells, the badge and the buttons; at phone width
    // the table scrolls in its own box instead of widening the page.
    const styles = await section.evaluate((el: DomNode) => {
      const dom = globalThis as unknown as Dom;
      const of = (selector: string) => {
        const node = el.querySelector(selector);
        const s = dom.getComputedStyle(node);
        let back: DomNode | null = node;
        while (back && dom.getComputedStyle(back).backgroundColor === 'rgba(0, 0, 0, 0)') back = back.parentElement;
        return { size: parseFloat(s.fontSize), color: s.color, background: back ? dom.getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)' };
      };
      return [of('td'), of('.badge'), of('td button')];
    });
    for (const s of styles) {
      expect(s.size).toBeGreaterThanOrEqual(12);
      expect(contrast(s.color, s.background)).toBeGreaterThanOrEqual(4.5);
    }
    await laptop.setViewportSize({ width: 390, height: 844 });
    expect(await laptop.evaluate(() => {
      const dom = globalThis as unknown as Dom;
      return dom.document.documentElement.scrollWidth <= dom.innerWidth;
    })).toBe(true);
    await laptop.screenshot({ path: 'test-results/devices-account-phone.png', fullPage: true });
    await laptop.setViewportSize({ width: 1280, height: 900 });

    // One device, by keyboard: its button says which device it signs out, and shows where the focus is.
    const signOutDesktop = table.getByRole('button', { name: /^Sign out Firefox on macOS, signed in / });
    await tabTo(laptop, signOutDesktop);
    expect(await signOutDesktop.evaluate((el) => (globalThis as unknown as Dom).getComputedStyle(el).outlineStyle)).not.toBe('none');
    await laptop.keyboard.press('Enter');
    await laptop.waitForURL(/devices=signed-out#devices$/);
    await expect(laptop.getByRole('status').filter({ hasText: 'That device was signed out.' }).isVisible()).resolves.toBe(true);
    await expect(rows.count()).resolves.toBe(3);
    await desktop.reload();
    expect(new URL(desktop.url()).pathname).toBe('/login');

    // Every other one, by keyboard.
    await laptop.goto(`${ts.url}/dashboard/account`);
    await tabTo(laptop, section.getByRole('button', { name: 'Sign out everywhere else' }));
    await laptop.keyboard.press('Enter');
    await laptop.waitForURL(/devices=others-signed-out#devices$/);
    await expect(section.getByText('No other device is signed in.').isVisible()).resolves.toBe(true);
    await expect(rows.count()).resolves.toBe(2);
    await phone.reload();
    expect(new URL(phone.url()).pathname).toBe('/login');
    await laptop.reload();
    expect(new URL(laptop.url()).pathname).toBe('/dashboard/account');
  });
});
