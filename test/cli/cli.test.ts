import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/database.js';
import { runCli } from '../helpers/cli.js';

describe('the serika CLI', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'serika-cli-'));
    env = { DATABASE_URL: `sqlite:${join(dir, 'cli.db')}` };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('migrates and says so, then says the database is up to date', async () => {
    const first = await runCli(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('0001_accounts_and_clients');
    const second = await runCli(['migrate'], env);
    expect(second).toMatchObject({ code: 0, stdout: 'Database is up to date.\n' });
  });

  it('creates a user from the first line of stdin and prints its id', async () => {
    const result = await runCli(['users', 'create', '--username', 'Dana', '--password-stdin', '--email', 'dana@example.com'], env, 'a good password\nignored second line\n');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^user_[0-9a-f]{32}\n$/);
    // --email queues the address's verification link in the outbox, for a running server to send (SPEC §11).
    const storage = openStorage(env.DATABASE_URL!);
    try {
      const queued = await storage.db.selectFrom('mail_outbox').select(['recipient', 'subject', 'state']).execute();
      expect(queued).toEqual([{ recipient: 'dana@example.com', subject: 'Verify your email address for Serika', state: 'pending' }]);
    } finally {
      await storage.close();
    }
  });

  it('refuses a taken username regardless of case, with one line on stderr and exit 1', async () => {
    const result = await runCli(['users', 'create', '--username', 'dana', '--password-stdin'], env, 'another password\n');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`serika: That username is already taken. [database sqlite:${join(dir, 'cli.db')} (DATABASE_URL)]\n`);
    expect(result.stdout).toBe('');
  });

  it.each([
    [['users', 'create', '--username', 'x', '--password-stdin'], 'good password\n', /Usernames are 3 to 32/],
    [['users', 'create', '--username', 'shorty', '--password-stdin'], 'short\n', /Passwords must be 8 to 256/],
    [['users', 'create', '--username', 'nopass', '--password-stdin'], '', /no password on standard input/],
    [['users', 'create', '--username', 'noflag'], 'good password\n', /--password-stdin is required/],
    [['keys', 'create', '--username', 'nobody'], '', /No user named "nobody"/],
    [['keys', 'revoke', '--username', 'Dana', '--prefix', 'sk-serika-nothing'], '', /no active API key of Dana has the prefix/],
  ])('fails %j with one line and exit 1', async (args, input, message) => {
    const result = await runCli(args, env, input);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('creates, lists and revokes API keys; the key appears once and only at creation', async () => {
    const created = await runCli(['keys', 'create', '--username', 'dana', '--name', 'laptop'], env);
    expect(created.code).toBe(0);
    const lines = created.stdout.trimEnd().split('\n');
    const key = lines[lines.length - 1]!;
    expect(key).toMatch(/^sk-serika-[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('shown only once');

    const list = await runCli(['keys', 'list', '--username', 'Dana'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^PREFIX\s+NAME\s+CREATED\s+LAST USED\s+STATUS/);
    expect(list.stdout).toContain(key.slice(0, 18));
    expect(list.stdout).toContain('laptop');
    expect(list.stdout).toContain('never');
    expect(list.stdout).not.toContain(key);

    const revoked = await runCli(['keys', 'revoke', '--username', 'dana', '--prefix', key.slice(0, 18)], env);
    expect(revoked).toMatchObject({ code: 0, stdout: `Revoked 1 API key with prefix ${key.slice(0, 18)}.\n` });
    const after = await runCli(['keys', 'list', '--username', 'dana'], env);
    expect(after.stdout).toMatch(/revoked \d{4}-/);
  });

  it('stops on bad configuration with one line naming the variable, exit 1', async () => {
    for (const [name, value] of [['PORT', 'abc'], ['DATABASE_URL', 'mysql://x'], ['SIGNUP', 'sometimes'], ['KEY_ENCRYPTION_SECRETS', 'shorter-than-32']] as const) {
      const result = await runCli(['serve'], { ...env, [name]: value });
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(new RegExp(`Invalid ${name}=.*expected`));
    }
  });

  it('fails clearly when PostgreSQL is unreachable', async () => {
    const result = await runCli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^serika: .*(ECONNREFUSED|connect)/);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([[[]], [['serve']], [['migrate']], [['migrate', 'status']], [['users', 'create']], [['keys', 'create']], [['keys', 'list']], [['keys', 'revoke']], [['prune']], [['backup']], [['signing-keys', 'rotate']], [['secrets']], [['secrets', 'reencrypt']]])(
    'has --help for %j',
    async (args) => {
      const result = await runCli([...args, '--help'], env);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: serika/);
    },
  );

  it('documents --workers, --password-stdin and --prefix in their help', async () => {
    expect((await runCli(['serve', '--help'], env)).stdout).toContain('--workers <n>');
    expect((await runCli(['users', 'create', '--help'], env)).stdout).toContain('--password-stdin');
    expect((await runCli(['keys', 'revoke', '--help'], env)).stdout).toContain('--prefix <prefix>');
  });

  it('says on stderr which database it used, and takes --database-url over DATABASE_URL', async () => {
    const listed = await runCli(['keys', 'list', '--username', 'dana'], env);
    expect(listed.stderr).toBe(`serika: used the database sqlite:${join(dir, 'cli.db')} (DATABASE_URL)\n`);
    const other = `sqlite:${join(dir, 'other.db')}`;
    const elsewhere = await runCli(['keys', 'list', '--username', 'dana', '--database-url', other], env);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toBe(`serika: No user named "dana". [database ${other} (--database-url)]\n`);
    const defaulted = await runCli(['migrate', '--help'], {});
    expect(defaulted.stdout).toContain('--database-url <url>');
  });

  it('never prints the password of a database or Redis URL, and names the variable for a bad port', async () => {
    for (const [name, value] of [
      ['DATABASE_URL', 'postgres://serika:hunter2-secret@db:99999/serika'],
      ['REDIS_URL', 'redis://:hunter2-secret@cache:99999'],
      ['DATABASE_URL', 'mysql://serika:hunter2-secret@db/serika'],
    ] as const) {
      const result = await runCli(['migrate'], { [name]: value });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^serika: Invalid ${name}=.*expected`));
      expect(result.stderr).not.toContain('hunter2');
      expect(result.stderr).not.toContain('Invalid URL');
    }
    const unreachable = await runCli(['migrate'], { DATABASE_URL: 'postgres://serika:hunter2-secret@127.0.0.1:1/none' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).not.toContain('hunter2');
    expect(unreachable.stderr).toContain('serika:***@127.0.0.1:1');
  });

  it.skipIf(!process.env.TEST_REDIS_URL)('exits after every command when REDIS_URL is set (within 15 s each)', async () => {
    const withRedis = { ...env, REDIS_URL: process.env.TEST_REDIS_URL! };
    const runs: Array<[string[], string?]> = [
      [['migrate']],
      [['users', 'create', '--username', 'redisuser', '--password-stdin'], 'a good password\n'],
      [['keys', 'create', '--username', 'redisuser']],
      [['keys', 'list', '--username', 'redisuser']],
    ];
    for (const [args, input] of runs) {
      const result = await runCli(args, withRedis, input, undefined, 15_000);
      expect(result.timedOut, args.join(' ')).toBe(false);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    const prefix = (await runCli(['keys', 'list', '--username', 'redisuser'], withRedis, undefined, undefined, 15_000)).stdout.split('\n')[1]!.split(/\s+/)[0]!;
    const revoked = await runCli(['keys', 'revoke', '--username', 'redisuser', '--prefix', prefix], withRedis, undefined, undefined, 15_000);
    expect(revoked).toMatchObject({ code: 0, timedOut: false });
  });

  it('prunes on demand and prints what it deleted', async () => {
    const result = await runCli(['prune'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^pendingRequests\s+\d+\ncodes\s+\d+\ntokens\s+\d+\ndeviceCodes\s+\d+\nsessions\s+\d+\nemailLinks\s+\d+\nmailSentOrGivenUp\s+\d+\neventsDeliveredOrFailed\s+\d+\nsessionClients\s+\d+\nloginFailures\s+\d+\npendingSignIns\s+\d+\nwebauthnChallenges\s+\d+\nunusedOwnerlessClients\s+\d+\nbudgetHoldsReleased\s+\d+\ncacheInvalidations\s+\d+\nresponseOwners\s+\d+\nauditEvents\s+\d+\n$/);
  });

  it('lists and rotates the OIDC signing keys', async () => {
    const list = await runCli(['signing-keys', 'list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^KID\s+ALG\s+STATE\s+CREATED\s+SIGNS FROM\s+RETIRED/);
    expect(list.stdout.match(/ active /g)).toHaveLength(3);
    const rotated = await runCli(['signing-keys', 'rotate'], env);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout.match(/ next /g)).toHaveLength(3);
    expect((await runCli(['signing-keys', 'list'], env)).stdout.split('\n').filter((l) => / (next|active) /.test(l))).toHaveLength(6);
  });

  it('seals the keys with secrets reencrypt; a start without the secret then fails with one line naming KEY_ENCRYPTION_SECRETS', async () => {
    const sealedEnv = { DATABASE_URL: `sqlite:${join(dir, 'sealed.db')}` };
    const secret = { KEY_ENCRYPTION_SECRETS: 'a-secret-of-at-least-thirty-two-characters' };
    expect((await runCli(['signing-keys', 'list'], sealedEnv)).code).toBe(0);
    const unset = await runCli(['secrets', 'reencrypt'], sealedEnv);
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(/^serika: KEY_ENCRYPTION_SECRETS is not set: there is no secret to encrypt under \[database /);
    expect(unset.stderr.trimEnd().split('\n')).toHaveLength(1);

    const sealed = await runCli(['secrets', 'reencrypt'], { ...sealedEnv, ...secret });
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(sealed.stdout).toMatch(/^VALUES\s+RE-ENCRYPTED\s+WERE PLAIN\s+ALREADY CURRENT\s+CHANGED MEANWHILE\nprivate signing keys\s+0\s+3\s+0\s+0\n/);
    expect(sealed.stdout).toMatch(/Every value above is sealed under the first KEY_ENCRYPTION_SECRETS secret \(fingerprint [\w-]{12}\)\.\n$/);

    const start = await runCli(['serve'], { ...sealedEnv, PORT: '0' });
    expect(start.code).toBe(1);
    expect(start.stderr).toMatch(/^serika: cannot start: the private signing key \S+ is sealed under a KEY_ENCRYPTION_SECRETS secret \(fingerprint [\w-]{12}\), but KEY_ENCRYPTION_SECRETS is not set\n$/);
  }, 90_000); // four CLI runs, the first making the RSA keys

  it('lists the secrets command in the top-level help', async () => {
    expect((await runCli(['--help'], env)).stdout).toMatch(/secrets\s+the keys Serika keeps in its database/);
    expect((await runCli(['secrets', 'reencrypt', '--help'], env)).stdout).toContain('KEY_ENCRYPTION_SECRETS');
  });

  // npx links this project into its cache and runs its `prepare` script: a whole tsc into dist/ (the 15–20 s this
  // test took), rewriting files other test files' servers were loading at that moment — a server once failed to start
  // on a half-written module ("does not provide an export named isSealed"). The bin is under test, not the build.
  it('runs through npx serika', async () => {
    const result = await runCli(['keys', 'list', '--username', 'dana'], { ...env, npm_config_ignore_scripts: 'true' }, undefined, ['npx', 'serika']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('laptop');
  });
});
