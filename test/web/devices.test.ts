import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAST_SEEN_EVERY_MS, SessionsService } from '../../src/accounts/sessions.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, hiddenField } from '../helpers/oauth.js';
import { randomAddress, seedUser, startTestServer, type TestServer } from '../helpers/server.js';

const CHROME_LINUX = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.7; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const ACCOUNT = '/dashboard/account';

/** A browser: an agent that always sends its User-Agent and, behind TRUST_PROXY=1, its own client address. */
class Device {
  readonly agent: Agent;
  readonly ip = randomAddress();
  constructor(
    ts: TestServer,
    readonly userAgent: string,
  ) {
    this.agent = new Agent(ts.url, ts.config.publicUrl);
  }

  fetch(url: string, init: { form?: Record<string, string> } = {}): Promise<Response> {
    return this.agent.fetch(url, { ...init, headers: { 'user-agent': this.userAgent, 'x-forwarded-for': this.ip } });
  }

  async signIn(username: string): Promise<this> {
    const page = await (await this.fetch('/login')).text();
    const response = await this.fetch('/login', { form: { _csrf: hiddenField(page, '_csrf'), username, password: PASSWORD } });
    expect(response.status).toBe(303);
    return this;
  }

  async account(): Promise<string> {
    const response = await this.fetch(ACCOUNT);
    expect(response.status).toBe(200);
    return response.text();
  }

  /** Posts a form of the Account page with its CSRF token. */
  async post(action: string): Promise<Response> {
    return this.fetch(action, { form: { _csrf: hiddenField(await this.account(), '_csrf') } });
  }

  /** Whether the session still works: the dashboard answers, or sends to /login. */
  async signedIn(): Promise<boolean> {
    const response = await this.fetch('/dashboard');
    if (response.status === 303) expect(response.headers.get('location')).toMatch(/^\/login/);
    return response.status === 200;
  }
}

interface Row {
  handle: string;
  browser: string;
  current: boolean;
  ip: string;
}

/** The Signed-in devices table of an Account page. */
function devicesOf(page: string): Row[] {
  const rows = [...page.matchAll(/<tr data-session="([0-9a-f]{16})"><td>([^<]*)( <span class="badge">This device<\/span>)?<\/td>\s*<td>([^<]*)<\/td>/g)];
  return rows.map((m) => ({ handle: m[1]!, browser: m[2]!, current: m[3] !== undefined, ip: m[4]! }));
}

describe.each(DIALECTS)('Signed-in devices (%s)', (dialect) => {
  describe.skipIf(!dialectAvailable(dialect))('on the Account page', () => {
    let ts: TestServer;
    beforeAll(async () => {
      ts = await startTestServer(dialect, { TRUST_PROXY: '1', RATE_LIMIT_LOGIN: '0' });
    });
    afterAll(async () => ts?.close());

    it('lists every session of the user with its browser and address, this one marked', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const stranger = await new Device(ts, FIREFOX_MAC).signIn((await seedUser(ts)).username);

      const page = await laptop.account();
      expect(page).toContain('<h2 id="devices-title">Signed-in devices</h2>');
      const rows = devicesOf(page);
      expect(rows.map(({ browser, ip, current }) => ({ browser, ip, current })).sort((a, b) => a.browser.localeCompare(b.browser))).toEqual([
        { browser: 'Chrome on Linux', ip: laptop.ip, current: true },
        { browser: 'Safari on iOS', ip: phone.ip, current: false },
      ]);
      // Only the other device gets a Sign out; the raw User-Agent is nowhere on the page.
      const other = rows.find((r) => !r.current)!;
      expect(page).toContain(`action="${ACCOUNT}/devices/${other.handle}/sign-out"`);
      expect(page).not.toContain(`devices/${rows.find((r) => r.current)!.handle}/sign-out`);
      expect(page).not.toContain('AppleWebKit');
      expect(devicesOf(await phone.account()).find((r) => r.current)?.browser).toBe('Safari on iOS');
      expect(await stranger.signedIn()).toBe(true);
    });

    it('ends another device at once, audited with its handle and browser and the session that ended it', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const rows = devicesOf(await laptop.account());
      const phoneRow = rows.find((r) => !r.current)!;

      const response = await laptop.post(`${ACCOUNT}/devices/${phoneRow.handle}/sign-out`);
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe(`${ACCOUNT}?devices=signed-out#devices`);
      expect(await phone.signedIn()).toBe(false);
      expect(await laptop.signedIn()).toBe(true);
      const page = await (await laptop.fetch(response.headers.get('location')!)).text();
      expect(page).toContain('That device was signed out.');
      expect(devicesOf(page).map((r) => r.browser)).toEqual(['Chrome on Linux']);
      expect(page).toContain('No other device is signed in.');

      const ended = (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended');
      expect(ended).toEqual([
        expect.objectContaining({ userId: user.userId, ip: laptop.ip, detail: { prefix: phoneRow.handle, browser: 'Safari on iOS', by: rows.find((r) => r.current)!.handle } }),
      ]);
      const activity = await (await laptop.fetch('/dashboard/activity')).text();
      expect(activity).toContain(`A session was signed out: <code>${phoneRow.handle}</code> (Safari on iOS), from <code>`);
    });

    it('a sign-out at /logout is audited as "session ended", with its handle and browser, never its id', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const mine = devicesOf(await laptop.account()).find((r) => r.current)!.handle;
      const cookie = laptop.agent.cookies.get('serika_session')!;
      const out = await laptop.post('/logout');
      expect(out.status).toBe(303);
      expect(out.headers.get('location')).toBe('/login');
      expect(await laptop.signedIn()).toBe(false);
      const ended = (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended');
      expect(ended).toEqual([expect.objectContaining({ userId: user.userId, ip: laptop.ip, detail: { prefix: mine, browser: 'Chrome on Linux', by: mine } })]);
      expect(JSON.stringify(ended)).not.toContain(cookie);
      // A sign-in over a previous session in the same browser (its id renewed, UI-06) is no sign-out.
      const again = await new Device(ts, FIREFOX_MAC).signIn(user.username);
      const login = await (await again.fetch('/login?prompt=login')).text();
      expect((await again.fetch('/login', { form: { _csrf: hiddenField(login, '_csrf'), username: user.username, password: PASSWORD } })).status).toBe(303);
      expect(await again.signedIn()).toBe(true);
      expect((await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended')).toHaveLength(1);
    });

    it('"Sign out everywhere else" ends every session but this one', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const desktop = await new Device(ts, FIREFOX_MAC).signIn(user.username);
      const stranger = await new Device(ts, FIREFOX_MAC).signIn((await seedUser(ts)).username);
      expect(devicesOf(await desktop.account())).toHaveLength(3);

      const response = await desktop.post(`${ACCOUNT}/devices/sign-out-others`);
      expect(response.headers.get('location')).toBe(`${ACCOUNT}?devices=others-signed-out#devices`);
      expect([await laptop.signedIn(), await phone.signedIn(), await desktop.signedIn(), await stranger.signedIn()]).toEqual([false, false, true, true]);
      expect(devicesOf(await desktop.account())).toEqual([expect.objectContaining({ browser: 'Firefox on macOS', current: true })]);
      const ended = (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended');
      expect(ended.map((e) => e.detail.browser).sort()).toEqual(['Chrome on Linux', 'Safari on iOS']);
    });

    it("refuses another user's session, this session, and a made-up one with 404, ending nothing", async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const stranger = await new Device(ts, FIREFOX_MAC).signIn((await seedUser(ts)).username);
      const theirs = devicesOf(await stranger.account())[0]!.handle;
      const mine = devicesOf(await laptop.account()).find((r) => r.current)!.handle;

      for (const handle of [theirs, mine, '0000000000000000', 'not-a-handle']) {
        const response = await laptop.post(`${ACCOUNT}/devices/${handle}/sign-out`);
        expect(response.status, handle).toBe(404);
      }
      expect([await laptop.signedIn(), await phone.signedIn(), await stranger.signedIn()]).toEqual([true, true, true]);
      expect((await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended')).toEqual([]);
    });

    it('refuses a sign-out without the CSRF token', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const other = devicesOf(await laptop.account()).find((r) => !r.current)!.handle;
      expect((await laptop.fetch(`${ACCOUNT}/devices/${other}/sign-out`, { form: { confirm: 'yes' } })).status).toBe(403);
      expect((await laptop.fetch(`${ACCOUNT}/devices/sign-out-others`, { form: { _csrf: 'forged' } })).status).toBe(403);
      expect(await phone.signedIn()).toBe(true);
    });

    it('"Sign out everywhere" still ends every session, this one too, through the same path', async () => {
      const user = await seedUser(ts);
      const laptop = await new Device(ts, CHROME_LINUX).signIn(user.username);
      const phone = await new Device(ts, SAFARI_IPHONE).signIn(user.username);
      const response = await laptop.post(`${ACCOUNT}/sign-out-everywhere`);
      expect(response.headers.get('location')).toBe('/login');
      expect([await laptop.signedIn(), await phone.signedIn()]).toEqual([false, false]);
      const ended = (await ts.services.audit.listForUser(user.userId)).filter((e) => e.type === 'session.ended');
      expect(ended.map((e) => e.detail.browser).sort()).toEqual(['Chrome on Linux', 'Safari on iOS']);
    });

    it('marks a session seen at most once a minute', async () => {
      let clock = Date.now();
      const sessions = new SessionsService(ts.services.storage.db, () => clock, ts.services.audit);
      const user = await seedUser(ts);
      const signedInAt = clock;
      const { id } = await sessions.start(user.userId, undefined, { userAgent: 'x'.repeat(1000) + ' Firefox/133.0', ip: '203.0.113.9' });
      const seen = async () => (await sessions.list(user.userId))[0]!;
      expect(await seen()).toMatchObject({ signedInAt, lastSeenAt: signedInAt, ip: '203.0.113.9' });

      clock += LAST_SEEN_EVERY_MS - 1;
      expect(await sessions.find(id)).toMatchObject({ userId: user.userId });
      expect((await seen()).lastSeenAt).toBe(signedInAt);

      clock += 1;
      await sessions.find(id);
      expect((await seen()).lastSeenAt).toBe(clock);
      const marked = clock;

      clock += 30_000;
      await sessions.find(id);
      expect((await seen()).lastSeenAt).toBe(marked);
      expect(await seen()).toMatchObject({ signedInAt });

      // Stored truncated: the browser's name is read from the first 256 characters only.
      const stored = await ts.services.storage.db.selectFrom('sessions').select('user_agent').where('user_id', '=', user.userId).executeTakeFirstOrThrow();
      expect(stored.user_agent).toHaveLength(256);
      expect((await seen()).browser).toBe('Unknown browser');
    });
  });
});
