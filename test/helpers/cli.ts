import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/serika.js', import.meta.url));

const CONFIG_VARS = [
  'PORT', 'HOST', 'PUBLIC_URL', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'REDIS_URL', 'UPSTREAM_BASE_URL', 'UPSTREAM_API_KEY', 'UPSTREAM_TIMEOUT',
  'ACCESS_TOKEN_TTL', 'REFRESH_TOKEN_TTL', 'AUTH_CODE_TTL', 'RATE_LIMIT_TOKEN', 'RATE_LIMIT_LOGIN', 'SIGNUP', 'METRICS_TOKEN',
  'LOG_LEVEL', 'REQUEST_TIMEOUT', 'TRUST_PROXY', 'SHUTDOWN_DRAIN', 'SHUTDOWN_TIMEOUT', 'MAX_CLIENTS_PER_USER', 'ID_TOKEN_TTL',
  'REGISTRATION', 'RATE_LIMIT_REGISTER', 'CIMD', 'CIMD_ALLOW_PRIVATE', 'DEVICE_CODE_TTL', 'BUDGET_DEFAULT_MAX_TOKENS', 'TOKEN_CACHE', 'GROUP_COMMIT', 'AUDIT_RETENTION_DAYS',
  'KEY_ENCRYPTION_SECRETS', 'TEST_DATABASE_URL_PG', 'TEST_REDIS_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
];

/** The parent's environment without any Serika variable, plus the given ones: a child never inherits a mode by accident. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of CONFIG_VARS) delete env[name];
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the command was still running after its time bound and was killed. */
  timedOut?: boolean;
}

/** Runs the built CLI (`npm test` builds first) as `npx serika` would. */
export function runCli(args: string[], env: Record<string, string>, input?: string, command = [process.execPath, BIN], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [file, ...pre] = command;
    const child = spawn(file!, [...pre, ...args], { env: childEnv(env), cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
    child.stdin.end(input ?? '');
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `serika serve` as a child process and waits for its "Serika listening on" line. No
 * shutdown drain unless the test sets one: nothing balances load in front of a test's server, and
 * the default 5 s drain made every stop() wait 5 s.
 */
export function spawnServer(env: Record<string, string>, args: string[] = ['serve']): Promise<ServerProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: childEnv({ PORT: '0', HOST: '127.0.0.1', SHUTDOWN_DRAIN: '0', ...env }),
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let started = false;
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^Serika listening on (\S+)$/m.exec(output);
      if (match && !started) {
        started = true;
        resolve({
          url: match[1]!,
          child,
          output: () => output,
          exited,
          stop: async (signal = 'SIGTERM') => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      if (!started) reject(new Error(`server exited (${code}) before listening:\n${output}`));
    });
  });
}
