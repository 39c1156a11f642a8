import { Secret, TOTP } from 'otpauth';
import { expect } from 'vitest';
import { PASSWORD, hiddenField, type Agent } from './oauth.js';

/** The code an authenticator app shows `steps` time steps from now (RFC 6238: SHA-1, 6 digits, 30 s). */
export function totpCode(secret: string, steps = 0): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({ timestamp: Date.now() + steps * 30_000 });
}

/** The secret a set-up page shows (the one beside its QR code). */
export function shownSecret(page: string): string {
  const match = /<code id="totp-secret" class="mono"[^>]*>([A-Z2-7]+)<\/code>/.exec(page);
  if (!match) throw new Error('no TOTP secret on the page');
  return match[1]!;
}

export function shownRecoveryCodes(page: string): string[] {
  return [...page.matchAll(/<li><code>([a-z2-9]{4}(?:-[a-z2-9]{4}){3})<\/code><\/li>/g)].map((m) => m[1]!);
}

/**
 * Turns the authenticator app on from the Account page (the password if the session is older than 15 minutes,
 * then the current code); returns the
 * secret, the code that confirmed it (used: never accepted again) and the recovery codes shown once.
 * The next code a sign-in may use is totpCode(secret, 1).
 */
export async function enrollTotp(agent: Agent, password = PASSWORD): Promise<{ secret: string; used: string; codes: string[] }> {
  const page = await openTotpSetup(agent, password);
  const secret = shownSecret(page);
  const used = totpCode(secret);
  const done = await agent.fetch('/dashboard/account/two-factor/setup', { form: { _csrf: hiddenField(page, '_csrf'), code: used } });
  expect(done.status).toBe(200);
  const codes = shownRecoveryCodes(await done.text());
  expect(codes).toHaveLength(10);
  return { secret, used, codes };
}

/** The set-up's steps up to the QR code: the password when the session is older than 15 minutes (no secret is shown before it), then the page with the secret. */
export async function openTotpSetup(agent: Agent, password = PASSWORD): Promise<string> {
  const first = await agent.fetch('/dashboard/account/two-factor/setup');
  expect(first.status).toBe(200);
  const ask = await first.text();
  // A session that signed in, or gave the password, in the last 15 minutes sees the secret at once (recent-auth.ts).
  if (ask.includes('totp-secret')) return ask;
  const given = await agent.fetch('/dashboard/account/two-factor/setup/password', { form: { _csrf: hiddenField(ask, '_csrf'), password } });
  expect(given.status).toBe(303);
  const setup = await agent.fetch('/dashboard/account/two-factor/setup');
  expect(setup.status).toBe(200);
  const page = await setup.text();
  expect(page).toContain('<svg'); // the QR code, drawn by Serika itself
  return page;
}

/** Posts a code on the second step's page (the agent holds the half-session); returns the response. */
export async function postSecondStep(agent: Agent, code: string): Promise<Response> {
  const page = await agent.fetch('/login/verify');
  expect(page.status).toBe(200);
  return agent.fetch('/login/verify', { form: { _csrf: hiddenField(await page.text(), '_csrf'), code } });
}

/** Password, then the second step's page: the response of posting the password. */
export async function postPassword(agent: Agent, username: string, password: string): Promise<Response> {
  const login = await (await agent.fetch('/login')).text();
  return agent.fetch('/login', { form: { _csrf: hiddenField(login, '_csrf'), username, password } });
}
