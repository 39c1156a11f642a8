import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { runCli } from '../helpers/cli.js';
import { Agent, PASSWORD, authorizeUrl, hiddenField, pkce, registerClient, signIn, standardParams, type TestClient } from '../helpers/oauth.js';
import { call, seedUser, startInstance, type Seeded, type TestServer } from '../helpers/server.js';
import { until } from '../helpers/until.js';

type Instance = Awaited<ReturnType<typeof startInstance>>;

/**
 * SPEC §12's CLI, run as `npx serika` would be, against a database a running server shares: each decision changes
 * what that server then answers (it hears of it through the invalidation feed), on both dialects. A failing
 * command prints one line on stderr and exits 1 (SPEC §1).
 */
describe.each(DIALECTS)('the operator commands of the CLI (%s)', (dialect) => {
  let database: TestDatabase;
  let server: Instance;
  let env: Record<string, string>;

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    server = await startInstance(database.url);
    env = { DATABASE_URL: database.url, LOG_LEVEL: 'silent' };
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    await database?.cleanup();
  });

  const cli = (...args: string[]) => runCli(args, env);
  const expectOneLineFailure = (result: Awaited<ReturnType<typeof runCli>>, message: RegExp) => {
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stdout).toBe('');
  };
  const adminApi = async (who: Seeded) => (await call('GET', `${server.url}/admin/api/users?q=cli`, { key: who.key })).status;
  /** The /login form, as a browser posts it: 303 signed in, 403 refused as suspended. */
  const logIn = async (username: string) => {
    const browser = new Agent(server.url, server.config.publicUrl);
    const form = await (await browser.fetch('/login')).text();
    const answer = await browser.fetch('/login', { form: { _csrf: hiddenField(form, '_csrf'), username, password: PASSWORD } });
    return { status: answer.status, text: await answer.text() };
  };

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('users set-role makes a user an admin of the admin API and back; a bad role or an unknown user fails in one line', async () => {
      const user = await seedUser(server, `cli_role_${dialect}`);
      expect(await adminApi(user)).toBe(403);
      const made = await cli('users', 'set-role', '--username', user.username, '--role', 'admin');
      expect(made.code).toBe(0);
      expect(made.stdout).toBe(`${user.username}: admin\n`);
      expect(await adminApi(user)).toBe(200);
      const listed = await call('GET', `${server.url}/admin/api/users?q=${user.username}`, { key: user.key });
      expect(listed.json.data).toEqual([expect.objectContaining({ id: user.userId, role: 'admin', suspended: false })]);
      expect((await cli('users', 'set-role', '--username', user.username, '--role', 'user')).code).toBe(0);
      expect(await adminApi(user)).toBe(403);

      expectOneLineFailure(await cli('users', 'set-role', '--username', user.username, '--role', 'root'), /--role must be admin or user/);
      expect(await adminApi(user)).toBe(403);
      expectOneLineFailure(await cli('users', 'set-role', '--username', 'nobody_here', '--role', 'admin'), /No user named "nobody_here"/);
    }, 60_000);

    it('users suspend ends sign-in, sessions and keys on the running server; unsuspend lets the user back', async () => {
      const user = await seedUser(server, `cli_susp_${dialect}`);
      const session = await signIn(server as unknown as TestServer, user.username);
      expect((await session.fetch('/dashboard')).status).toBe(200);

      const suspended = await cli('users', 'suspend', '--username', user.username);
      expect(suspended.code).toBe(0);
      expect(suspended.stdout).toBe(`${user.username}: suspended\n`);
      await expect.poll(async () => (await call('GET', `${server.api}/models`, { key: user.key })).status).toBe(401);
      expect((await session.fetch('/dashboard')).status).toBe(303);
      const refused = await logIn(user.username);
      expect(refused.status).toBe(403);
      expect(refused.text).toContain('This account is suspended.');

      const back = await cli('users', 'unsuspend', '--username', user.username);
      expect(back.code).toBe(0);
      expect(back.stdout).toBe(`${user.username}: unsuspended\n`);
      expect((await logIn(user.username)).status).toBe(303);
      expect((await call('GET', `${server.api}/models`, { key: user.key })).status).not.toBe(401);
      expectOneLineFailure(await cli('users', 'suspend', '--username', 'nobody_here'), /No user named "nobody_here"/);
    }, 60_000);

    it('clients verify, unverify and suspend change what the API and the consent page show; an unknown client fails in one line', async () => {
      const owner = await seedUser(server, `cli_owner_${dialect}`);
      const user = await seedUser(server, `cli_user_${dialect}`);
      const client: TestClient = await registerClient(server, owner, { name: `CLI App ${dialect}`, scopes: ['profile'] });
      const agent = await signIn(server as unknown as TestServer, user.username);
      const consent = async () => {
        const page = await agent.fetch(authorizeUrl(server, standardParams(client, pkce().challenge, { prompt: 'consent' })));
        return { status: page.status, text: await page.text() };
      };
      const shown = async () => (await call('GET', `${server.api}/oauth/clients/${client.clientId}`, { key: owner.key })).json as { verified: boolean; suspended: boolean };
      // The CLI is another process: the running server's cached client learns of its change through the invalidation
      // feed, within its delay (a second at most) — the consent page may show the old one until then (it did, once, in CI).
      const consentOnceItShows = (what: string, test: (page: { status: number; text: string }) => boolean) =>
        until(async () => {
          const page = await consent();
          return test(page) && page;
        }, { timeoutMs: 2000, message: `the consent page to show ${what}` });
      const operator = server.config.operatorName;
      expect(await shown()).toMatchObject({ verified: false, suspended: false });

      const verified = await cli('clients', 'verify', '--client-id', client.clientId);
      expect(verified.code).toBe(0);
      expect(verified.stdout).toBe(`Verified CLI App ${dialect} (${client.clientId}).\n`);
      expect(await shown()).toMatchObject({ verified: true, suspended: false });
      expect((await consentOnceItShows('the app verified', (p) => p.text.includes(`Verified by ${operator}`))).status).toBe(200);

      expect((await cli('clients', 'unverify', '--client-id', client.clientId)).stdout).toBe(`Unverified CLI App ${dialect} (${client.clientId}).\n`);
      expect(await shown()).toMatchObject({ verified: false });
      const unverified = await consentOnceItShows('the app unverified', (p) => p.text.includes('Serika has not verified this app.'));
      expect(unverified.text).not.toContain('Verified by');

      expect((await cli('clients', 'suspend', '--client-id', client.clientId)).stdout).toBe(`Suspended CLI App ${dialect} (${client.clientId}).\n`);
      expect(await shown()).toMatchObject({ suspended: true });
      const page = await consentOnceItShows('the app suspended', (p) => p.status === 403);
      expect(page.text).toContain('is suspended');
      expect((await cli('clients', 'unsuspend', '--client-id', client.clientId)).code).toBe(0);
      await consentOnceItShows('the app back', (p) => p.status === 200);

      expectOneLineFailure(await cli('clients', 'suspend', '--client-id', 'client_0000000000000000'), /No client with client_id "client_0000000000000000"/);
      const events = await server.services.storage.db.selectFrom('audit_events').select(['type', 'actor_id']).where('client_id', '=', client.clientId).where('type', '!=', 'client.created').execute();
      expect(events.map((e) => e.type).sort()).toEqual(['client.suspended', 'client.unsuspended', 'client.unverified', 'client.verified']);
      expect(events.every((e) => e.actor_id === null)).toBe(true);
    }, 60_000);
  });
});
