import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, childEnv, runCli } from '../helpers/cli.js';
import { call } from '../helpers/server.js';
import { spawn } from 'node:child_process';

/**
 * docs/deploying.md's production install: build once, then an install
 * without dev dependencies (here: the test's node_modules pruned with
 * `npm prune --omit=dev`, which is what `npm ci --omit=dev` leaves), started
 * with `node bin/serika.js serve`, never rebuilding.
 */
describe('a production install (no dev dependencies, no rebuild)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-prod-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves pages, assets and the API from the built dist/ with `node bin/serika.js serve`', async () => {
    for (const path of ['package.json', 'package-lock.json', 'bin', 'dist', 'scripts', 'src/web/assets', 'node_modules']) {
      cpSync(join(ROOT, path), join(dir, path), { recursive: true });
    }
    // --ignore-scripts: pruning only removes packages; without it npm may build better-sqlite3 again from
    // source (minutes of CPU where no prebuilt binary can be fetched), blocking a test worker.
    execFileSync('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, stdio: 'ignore', env: childEnv({}) });
    expect(existsSync(join(dir, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/better-sqlite3'))).toBe(true);
    // What `npm ci --omit=dev` runs as `prepare`: keeps the built dist/.
    expect(execFileSync(process.execPath, ['scripts/prepare.mjs'], { cwd: dir, encoding: 'utf8' })).toContain('using the dist/ already built');

    const env = { DATABASE_URL: `sqlite:${join(dir, 'data/serika.db')}`, PORT: '0' };
    const created = await runCli(['users', 'create', '--username', 'prod', '--password-stdin'], env, 'a good password\n', [process.execPath, join(dir, 'bin/serika.js')]);
    expect(created.code, created.stderr).toBe(0);
    const child = spawn(process.execPath, ['bin/serika.js', 'serve'], { cwd: dir, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let output = '';
        child.stdout.on('data', (chunk) => {
          output += chunk;
          const match = /^Serika listening on (\S+)$/m.exec(output);
          if (match) resolve(match[1]!.replace('localhost', '127.0.0.1'));
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
      });
      expect((await call('GET', `${url}/login`)).status).toBe(200);
      const css = await fetch(`${url}/assets/serika.css`);
      expect(css.status).toBe(200);
      expect(css.headers.get('content-type')).toContain('text/css');
      expect((await call('GET', `${url}/.well-known/oauth-authorization-server`)).json.issuer).toBe(url.replace('127.0.0.1', 'localhost'));
    } finally {
      child.kill('SIGTERM');
    }
    // Copying node_modules and `npm prune` take about 8 s here and several times that on a loaded machine.
  }, 120_000);
});
