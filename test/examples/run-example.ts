import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { freePort } from '../../src/server.js';
import { ROOT, childEnv } from '../helpers/cli.js';
import type { FormBrowser, Page } from './form-browser.js';
import { call, seedUser, startTestServer, type Seeded, type TestServer } from '../helpers/server.js';

export interface RunningExample {
  child: ChildProcess;
  /** Everything the example printed so far. */
  output(): string;
  /** Its exit code, once it exits. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/**
 * Runs an example as its README says (`node examples/…`, from the repository root) and resolves
 * once it prints `ready`; rejects with its output when it exits first.
 */
export function runExample(file: string, env: Record<string, string>, ready: RegExp | string = 'Example app on'): Promise<RunningExample> {
  const child = spawn(process.execPath, [join(ROOT, file)], { cwd: ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const running: RunningExample = {
    child,
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (typeof ready === 'string' ? output.includes(ready) : ready.test(output)) resolve(running);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready:\n${output}`)));
  });
}

export interface RelyingParty {
  ts: TestServer;
  /** The user who registered the client and signs in to the app. */
  user: Seeded;
  app: RunningExample;
  /** The app's origin, http://127.0.0.1:<port>. */
  appUrl: string;
  clientId: string;
  close(): Promise<void>;
}

/**
 * A started Serika with a user, a client registered for an example app (its paths made absolute
 * on the app's port), and the app running against it with SERIKA_ISSUER, CLIENT_ID, CLIENT_SECRET
 * (for a confidential client) and PORT. serikaEnv may be a function, read when Serika starts.
 */
export async function startRelyingParty(
  file: string,
  client: { name: string; redirectPath: string; postLogoutPath?: string; public?: boolean; scopes?: string[] },
  { serikaEnv = {}, appEnv = {} }: { serikaEnv?: Record<string, string> | (() => Record<string, string>); appEnv?: Record<string, string> } = {},
): Promise<RelyingParty> {
  const ts = await startTestServer('sqlite', typeof serikaEnv === 'function' ? serikaEnv() : serikaEnv);
  try {
    const user = await seedUser(ts);
    const port = await freePort('127.0.0.1');
    const appUrl = `http://127.0.0.1:${port}`;
    const registered = await call('POST', `${ts.api}/oauth/clients`, {
      key: user.key,
      json: {
        name: client.name,
        redirectUris: [appUrl + client.redirectPath],
        scopes: client.scopes ?? ['profile'],
        ...(client.postLogoutPath === undefined ? {} : { postLogoutRedirectUris: [appUrl + client.postLogoutPath] }),
        ...(client.public ? { public: true } : {}),
      },
    });
    if (registered.status !== 201) throw new Error(`client not registered: ${registered.text}`);
    const { clientId, clientSecret } = registered.json;
    const app = await runExample(file, { SERIKA_ISSUER: ts.config.publicUrl, CLIENT_ID: clientId, ...(clientSecret ? { CLIENT_SECRET: clientSecret } : {}), PORT: String(port), ...appEnv });
    const close = async () => {
      await app.stop();
      await ts.close();
    };
    return { ts, user, app, appUrl, clientId, close };
  } catch (error) {
    await ts.close();
    throw error;
  }
}

/**
 * startRelyingParty for a describe block: started before its tests, closed after them. The object
 * returned is filled in by then.
 */
export function relyingParty(...args: Parameters<typeof startRelyingParty>): RelyingParty {
  const rp = {} as RelyingParty;
  beforeAll(async () => void Object.assign(rp, await startRelyingParty(...args)));
  afterAll(() => rp.close?.());
  return rp;
}

/**
 * From Serika's sign-in page, reached from the app: signs in and allows, and expects to land on
 * the app's home page greeting the user. Returns that page and the authorization request's parameters.
 */
export async function signInToApp(browser: FormBrowser, rp: RelyingParty, login: Page): Promise<{ home: Page; authorize: Record<string, string> }> {
  const authorize = browser.visited.findLast((u) => u.pathname.endsWith('/oauth/authorize'));
  if (!authorize) throw new Error(`the app sent no authorization request: ${browser.visited.join(' → ')}`);
  const home = await browser.signInAndAllow(login, rp.user.username);
  expect(home.url.href).toBe(`${rp.appUrl}/`);
  expect(home.html).toContain(`Hello, ${rp.user.username}`);
  return { home, authorize: Object.fromEntries(authorize.searchParams) };
}
