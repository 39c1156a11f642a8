import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, childEnv, spawnServer, type ServerProcess } from '../helpers/cli.js';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';

/** README's shell blocks that talk to a running server, in order, as one script. */
function readmeScript(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((block) => block.includes('$SERIKA'));
  return blocks.join('\n');
}

function bash(script: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe("README's shell blocks, run against a started server", () => {
  const dir = mkdtempSync(join(tmpdir(), 'serika-readme-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'readme.db')}` };
  let up: FakeUpstream;
  let server: ServerProcess;

  beforeAll(async () => {
    up = await startFakeUpstream();
    server = await spawnServer({ ...env, UPSTREAM_BASE_URL: up.baseUrl });
  });
  afterAll(async () => {
    await server?.stop();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the issuer as the URL to use', () => {
    expect(server.url).toMatch(/^http:\/\/localhost:\d+$/);
  });

  it('runs the walk-through and the generation examples as written, with SERIKA the origin', async () => {
    const script = readmeScript();
    expect(script).toContain('export SERIKA=http://localhost:3000\n');
    const result = await bash(script.replaceAll('http://localhost:3000', server.url), env);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^user_[0-9a-f]{32}$/);
    expect(result.stdout).toMatch(/"clientId":"client_[0-9a-f]+","name":"My AI Writer".*"clientSecret":"secret_/);
    expect(result.stdout).toContain('{"object":"list","data":[{"clientId":"client_');
    expect(result.stdout).toMatch(/\{"clientId":"client_[0-9a-f]+","clientSecret":"secret_[^"]+"\}/);
    expect(result.stdout).toContain('"object":"chat.completion"');
    expect(result.stdout).not.toContain('"not_found"');
    expect(up.received.some((r) => r.path.endsWith('/chat/completions'))).toBe(true);
  });
});
