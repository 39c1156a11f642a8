import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The official MCP conformance runner (@modelcontextprotocol/conformance), run as a child process.
 * Found as a dependency, else at MCP_CONFORMANCE_DIR (the package's folder); null when neither has it.
 */
export const CONFORMANCE_DIR: string | null = (() => {
  try {
    return dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json'));
  } catch {
    const dir = process.env.MCP_CONFORMANCE_DIR;
    return dir && fs.existsSync(join(dir, 'dist', 'index.js')) ? dir : null;
  }
})();

if (!CONFORMANCE_DIR) {
  console.warn('[serika tests] @modelcontextprotocol/conformance not found (npm install, or MCP_CONFORMANCE_DIR=<its folder>): the conformance suite is skipped.');
}

/** Node 20 lacks fs.globSync, which the runner imports: conformance/register.mjs supplies it (gone with Node 22). */
const SHIM = fileURLToPath(new URL('./conformance/register.mjs', import.meta.url));
const NEEDS_SHIM = typeof (fs as { globSync?: unknown }).globSync !== 'function';

export interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  description: string;
  errorMessage?: string;
}

export interface RunResult {
  /** The runner's exit code; null when it was killed (timeout or abort). */
  code: number | null;
  /** stdout and stderr, interleaved. */
  output: string;
  /** Each scenario's checks (from the checks.json files under outputDir), by scenario name. */
  checks: Map<string, Check[]>;
}

export interface RunOptions {
  /** Passed as -o; the checks written there are read back. */
  outputDir?: string;
  /** Called with each line the runner prints (how a test drives its interactive scenarios). */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/** Runners at once: each is a Node process busy on the CPU, so more than the cores only queue (and time out). */
const slots = { free: Math.max(2, availableParallelism()), waiting: [] as Array<() => void> };

/** Runs `conformance <args>` to its end (killed after timeoutMs, or on signal), a few at a time. */
export async function runConformance(args: string[], options: RunOptions = {}): Promise<RunResult> {
  if (slots.free === 0) await new Promise<void>((resolve) => slots.waiting.push(resolve));
  else slots.free--;
  try {
    return await runOnce(args, options);
  } finally {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  }
}

function runOnce(args: string[], options: RunOptions): Promise<RunResult> {
  const runner = join(CONFORMANCE_DIR!, 'dist', 'index.js');
  const argv = [...(NEEDS_SHIM ? ['--import', SHIM] : []), runner, ...args, ...(options.outputDir ? ['-o', options.outputDir] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], signal: options.signal });
    let output = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 25_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk;
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      for (const line of lines) options.onLine?.(line);
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk));
    child.on('error', (error) => {
      if (error.name !== 'AbortError') reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output, checks: options.outputDir ? readChecks(options.outputDir) : new Map() });
    });
  });
}

/**
 * The runner writes <outputDir>/<mode>-<scenario>-<ISO timestamp>/checks.json, mode being
 * `server` or `authorization-server`: the scenario is the folder's name between the two.
 */
function readChecks(outputDir: string): Map<string, Check[]> {
  const checks = new Map<string, Check[]>();
  if (!fs.existsSync(outputDir)) return checks;
  for (const folder of fs.readdirSync(outputDir)) {
    const file = join(outputDir, folder, 'checks.json');
    if (!fs.existsSync(file)) continue;
    const scenario = folder.replace(/^(server|authorization-server)-/, '').replace(/-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/, '');
    checks.set(scenario, JSON.parse(fs.readFileSync(file, 'utf8')) as Check[]);
  }
  return checks;
}

/** The server scenarios this runner has (`conformance list --server`). */
export async function serverScenarios(): Promise<string[]> {
  const { code, output } = await runConformance(['list', '--server']);
  if (code !== 0) throw new Error(`conformance list failed (${code}):\n${output}`);
  return [...output.matchAll(/^ {2}- (\S+)/gm)].map((m) => m[1]!);
}

/**
 * What is wrong with a scenario's checks: every check must be SUCCESS or INFO, unless the test
 * excused it by id (with its reason). One line per problem, with the runner's own message.
 */
export function checkProblems(scenario: string, checks: Check[] | undefined, excused: Record<string, string> = {}): string[] {
  if (!checks) return [`${scenario}: no checks.json was written`];
  return checks
    .filter((check) => check.status !== 'SUCCESS' && check.status !== 'INFO' && !(check.id in excused))
    .map((check) => `${scenario}: ${check.id} ${check.status}: ${check.errorMessage ?? check.description}`);
}
