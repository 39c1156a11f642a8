import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FORGOT_ACCOUNTS_PER_ADDRESS, FORGOT_ANSWER_MS } from '../../src/web/mailed-link-pages.js';
import { RESET_REQUESTED } from '../../src/web/views/mailed-links.js';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { Agent, PASSWORD, hiddenField, obtainCode, registerClient, signIn, tokenRequest } from '../helpers/oauth.js';
import { call, captureLog, randomAddress, seedUser, startTestServer, type TestServer } from '../helpers/server.js';
import { linkIn, startSmtp, type TestSmtp } from '../helpers/smtp.js';

const NEW_PASSWORD = 'a brand new passphrase';

/**
 * E-mail verification and password reset over HTTP (SPEC §11), with a real
 * SMTP server receiving the messages and the test following their links.
 */
/**
 * Follows a mailed verification link in a browser where its account is not signed in: the GET only names the
 * account (a mail scanner, or someone else's account, verifies nothing), the page's button verifies.
 */
async function confirmElsewhere(base: { url: string; config: { publicUrl: string } }, link: URL): Promise<Response> {
  const agent = new Agent(base.url, base.config.publicUrl);
  const page = await agent.fetch(link.pathname + link.search);
  const text = await page.text();
  if (page.status !== 200 || !text.includes('Verify email address')) return new Response(text, { status: page.status });
  return agent.fetch('/email/verify', { form: { _csrf: hiddenField(text, '_csrf'), token: hiddenField(text, 'token') } });
}

describe.each(DIALECTS)('e-mail verification and password reset (%s)', (dialect) => {
  let ts: TestServer;
  let smtp: TestSmtp;
  const log = captureLog();
  let n = 0;
  const name = (what: string) => `${what}${++n}_${dialect.slice(0, 2)}`;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    smtp = await startSmtp();
    // Each forgot-password request comes from its own address (TRUST_PROXY), so the per-IP limit is met only where a test means to.
    // LOG_LEVEL=info: the request lines too, none of which may hold a link's token.
    ts = await startTestServer(dialect, { SMTP_URL: smtp.url, RATE_LIMIT_MAIL: '4', TRUST_PROXY: '127.0.0.1', LOG_LEVEL: 'info' }, { logStream: log.logStream });
  });
  afterAll(async () => {
    await ts?.close();
    await smtp?.close();
  });

  /** Posts a page's form (its CSRF field, plus `fields`) from the same agent. */
  const submit = async (agent: Agent, page: string, action: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    agent.fetch(action, { form: { _csrf: hiddenField(page, '_csrf'), ...fields }, headers });
  const signUp = async (username: string, email: string) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const page = await (await agent.fetch('/signup')).text();
    // From an address of its own (TRUST_PROXY): RATE_LIMIT_SIGNUP counts sign-ups per address, and this file makes many.
    expect((await submit(agent, page, '/signup', { username, password: PASSWORD, email }, { 'x-forwarded-for': randomAddress() })).status).toBe(303);
    return agent;
  };
  /** Follows a mailed verification link where its account is signed in (SPEC §11: following it verifies, no button). */
  const verify = async (agent: Agent, link: URL) => agent.fetch(link.pathname + link.search);
  const forgot = async (identifier: string, from = randomAddress()) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const headers = { 'x-forwarded-for': from };
    const page = await (await agent.fetch('/password/forgot', { headers })).text();
    expect(page).toContain('Username or email');
    expect(page).toContain('Send reset link');
    const response = await submit(agent, page, '/password/forgot', { identifier }, headers);
    return { response, html: await response.text() };
  };
  const verifiedUser = async () => {
    const username = name('reset');
    const email = `${username}@example.com`;
    const agent = await signUp(username, email);
    expect((await verify(agent, linkIn(await smtp.nextTo(email), '/email/verify'))).status).toBe(200);
    return { username, email, agent };
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('verifies an address given at sign-up: email_verified turns true in userinfo and ID tokens', async () => {
      const owner = await seedUser(ts);
      const client = await registerClient(ts, owner, { scopes: ['openid', 'profile', 'email'] });
      const username = name('verify');
      const email = `${username}@Example.com`;
      const agent = await signUp(username, email);
      const tokens = async () => {
        const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'openid profile email' });
        const reply = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, client_id: client.clientId, client_secret: client.clientSecret!, code_verifier: verifier });
        expect(reply.status).toBe(200);
        const claims = JSON.parse(Buffer.from(reply.json.id_token.split('.')[1], 'base64url').toString());
        return { access: reply.json.access_token as string, claims };
      };
      const userinfo = async (access: string) => (await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${access}` } })).json;

      const before = await tokens();
      expect(before.claims).toMatchObject({ email, email_verified: false });
      expect(await userinfo(before.access)).toMatchObject({ email, email_verified: false });

      const mail = await smtp.nextTo(email);
      expect(mail.subject).toBe('Verify your email address for Serika');
      expect(mail.raw).toMatch(/Content-Type: text\/plain/i);
      expect(mail.raw).toMatch(/Content-Type: text\/html/i);
      const link = linkIn(mail, '/email/verify');
      expect(link.origin).toBe(ts.config.publicUrl);
      expect((await ts.services.users.require(username)).verifiedEmail).toBeNull();
      // Opened where the account is not signed in (a mail scanner, a phone's mail app): the GET names the account and
      // verifies nothing — else anyone could save a victim's address on their own account and have it verified by a
      // scanner or a curious click. Its button verifies.
      const shown = await new Agent(ts.url, ts.config.publicUrl).fetch(link.pathname + link.search);
      expect(shown.status).toBe(200);
      const shownPage = await shown.text();
      expect(shownPage).toContain(`for the Serika account <strong>${username}</strong>`);
      expect(shownPage).toContain('Verify email address');
      // Nor where another account is signed in.
      const stranger = await signUp(name('stranger'), '');
      expect(await (await stranger.fetch(link.pathname + link.search)).text()).toContain('Verify email address');
      expect((await ts.services.users.require(username)).verifiedEmail).toBeNull();
      // Followed where the account is signed in: the GET alone verifies, and names the account.
      const verified = await verify(agent, link);
      expect(verified.status).toBe(200);
      expect(await verified.text()).toContain(`is verified for the Serika account <strong>${username}</strong>`);

      // The token issued before sees it too (the token cache heard of the change), and so does a new ID token.
      expect(await userinfo(before.access)).toMatchObject({ email, email_verified: true });
      expect((await tokens()).claims).toMatchObject({ email, email_verified: true });

      // Single use: followed again, the link is dead; a signed-in user whose address is verified is told so.
      const again = await new Agent(ts.url, ts.config.publicUrl).fetch(link.pathname + link.search);
      expect(again.status).toBe(400);
      expect(await again.text()).toContain('It has expired, was already used');
      const mine = await agent.fetch(link.pathname + link.search);
      expect(mine.status).toBe(200);
      expect(await mine.text()).toContain('Your email is already verified');
      const events = await ts.services.audit.listForUser((await ts.services.users.require(username)).id);
      expect(events.map((e) => e.type)).toContain('email.verified');
    });

    it('sets an address on the Account page; a second account verifying an address already verified is refused', async () => {
      const first = await verifiedUser();
      const username = name('second');
      const agent = await signUp(username, '');
      const account = await (await agent.fetch('/dashboard/account')).text();
      expect(account).toContain('<h2>Email</h2>');
      const saved = await submit(agent, account, '/dashboard/account/email', { email: first.email.toUpperCase(), current_password: PASSWORD });
      expect(saved.status).toBe(200);
      const savedPage = await saved.text();
      expect(savedPage).toContain('We sent a verification link');
      expect(savedPage).toContain('not verified');
      // The second message to that address (compared regardless of case): the first was the first account's.
      const refused = await verify(agent, linkIn(await smtp.nextTo(first.email.toUpperCase(), 2), '/email/verify'));
      expect(refused.status).toBe(409);
      expect(await refused.text()).toContain('already verified on another account');
      expect((await ts.services.users.require(username)).verifiedEmail).toBeNull();
    });

    it('a session older than 15 minutes gives the current password to change the address; the address verified until then hears of it', async () => {
      const { username, email, agent } = await verifiedUser();
      const next = `${username}.next@example.com`;
      await ts.services.storage.db.updateTable('sessions').set({ created_at: Date.now() - 16 * 60_000 }).where('user_id', '=', (await ts.services.users.require(username)).id).execute();
      const attempt = async (password: string) => {
        const page = await (await agent.fetch('/dashboard/account')).text();
        expect(page).toContain('Confirm with your password');
        return submit(agent, page, '/dashboard/account/email', { email: next, current_password: password });
      };
      const refused = await attempt('not the password');
      expect(refused.status).toBe(400);
      expect(await refused.text()).toContain('The current password is not correct.');
      expect((await ts.services.users.require(username)).email).toBe(email);
      expect((await attempt(PASSWORD)).status).toBe(200);
      expect((await ts.services.users.require(username)).email).toBe(next);
      const notice = await smtp.nextTo(email, 2);
      expect(notice.subject).toBe('The email address of your Serika account changed');
      expect(notice.raw).toContain(`was changed to ${next}`);
      const events = await ts.services.audit.listForUser((await ts.services.users.require(username)).id);
      expect(events.find((e) => e.type === 'email.changed')?.detail).toMatchObject({ email: next, previous: email });
    });

    it('refuses a fifth address change in the hour with a 429 (RATE_LIMIT_MAIL per account); an invalid address costs nothing', async () => {
      const username = name('changer');
      const agent = await signUp(username, '');
      const save = async (email: string) => {
        const page = await (await agent.fetch('/dashboard/account')).text();
        const response = await submit(agent, page, '/dashboard/account/email', { email, current_password: PASSWORD });
        return { status: response.status, html: await response.text() };
      };
      expect((await save('not an address')).status).toBe(400);
      for (let i = 0; i < 4; i++) expect((await save(`${username}.${i}@example.com`)).status).toBe(200);
      const refused = await save(`${username}.4@example.com`);
      expect(refused.status).toBe(429);
      expect(refused.html).toContain('Too many emails were sent for your account');
      // Only the last address saved has a live link: each new one killed the one before.
      const links = await ts.services.storage.db.selectFrom('email_links').select('email').where('user_id', '=', (await ts.services.users.require(username)).id).execute();
      expect(links).toEqual([{ email: `${username}.3@example.com` }]);
    });

    it('answers a reset request alike for a known and an unknown user (the same moment: see "answers every reset request at one deadline")', async () => {
      const { username } = await verifiedUser();
      const known = await forgot(username);
      const unknown = await forgot(`nobody_${n}`);
      for (const answer of [known, unknown]) {
        expect(answer.response.status).toBe(200);
        expect(answer.html).toContain(RESET_REQUESTED);
      }
      const strip = (html: string) => html.replace(/value="[^"]*"/g, '');
      expect(strip(known.html)).toBe(strip(unknown.html));
    });

    it('resets once with the mailed link, ends every session, keeps nothing else alive, and sends a notice', async () => {
      const { username, email, agent } = await verifiedUser();
      const otherBrowser = await signIn(ts, username);
      expect((await otherBrowser.fetch('/dashboard')).status).toBe(200);
      expect((await forgot(email.toUpperCase())).html).toContain(RESET_REQUESTED);
      const mail = await smtp.nextTo(email, 2);
      expect(mail.subject).toBe('Reset your Serika password');
      const link = linkIn(mail, '/password/reset');
      const browser = new Agent(ts.url, ts.config.publicUrl);
      const form = await (await browser.fetch(link.pathname + link.search)).text();
      expect(form).toContain('New password');
      expect(form).toContain('Reset password');
      const token = link.searchParams.get('token')!;
      // A second tab with the same form, sent after the reset: refused.
      const secondTab = new Agent(ts.url, ts.config.publicUrl);
      const secondForm = await (await secondTab.fetch(link.pathname + link.search)).text();
      // A password the rules refuse leaves the link usable.
      expect((await submit(browser, form, '/password/reset', { token, password: 'short' })).status).toBe(400);
      const done = await submit(browser, form, '/password/reset', { token, password: NEW_PASSWORD });
      expect(done.status).toBe(200);
      expect(await done.text()).toContain('Your password was reset');

      for (const signedOut of [agent, otherBrowser]) expect((await signedOut.fetch('/dashboard')).status).toBe(303);
      await signIn(ts, username, NEW_PASSWORD);
      expect((await browser.fetch(link.pathname + link.search)).status).toBe(400);
      const again = await submit(secondTab, secondForm, '/password/reset', { token, password: 'yet another passphrase' });
      expect(again.status).toBe(400);
      expect(await again.text()).toContain('This link is not valid');
      expect((await smtp.nextTo(email, 3)).subject).toBe('Your Serika password was reset');
      const types = (await ts.services.audit.listForUser((await ts.services.users.require(username)).id)).map((e) => e.type);
      expect(types).toEqual(expect.arrayContaining(['password.reset_requested', 'password.reset']));
    });

    it('a reset ends every session but keeps the grants: a refresh token issued before it still works after', async () => {
      const owner = await seedUser(ts);
      const client = await registerClient(ts, owner, { scopes: ['profile'] });
      const { username, email, agent } = await verifiedUser();
      const { code, verifier } = await obtainCode(ts, agent, client, { scope: 'profile' });
      const issued = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, client_id: client.clientId, client_secret: client.clientSecret!, code_verifier: verifier });
      expect(issued.status).toBe(200);
      expect(typeof issued.json.refresh_token).toBe('string');

      await forgot(username);
      const link = linkIn(await smtp.nextTo(email, 2), '/password/reset');
      const browser = new Agent(ts.url, ts.config.publicUrl);
      const form = await (await browser.fetch(link.pathname + link.search)).text();
      expect((await submit(browser, form, '/password/reset', { token: link.searchParams.get('token')!, password: NEW_PASSWORD })).status).toBe(200);

      expect((await agent.fetch('/dashboard')).status).toBe(303);
      const userId = (await ts.services.users.require(username)).id;
      expect(await ts.services.storage.db.selectFrom('sessions').select('id_hash').where('user_id', '=', userId).execute()).toEqual([]);
      const refreshed = await tokenRequest(ts, { grant_type: 'refresh_token', refresh_token: issued.json.refresh_token, client_id: client.clientId, client_secret: client.clientSecret! });
      expect(refreshed.status).toBe(200);
      expect((await call('GET', `${ts.api}/oauth/userinfo`, { headers: { authorization: `Bearer ${refreshed.json.access_token}` } })).status).toBe(200);
    });

    it('kills a reset link once the password changes another way', async () => {
      const { username, email, agent } = await verifiedUser();
      await forgot(username);
      const link = linkIn(await smtp.nextTo(email, 2), '/password/reset');
      const account = await (await agent.fetch('/dashboard/account')).text();
      const changed = await submit(agent, account, '/dashboard/account/password', { current_password: PASSWORD, new_password: NEW_PASSWORD });
      expect(changed.status).toBe(200);
      const page = await new Agent(ts.url, ts.config.publicUrl).fetch(link.pathname + link.search);
      expect(page.status).toBe(400);
      expect(await page.text()).toContain('This link is not valid');
    });

    it('limits the forgot form per address (RATE_LIMIT_MAIL): past it nothing is sent, the page is the same, a log line says why', async () => {
      const { username, email } = await verifiedUser();
      const from = randomAddress();
      const queued = async () => (await ts.services.storage.db.selectFrom('mail_outbox').select('id').where('recipient', '=', email).execute()).length;
      const before = await queued();
      // An address may ask for FORGOT_ACCOUNTS_PER_ADDRESS accounts' worth of RATE_LIMIT_MAIL (4) an hour.
      const allowed = 4 * FORGOT_ACCOUNTS_PER_ADDRESS;
      const answers = await Promise.all(Array.from({ length: allowed }, (_, i) => forgot(`nobody_${i}`, from).then((a) => ({ status: a.response.status, html: a.html }))));
      // The next, from the same address, names a real account: not sent, and answered as every other.
      const past = await forgot(username, from);
      const strip = (html: string) => html.replace(/value="[^"]*"/g, '');
      for (const answer of [...answers, { status: past.response.status, html: past.html }]) {
        expect(answer.status).toBe(200);
        expect(strip(answer.html)).toBe(strip(answers[0]!.html));
      }
      expect(past.response.headers.get('retry-after')).toBeNull();
      expect(past.html).toContain(RESET_REQUESTED);
      expect(await queued()).toBe(before);
      expect(log.lines.some((l) => l.includes('password reset request over the per-address limit: nothing sent'))).toBe(true);
    });

    it('sends an account at most RATE_LIMIT_MAIL messages an hour: past it a request sends nothing and answers the same', async () => {
      const { username, email } = await verifiedUser();
      const queued = async () => (await ts.services.storage.db.selectFrom('mail_outbox').select('id').where('recipient', '=', email).execute()).length;
      // The verification link does not count (it is the sign-up's); four reset links do, each from another address.
      for (let i = 0; i < 4; i++) expect((await forgot(username)).html).toContain(RESET_REQUESTED);
      expect(await queued()).toBe(5);
      const past = await forgot(username);
      expect(past.response.status).toBe(200);
      expect(past.html).toContain(RESET_REQUESTED);
      expect(await queued()).toBe(5);
      // The owner learns of it on the Activity page; the page the requester saw said nothing.
      const refused = (await ts.services.audit.listForUser((await ts.services.users.require(username)).id)).filter((e) => e.type === 'password.reset_refused');
      expect(refused).toHaveLength(1);
      expect(refused[0]!.detail).toMatchObject({ reason: 'mail_limit', by: 'username' });
    });

    it('mails one address at most RATE_LIMIT_MAIL verification links an hour, however many accounts name it', async () => {
      const victim = `${name('victim')}@example.com`;
      // Compared case-insensitively, as addresses are (SPEC §11).
      for (let i = 0; i < 6; i++) await ts.services.users.create({ username: name('spam'), password: PASSWORD, email: i % 2 ? victim.toUpperCase() : victim });
      const recipients = await ts.services.storage.db.selectFrom('mail_outbox').select('recipient').execute();
      expect(recipients.filter((r) => r.recipient.toLowerCase() === victim)).toHaveLength(4);
    });

    it('never writes a link or its token to the log when SMTP is configured', () => {
      const tokens = smtp.received.flatMap((m) => [...m.raw.matchAll(/token=([A-Za-z0-9_-]{43})/g)].map((t) => t[1]!));
      expect(tokens.length).toBeGreaterThan(3);
      const logged = log.lines.join('');
      for (const token of tokens) expect(logged).not.toContain(token);
      expect(logged).not.toMatch(/"msg":"mail"/);
    });
  });
});

/**
 * The same flows on a server whose clock the test holds (StartOptions.now), and whose padded answers record the
 * moment they wait for instead of sleeping (StartOptions.waitUntil): expiries reached without waiting for them,
 * and the forgot form's one deadline checked without measuring any time.
 */
describe.each(DIALECTS)('mailed links on a held clock (%s)', (dialect) => {
  let ts: TestServer;
  let smtp: TestSmtp;
  let clock = Date.now();
  let n = 0;
  const name = (what: string) => `${what}${++n}_${dialect.slice(0, 2)}`;
  /** Each padded answer's deadline, and how many messages were queued for `watched` when it began to wait. */
  const waits: Array<{ deadline: number; queued: number }> = [];
  let watched = '';
  const queuedFor = async (email: string) => (await ts.services.storage.db.selectFrom('mail_outbox').select('id').where('recipient', '=', email).execute()).length;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    smtp = await startSmtp();
    ts = await startTestServer(
      dialect,
      { SMTP_URL: smtp.url, RATE_LIMIT_MAIL: '2', TRUST_PROXY: '127.0.0.1' },
      { now: () => clock, waitUntil: async (deadline) => void waits.push({ deadline, queued: watched ? await queuedFor(watched) : 0 }) },
    );
  });
  afterAll(async () => {
    await ts?.close();
    await smtp?.close();
  });

  const forgotFrom = async (identifier: string, from: string) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const headers = { 'x-forwarded-for': from };
    const page = await (await agent.fetch('/password/forgot', { headers })).text();
    const response = await agent.fetch('/password/forgot', { form: { _csrf: hiddenField(page, '_csrf'), identifier }, headers });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain(RESET_REQUESTED);
  };
  /** A user with a verified address (their link followed at once), and their address. */
  const verifiedUser = async () => {
    const username = name('held');
    const email = `${username}@example.com`;
    await ts.services.users.create({ username, password: PASSWORD, email });
    expect((await confirmElsewhere(ts, linkIn(await smtp.nextTo(email), '/email/verify'))).status).toBe(200);
    return { username, email };
  };
  const pathOf = (link: URL) => link.pathname + link.search;

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('answers every reset request at one deadline, fixed on arrival: a known user, an unknown one, an address past its limit', async () => {
      const { username, email } = await verifiedUser();
      watched = email;
      const from = randomAddress();
      // The address's allowance (RATE_LIMIT_MAIL 2 × FORGOT_ACCOUNTS_PER_ADDRESS) all but used by unknown names.
      for (let i = 0; i < 2 * FORGOT_ACCOUNTS_PER_ADDRESS - 2; i++) await forgotFrom(`filler_${n}_${i}`, from);
      const arrivals: number[] = [];
      // Known (a link queued before the wait), unknown (nothing queued), and the third from one address: past
      // its allowance, a known user again, nothing sent. The clock moves between requests only.
      for (const identifier of [username, `nobody_${n}`, username]) {
        clock += 1000;
        arrivals.push(clock);
        await forgotFrom(identifier, from);
      }
      const mine = waits.slice(-3);
      expect(mine.map((w) => w.deadline)).toEqual(arrivals.map((at) => at + FORGOT_ANSWER_MS));
      // The wait comes after the work: the known user's link was queued when its wait began; the limited one queued none.
      expect(mine.map((w) => w.queued)).toEqual([2, 2, 2]);
      watched = '';
    });

    it('a verification link dies after 24 hours', async () => {
      const username = name('late');
      const email = `${username}@example.com`;
      await ts.services.users.create({ username, password: PASSWORD, email });
      const link = linkIn(await smtp.nextTo(email), '/email/verify');
      clock += 24 * 60 * 60_000 + 1000;
      const late = await confirmElsewhere(ts, link);
      expect(late.status).toBe(400);
      expect(await late.text()).toContain('This link is not valid');
      expect((await ts.services.users.require(username)).verifiedEmail).toBeNull();

      // Another, followed just inside its 24 hours, verifies.
      const other = name('intime');
      await ts.services.users.create({ username: other, password: PASSWORD, email: `${other}@example.com` });
      const inTime = linkIn(await smtp.nextTo(`${other}@example.com`), '/email/verify');
      clock += 24 * 60 * 60_000 - 1000;
      expect((await confirmElsewhere(ts, inTime)).status).toBe(200);
      expect((await ts.services.users.require(other)).verifiedEmail).toBe(`${other}@example.com`);
    });

    it('a reset link works for 30 minutes, then dies', async () => {
      const { username, email } = await verifiedUser();
      await forgotFrom(username, randomAddress());
      const link = linkIn(await smtp.nextTo(email, 2), '/password/reset');
      clock += 30 * 60_000 - 1000;
      const inTime = await fetch(`${ts.url}${pathOf(link)}`);
      expect(inTime.status).toBe(200);
      expect(await inTime.text()).toContain('New password');
      clock += 2000;
      const late = await confirmElsewhere(ts, link);
      expect(late.status).toBe(400);
      expect(await late.text()).toContain('This link is not valid');
    });
  });
});

describe('without SMTP_URL', () => {
  it('warns at start when PUBLIC_URL is https', async () => {
    const log = captureLog();
    const ts = await startTestServer('sqlite', { PUBLIC_URL: 'https://auth.example.com', LOG_LEVEL: 'warn' }, { logStream: log.logStream });
    await ts.close();
    expect(log.lines.join('')).toContain('SMTP_URL is not set');
  });

  it('writes each message as one mail log line with its link, and the login page links to the reset form', async () => {
    const log = captureLog();
    const ts = await startTestServer('sqlite', {}, { logStream: log.logStream });
    try {
      const user = await ts.services.users.create({ username: 'logged_mail', password: PASSWORD, email: 'dev@example.com' });
      const line = await import('../helpers/until.js').then(({ until }) => until(() => log.lines.find((l) => l.includes('"msg":"mail"')), { message: 'the mail line' }));
      const entry = JSON.parse(line);
      expect(entry.mail).toMatchObject({ to: 'dev@example.com', subject: 'Verify your email address for Serika' });
      expect(entry.mail.text).toMatch(new RegExp(`${ts.config.publicUrl}/email/verify\\?token=[A-Za-z0-9_-]{43}`));
      expect(log.lines.filter((l) => l.includes('"msg":"mail"'))).toHaveLength(1);
      expect(user.verifiedEmail).toBeNull();
      const login = await (await fetch(`${ts.url}/login`)).text();
      expect(login).toContain('<a href="/password/forgot">Forgot password?</a>');
    } finally {
      await ts.close();
    }
  });
});
