import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/server.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import { until } from '../helpers/until.js';

/** One Dockerfile instruction, continuation lines joined, comments dropped. */
interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  name: string;
  instructions: Instruction[];
}

function stagesOf(dockerfile: string): Stage[] {
  const logical = dockerfile
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, op = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { op: op.toUpperCase(), args };
    if (instruction.op === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(args)?.[1] ?? String(stages.length), instructions: [] });
    stages.at(-1)?.instructions.push(instruction);
  }
  return stages;
}

const DOCKERFILE = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const stages = stagesOf(DOCKERFILE);
const runtime = stages.at(-1)!;
const of = (stage: Stage, op: string) => stage.instructions.filter((i) => i.op === op);
const runs = (stage: Stage) => of(stage, 'RUN').map((i) => i.args).join('\n');

/** `COPY [--from=stage] src… dest` as its parts. */
function copies(stage: Stage): Array<{ from: string | undefined; sources: string[]; destination: string }> {
  return of(stage, 'COPY').map(({ args }) => {
    const words = args.split(/\s+/);
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
  });
}

/** The runtime stage's HEALTHCHECK command, in exec form. */
function healthcheckCommand(): string[] {
  const [healthcheck] = of(runtime, 'HEALTHCHECK');
  const json = /\bCMD\s+(\[.*\])\s*$/.exec(healthcheck?.args ?? '')?.[1];
  if (!json) throw new Error('the runtime stage has no HEALTHCHECK … CMD ["…"] (exec form)');
  return JSON.parse(json) as string[];
}

const dockerAnswers = spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
if (!dockerAnswers) console.warn('docker does not answer here (no daemon or no client): the image is not built; the Dockerfile is checked statically and its runtime layout is run without Docker');

describe('the Dockerfile', () => {
  it('builds in one stage and installs production dependencies in another, from the lockfile', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const build = stages.find((s) => /npm run build/.test(runs(s)))!;
    expect(runs(build)).toMatch(/\bnpm ci\b/);
    const deps = stages.find((s) => /npm ci\b[^\n]*--omit=dev/.test(runs(s)))!;
    expect(deps, 'a stage that runs npm ci --omit=dev').toBeDefined();
    // better-sqlite3 is native: built where the compilers are, and loaded once to prove it.
    expect(runs(deps)).toMatch(/g\+\+/);
    expect(runs(deps)).toMatch(/npm rebuild better-sqlite3/);
    expect(runs(deps)).toMatch(/require\('better-sqlite3'\)/);
    expect(copies(deps).flatMap((c) => c.sources)).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']));
    // Every stage on the same base (the native module must match the runtime's Node and glibc).
    expect(new Set(stages.map((s) => of(s, 'FROM')[0]!.args.split(/\s+/)[0]))).toEqual(new Set(['${NODE_IMAGE}']));
  });

  it('runs as a non-root user with no compilers, exposes the port, keeps a volume and checks /readyz with node', () => {
    const users = of(runtime, 'USER').map((i) => i.args);
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)).not.toMatch(/^(root|0)(:|$)/);
    expect(runs(runtime)).not.toMatch(/apt-get install|g\+\+|npm (ci|install)/);
    expect(copies(runtime).find((c) => c.from === 'deps')?.sources).toEqual(['/app/node_modules']);
    expect(of(runtime, 'EXPOSE').map((i) => i.args)).toEqual(['3000']);
    expect(of(runtime, 'VOLUME').map((i) => i.args).join(' ')).toContain('/app/data');
    expect(of(runtime, 'CMD')[0]?.args).toBe('["node", "bin/serika.js", "serve"]');
    const health = healthcheckCommand();
    expect(health[0]).toBe('node');
    expect(health.join(' ')).toContain('/readyz');
    // The slim image has neither.
    expect([runs(runtime), ...health].join(' ')).not.toMatch(/\b(curl|wget)\b/);
  });

  it('sends the build context only what it copies: no node_modules, dist, data, .env or .git', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    // An allow-list: everything out, then back in one by one.
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    for (const stage of stages) {
      for (const { from, sources } of copies(stage)) {
        if (from !== undefined) continue;
        for (const source of sources) {
          expect(allowed.some((a) => source === a || source.startsWith(`${a}/`)), `${source} is sent to the build`).toBe(true);
          expect(existsSync(join(ROOT, source)), `${source} exists`).toBe(true);
        }
      }
    }
    for (const never of ['node_modules', 'dist', 'data', '.env', '.git']) expect(allowed).not.toContain(never);
  });

  /**
   * Without Docker: the files the runtime stage copies, laid out as it lays them out
   * (/app/X of a build stage is the repository's X; node_modules is linked, not copied:
   * production.test.ts checks an install without dev dependencies), started as its CMD
   * with its ENV, and probed with its HEALTHCHECK command: 0 while ready, 1 once stopped.
   */
  describe('its runtime stage, laid out and run without Docker', () => {
    const dir = mkdtempSync(join(tmpdir(), 'serika-image-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('serves from what it copies, and its HEALTHCHECK passes while ready and fails once stopped', async () => {
      for (const { from, sources, destination } of copies(runtime)) {
        for (const source of sources) {
          const repoPath = from === undefined ? source : source.replace(/^\/app\//, '');
          // Docker's rule: into a destination ending in / by the source's name, else as the destination.
          const target = join(dir, destination.endsWith('/') ? join(destination, basename(repoPath)) : destination);
          mkdirSync(dirname(target), { recursive: true });
          if (repoPath === 'node_modules') symlinkSync(join(ROOT, 'node_modules'), target, 'dir');
          else cpSync(join(ROOT, repoPath), target, { recursive: true });
        }
      }
      mkdirSync(join(dir, 'data'), { mode: 0o700 });
      const imageEnv = Object.fromEntries(
        of(runtime, 'ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!] as const)),
      );
      expect(imageEnv).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
      // A free port instead of 3000, and loopback only: this is a shared test machine, not a container.
      const env = childEnv({ ...imageEnv, PORT: String(await freePort('127.0.0.1')), HOST: '127.0.0.1', SHUTDOWN_DRAIN: '0' });
      const [command, ...args] = JSON.parse(of(runtime, 'CMD')[0]!.args) as string[];
      const server = spawn(command === 'node' ? process.execPath : command!, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      server.stdout.on('data', (d) => (output += d));
      server.stderr.on('data', (d) => (output += d));
      const exited = new Promise((resolve) => server.on('exit', resolve));
      const [healthCommand, ...healthArgs] = healthcheckCommand();
      const probe = () => spawnSync(healthCommand === 'node' ? process.execPath : healthCommand!, healthArgs, { env, timeout: 3000 }).status;
      try {
        await until(() => output.includes('Serika listening on'), { timeoutMs: 30_000, message: `the server to start:\n${output}` });
        expect(probe()).toBe(0);
        expect(existsSync(join(dir, 'data/serika.db'))).toBe(true);
        // What /readyz does not need: the pages' assets and the version from package.json.
        const origin = `http://127.0.0.1:${env.PORT}`;
        expect((await fetch(`${origin}/login`)).status).toBe(200);
        expect((await fetch(`${origin}/assets/serika.css`)).status).toBe(200);
      } finally {
        server.kill('SIGTERM');
        await exited;
      }
      expect(probe()).toBe(1);
    }, 60_000);
  });

  it.skipIf(!dockerAnswers)('builds an image that becomes healthy and runs as a non-root user', async () => {
    const tag = `serika-kit-test:${process.pid}`;
    execFileSync('docker', ['build', '-t', tag, '.'], { cwd: ROOT, stdio: 'ignore', timeout: 900_000 });
    const id = execFileSync('docker', ['run', '-d', '--rm', tag], { encoding: 'utf8' }).trim();
    try {
      await until(() => execFileSync('docker', ['inspect', '--format', '{{.State.Health.Status}}', id], { encoding: 'utf8' }).trim() === 'healthy', {
        timeoutMs: 120_000,
        intervalMs: 1000,
        message: 'the container to become healthy',
      });
      expect(execFileSync('docker', ['exec', id, 'id', '-u'], { encoding: 'utf8' }).trim()).not.toBe('0');
    } finally {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
      execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
    }
  }, 1_000_000);
});
