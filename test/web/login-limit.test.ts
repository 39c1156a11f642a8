import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, PASSWORD, hiddenField } from '../helpers/oauth.js';
import { captureLog, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

const REDIS_URL = process.env.TEST_REDIS_URL;
const modes: Array<[string, Record<string, string>]> = [
  ['in-process counters', {}],
  ['Redis', REDIS_URL ? { REDIS_URL } : {}],
];

/** A fresh address per test (the proxy in front is trusted): counters in Redis outlive a run by a minute. */
const someAddress = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/**
 * RATE_LIMIT_LOGIN (SPEC §1, §2; OAUTH-CASES UI-05): failed sign-ins per IP and minute. Successful ones
 * are never counted (each sign-in is counted before its password is checked and given back if right);
 * a refused address is refused before its password is checked; the lockout is one audit event, not one
 * per refused request.
 */
describe.each(modes)('the per-IP sign-in limit (%s)', (mode, env) => {
  const skip = mode === 'Redis' && !REDIS_URL;
  let ts: TestServer;
  let user: Seeded;
  const log = captureLog();

  beforeAll(async () => {
    if (skip) return;
    // LOG_LEVEL=silent with a stream: only the audit lines come through.
    ts = await startTestServer('sqlite', { TRUST_PROXY: '127.0.0.1', LOG_LEVEL: 'silent', ...env }, { logStream: log.logStream });
    const redis = ts.services.redis;
    if (redis && redis.status !== 'ready') await new Promise((ready) => redis.once('ready', ready));
    user = await seedUser(ts);
  });
  afterAll(async () => ts?.close());

  const login = async (from: string, username: string, password: string) => {
    const agent = new Agent(ts.url, ts.config.publicUrl);
    const headers = { 'x-forwarded-for': from };
    const page = await (await agent.fetch('/login', { headers })).text();
    return agent.fetch('/login', { headers, form: { _csrf: hiddenField(page, '_csrf'), username, password } });
  };
  const eventsFrom = async (ip: string, type: string) =>
    ts.services.storage.db.selectFrom('audit_events').selectAll().where('ip', '=', ip).where('type', '=', type).execute();

  describe.skipIf(skip)('counts', () => {
    it('never refuses a user who signs in successfully: 25 times in a minute from one address', async () => {
      const from = someAddress();
      const statuses: number[] = [];
      for (let i = 0; i < 25; i++) statuses.push((await login(from, user.username, PASSWORD)).status);
      expect(statuses).toEqual(Array(25).fill(303));
      expect(await eventsFrom(from, 'sign_in.succeeded')).toHaveLength(25);
    });

    it('counts each sign-in before its password is checked: 60 wrong ones sent together get 20 checks', async () => {
      const from = someAddress();
      const headers = { 'x-forwarded-for': from };
      // Each form first (the GETs are not counted), then every POST at once.
      const forms = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const agent = new Agent(ts.url, ts.config.publicUrl);
          const csrf = hiddenField(await (await agent.fetch('/login', { headers })).text(), '_csrf');
          return { agent, form: { _csrf: csrf, username: `burst${i}_${randomInt(1e9)}`, password: 'wrong password' } };
        }),
      );
      const responses = await Promise.all(forms.map(({ agent, form }) => agent.fetch('/login', { headers, form })));
      const statuses = responses.map((r) => r.status);
      // A 401 is a password checked (and wrong); a 429 was refused before its password was looked at.
      expect(statuses.filter((s) => s === 401)).toHaveLength(20);
      expect(statuses.filter((s) => s === 429)).toHaveLength(40);
      expect(await eventsFrom(from, 'sign_in.failed')).toHaveLength(20);
      expect(await eventsFrom(from, 'sign_in.ip_limited')).toHaveLength(1);
    });

    it('refuses the 21st failure, before checking the password, and records the lockout once', async () => {
      expect(ts.config.rateLimitLogin).toBe(20);
      const from = someAddress();
      const failures: number[] = [];
      // Unknown names, so the per-username slowdown plays no part.
      for (let i = 0; i < 20; i++) failures.push((await login(from, `guess${i}_${randomInt(1e9)}`, 'wrong password')).status);
      expect(failures).toEqual(Array(20).fill(401));

      const refused = [await login(from, 'guess_more', 'wrong password'), await login(from, user.username, 'wrong password'), await login(from, user.username, PASSWORD)];
      expect(refused.map((r) => r.status)).toEqual([429, 429, 429]);
      expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused[0]!.headers.get('content-type')).toContain('text/html');

      expect(await eventsFrom(from, 'sign_in.failed')).toHaveLength(20);
      expect(await eventsFrom(from, 'sign_in.succeeded')).toHaveLength(0); // the right password was never tried
      const lockouts = await eventsFrom(from, 'sign_in.ip_limited');
      expect(lockouts).toHaveLength(1);
      expect(JSON.parse(lockouts[0]!.detail)).toMatchObject({ failures: 20 });

      // Another address is not affected.
      expect((await login(someAddress(), user.username, PASSWORD)).status).toBe(303);

      // At LOG_LEVEL=silent the lines written are the audit lines, the lockout's among them, with their request ids.
      const lines = log.lines.map((l) => JSON.parse(l) as Record<string, any>);
      expect(lines.length).toBeGreaterThan(0);
      expect(lines.filter((l) => !String(l.msg).startsWith('audit: '))).toEqual([]);
      const limited = lines.filter((l) => l.msg === 'audit: sign_in.ip_limited' && l.audit.ip === from);
      expect(limited).toHaveLength(1);
      expect(limited[0]!.reqId).toBe(refused[0]!.headers.get('x-request-id'));
    });
  });
});
