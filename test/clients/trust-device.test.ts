import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, dialectAvailable } from '../helpers/databases.js';
import { startLogoServer } from '../helpers/logo-server.js';
import { PASSWORD, hiddenField, signIn, tokenRequest, type Agent } from '../helpers/oauth.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';

/**
 * SPEC §12 on the device page (§9): the same identity card as consent, and suspension ending device
 * authorizations that were still on their way to tokens — waiting or already approved.
 */
describe.each(DIALECTS)('apps people can trust, on the device page (%s)', (dialect) => {
  let ts: TestServer;
  let logos: Awaited<ReturnType<typeof startLogoServer>>;
  let owner: Seeded;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    logos = await startLogoServer();
    ts = await startTestServer(dialect, { CIMD_ALLOW_PRIVATE: 'true', RATE_LIMIT_TOKEN: '0', OPERATOR_NAME: 'Device Ops' });
    owner = await seedUser(ts, `tvowner_${dialect}`);
  });
  afterAll(async () => {
    await ts?.close();
    await logos?.close();
  });

  /** A device app of the owner's (public, device grant only). */
  const deviceApp = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const created = await call('POST', `${ts.api}/oauth/clients`, { key: owner.key, json: { name, public: true, redirectUris: [], scopes: ['profile'], grantTypes: [DEVICE], ...extra } });
    expect(created.status).toBe(201);
    return created.json.clientId as string;
  };
  const start = async (clientId: string): Promise<{ device_code: string; user_code: string }> => {
    const started = await call('POST', `${ts.api}/oauth/device_authorization`, { json: { client_id: clientId, scope: 'profile' } });
    expect(started.status).toBe(200);
    return started.json;
  };
  const poll = (clientId: string, deviceCode: string) => tokenRequest(ts, { grant_type: DEVICE, device_code: deviceCode, client_id: clientId });
  /** The user types the code into /device's form, as on a phone: the confirmation page. */
  const enterCode = async (who: Agent, userCode: string): Promise<{ status: number; html: string }> => {
    const form = await (await who.fetch('/device')).text();
    const page = await who.fetch('/device', { form: { _csrf: hiddenField(form, '_csrf'), user_code: userCode } });
    return { status: page.status, html: await page.text() };
  };
  const decide = (who: Agent, html: string, decision: 'allow' | 'deny') =>
    who.fetch('/device/decision', { form: { _csrf: hiddenField(html, '_csrf'), user_code: hiddenField(html, 'user_code'), confirmation: hiddenField(html, 'confirmation'), decision } });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('shows the logo, name and who registered it, then "Verified by OPERATOR_NAME" once verified', async () => {
      const clientId = await deviceApp('Card TV', { logoUri: `${logos.origin}/logo.png`, clientUri: 'https://card.example.com/tv' });
      const user = await seedUser(ts, `viewer_${dialect}`);
      const agent = await signIn(ts, user.username);
      const before = await enterCode(agent, (await start(clientId)).user_code);
      expect(before.status).toBe(200);
      expect(before.html).toContain('Card TV');
      expect(before.html).toContain(`Registered by <strong>${owner.username}</strong>`);
      expect(before.html).toContain('card.example.com');
      expect(before.html).toContain('Serika has not verified this app.');
      expect(before.html).not.toContain('Verified by');
      const logo = /<img class="app-logo" src="([^"]+)"/.exec(before.html)?.[1]?.replace(/&amp;/g, '&');
      expect(logo).toMatch(new RegExp(`^/clients/${clientId}/logo\\?v=`));
      expect((await fetch(ts.url + logo!)).headers.get('content-type')).toBe('image/png');

      await ts.services.clientTrust.verify(clientId, null);
      const after = await enterCode(agent, (await start(clientId)).user_code);
      expect(after.status).toBe(200);
      expect(after.html).toContain('<strong>Verified by Device Ops</strong>');
      expect(after.html).not.toContain('Serika has not verified this app.');
    });

    it("suspending an app ends its device codes, approved or waiting: after unsuspension neither yields tokens", async () => {
      const clientId = await deviceApp('Paused TV');
      const user = await seedUser(ts, `pauser_${dialect}`);
      const agent = await signIn(ts, user.username);
      const approved = await start(clientId);
      const page = await enterCode(agent, approved.user_code);
      expect(page.status).toBe(200);
      expect((await decide(agent, page.html, 'allow')).status).toBe(200);
      const waiting = await start(clientId);

      await ts.services.clientTrust.suspend(clientId, null);
      await ts.services.clientTrust.unsuspend(clientId, null);

      const late = await poll(clientId, approved.device_code);
      expect(late.json.error).toBe('access_denied');
      expect(late.status).toBe(400);
      expect((await enterCode(agent, waiting.user_code)).status).toBe(400);
      expect((await poll(clientId, waiting.device_code)).json.error).toBe('access_denied');
      // A code started after the unsuspension works as ever.
      const fresh = await start(clientId);
      expect((await decide(agent, (await enterCode(agent, fresh.user_code)).html, 'allow')).status).toBe(200);
      const tokens = await poll(clientId, fresh.device_code);
      expect(tokens.status).toBe(200);
      expect(tokens.json.access_token).toBeTypeOf('string');
    });

    it("suspending a user ends the device codes they approved and the confirmation pages they were shown", async () => {
      const clientId = await deviceApp('Family TV');
      const user = await seedUser(ts, `family_${dialect}`);
      let agent = await signIn(ts, user.username);
      const approved = await start(clientId);
      expect((await decide(agent, (await enterCode(agent, approved.user_code)).html, 'allow')).status).toBe(200);
      const shown = await start(clientId);
      const confirmation = await enterCode(agent, shown.user_code);
      expect(confirmation.status).toBe(200);

      await ts.services.userAdmin.suspend(user.userId, null);
      await ts.services.userAdmin.unsuspend(user.userId, null);

      expect((await poll(clientId, approved.device_code)).json.error).toBe('access_denied');
      // Signed in again, the page shown before the suspension decides nothing; the code still waits.
      agent = await signIn(ts, user.username, PASSWORD);
      const csrf = hiddenField(await (await agent.fetch('/device')).text(), '_csrf');
      const stale = await agent.fetch('/device/decision', { form: { _csrf: csrf, user_code: hiddenField(confirmation.html, 'user_code'), confirmation: hiddenField(confirmation.html, 'confirmation'), decision: 'allow' } });
      expect(stale.status).toBe(400);
      expect(await stale.text()).toContain('did not come from the confirmation page');
      expect((await poll(clientId, shown.device_code)).json.error).toBe('authorization_pending');
    });
  });
});
