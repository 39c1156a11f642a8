import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MCP_PATH } from '../../src/paths.js';
import { startBearerProxy, type BearerProxy } from '../helpers/bearer-proxy.js';
import { CONFORMANCE_DIR, checkProblems, runConformance, serverScenarios, type RunResult } from '../helpers/conformance.js';
import { decide, obtainCode, registerClient, tokenRequest, userWithSession, type Agent } from '../helpers/oauth.js';
import { type Seeded, startTestServer, type TestServer } from '../helpers/server.js';

/** 2025-11-25 is the stateful wire (initialize first), which Serika serves statelessly; 2026-07-28 is stateless. */
const V2025 = '2025-11-25';
const V2026 = '2026-07-28';

interface ServerRun {
  scenario: string;
  at: string;
  /**
   * Checks that cannot pass against a server other than the runner's reference one, and why. They
   * are the runner's expected failures (--expected-failures, per check): it then counts a FAILURE or
   * WARNING there as expected, a SKIPPED one as tolerated, and a pass as a stale entry (exit 1).
   */
  excused?: Record<string, string>;
}

/** The server scenarios that apply to Serika's MCP server (its own tools only, stateless), and at which revision. */
const SERVER_RUNS: ServerRun[] = [
  { scenario: 'server-initialize', at: V2025 },
  { scenario: 'ping', at: V2025 },
  { scenario: 'tools-list', at: V2025 },
  { scenario: 'dns-rebinding-protection', at: V2025 },
  {
    scenario: 'server-stateless',
    at: V2026,
    excused: {
      'sep-2575-server-rejects-undeclared-capability': "calls the runner's diagnostic tool test_missing_capability",
      'sep-2575-missing-capability-http-400': "calls the runner's diagnostic tool test_missing_capability",
      'sep-2575-http-server-no-independent-requests-on-stream': "calls the runner's diagnostic tool test_streaming_elicitation",
      'sep-2575-server-no-log-without-loglevel': "calls the runner's diagnostic tool test_logging_tool",
      'sep-2575-server-sends-tools-list-changed-on-subscription': "a WARNING: changes the tool list through the runner's tool test_trigger_tool_change (Serika's list never changes)",
      'sep-2575-server-sends-prompts-list-changed-on-subscription': 'SKIPPED by the runner: Serika declares no prompts',
    },
  },
  { scenario: 'tools-list', at: V2026 },
  { scenario: 'dns-rebinding-protection', at: V2026 },
  // At 2025-11-25 it needs a session to start at all (a WARNING, nothing tested); Serika keeps none (SPEC §8).
  { scenario: 'server-sse-multiple-streams', at: V2026 },
  {
    scenario: 'caching',
    at: V2026,
    excused: {
      'sep-2549-prompts-list-caching-hints': 'calls prompts/list though Serika declares no prompts (its -32601 is right)',
      'sep-2549-resources-list-caching-hints': 'calls resources/list though Serika declares no resources (its -32601 is right)',
      'sep-2549-resources-templates-list-caching-hints': 'calls resources/templates/list though Serika declares no resources (its -32601 is right)',
      'sep-2549-resources-read-caching-hints': 'SKIPPED by the runner: no resources to read',
    },
  },
  { scenario: 'http-header-validation', at: V2026 },
  { scenario: 'input-required-result-unsupported-methods', at: V2026 },
];

const because = (reason: string, ...scenarios: string[]) => Object.fromEntries(scenarios.map((s) => [s, reason]));
const REFERENCE_TOOLS = "calls the runner's reference tools (test_simple_text, …), which a server with tools of its own does not have";

/** Every other server scenario of the runner, and why it does not apply. */
const NOT_APPLICABLE: Record<string, string> = {
  'server-session-lifecycle': 'sessions: Serika keeps none (SPEC §8; the runner itself reports it does not apply)',
  'server-sse-polling': 'resumable SSE streams of a session (Last-Event-ID): Serika keeps no sessions and answers JSON',
  'logging-set-level': 'Serika declares no logging capability (its -32601 is right)',
  'completion-complete': 'Serika has no prompts or resource templates to complete, and declares no completions',
  ...because(
    REFERENCE_TOOLS,
    'tools-call-simple-text',
    'tools-call-image',
    'tools-call-audio',
    'tools-call-embedded-resource',
    'tools-call-mixed-content',
    'tools-call-with-logging',
    'tools-call-error',
    'tools-call-with-progress',
    'tools-call-sampling',
    'tools-call-elicitation',
    'json-schema-2020-12',
    'elicitation-sep1034-defaults',
    'elicitation-sep1330-enums',
  ),
  ...because(
    "calls the runner's reference tools (test_input_required_result_…); Serika's tools never ask the client for input",
    'input-required-result-basic-elicitation',
    'input-required-result-basic-sampling',
    'input-required-result-basic-list-roots',
    'input-required-result-request-state',
    'input-required-result-multiple-input-requests',
    'input-required-result-multi-round',
    'input-required-result-missing-input-response',
    'input-required-result-non-tool-request',
    'input-required-result-result-type',
    'input-required-result-tampered-state',
    'input-required-result-capability-check',
    'input-required-result-ignore-extra-params',
    'input-required-result-validate-input',
  ),
  'http-custom-header-server-validation': 'needs tools whose parameters are mapped to headers (x-mcp-header); Serika has none',
  ...because(
    'Serika serves no resources',
    'resources-list',
    'resources-read-text',
    'resources-read-binary',
    'resources-templates-read',
    'resources-subscribe',
    'resources-unsubscribe',
    'sep-2164-resource-not-found',
  ),
  ...because('Serika serves no prompts', 'prompts-list', 'prompts-get-simple', 'prompts-get-with-args', 'prompts-get-embedded-resource', 'prompts-get-with-image'),
  ...because('the skills extension (SEP-2640), which Serika does not implement', 'sep-2640-skills-directory', 'sep-2640-skills-enumeration', 'sep-2640-skills-manifest'),
  ...because(
    'the tasks extension (SEP-2663), which Serika does not implement',
    'tasks-lifecycle',
    'tasks-capability-negotiation',
    'tasks-wire-fields',
    'tasks-request-state-removal',
    'tasks-mrtr-input',
    'tasks-request-headers',
    'tasks-dispatch-and-envelope',
    'tasks-status-notifications',
    'tasks-required-task-error',
    'tasks-mrtr-composition',
  ),
};

/** A port free right now on 127.0.0.1, for the runner's OAuth callback server. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Failing checks and the runner's exit code, with its output when it is not 0. */
function expectPassed(result: RunResult, scenarios: Array<Pick<ServerRun, 'scenario' | 'excused'>>): void {
  const problems = scenarios.flatMap(({ scenario, excused }) => checkProblems(scenario, result.checks.get(scenario), excused));
  expect(problems, result.output).toEqual([]);
  expect(result.code, result.output).toBe(0);
}

/**
 * The official MCP conformance runner against a started Serika: its authorization-server
 * scenarios, and the server scenarios that apply to a tools-only, stateless MCP server.
 * PUBLIC_URL is a local proxy in front of Serika, so the issuer, the metadata and /mcp are the
 * addresses the runner is given; the proxy adds a bearer token (from the real flow) to /mcp
 * requests, as the runner's server mode sends none.
 */
describe.skipIf(!CONFORMANCE_DIR)('the official MCP conformance runner', () => {
  let proxy: BearerProxy;
  let ts: TestServer;
  let owner: Seeded;
  let agent: Agent;
  let issuer: string;
  const outputDirs: string[] = [];
  const outputDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'serika-conformance-'));
    outputDirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    proxy = await startBearerProxy(MCP_PATH);
    ts = await startTestServer('sqlite', { PUBLIC_URL: proxy.origin });
    proxy.target = ts.url;
    issuer = ts.config.publicUrl;
    ({ user: owner, agent } = await userWithSession(ts, 'conformance'));
  });
  afterAll(async () => {
    await proxy?.close();
    await ts?.close();
    for (const dir of outputDirs) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * `conformance authorization` (both scenarios, in the order the grant needs): for the printed
   * authorization URL the user signs in (already), allows on the consent page, and the browser
   * follows the redirect to the runner's callback server.
   */
  async function runAuthorization(clientId: string, port: number, extra: string[] = []): Promise<RunResult> {
    const browser = new AbortController();
    let failed: unknown;
    let flow: Promise<void> = Promise.resolve();
    const result = await runConformance(['authorization', '--url', issuer, '--client-id', clientId, '-p', String(port), ...extra], {
      outputDir: outputDir(),
      signal: browser.signal,
      onLine: (line) => {
        if (!line.startsWith(`${issuer}/`) || !line.includes('/oauth/authorize?')) return;
        flow = (async () => {
          const consent = await agent.fetch(line);
          expect(consent.status, `the consent page; got ${consent.headers.get('location') ?? (await consent.clone().text()).slice(0, 500)}`).toBe(200);
          const decision = await decide(agent, ts, await consent.text(), 'allow');
          expect(decision.status, 'the decision redirects').toBe(303);
          const callback = await fetch(decision.headers.get('location')!);
          expect(callback.status, "the runner's callback server").toBe(200);
        })().catch((error: unknown) => {
          failed = error;
          browser.abort();
        });
      },
    });
    await flow;
    if (failed) throw failed;
    return result;
  }

  const AUTHORIZATION = [{ scenario: 'authorization-server-metadata-endpoint' }, { scenario: 'authorization-code-grant' }];

  it('authorization server: a public client registered through the API, for the MCP server (resource)', async () => {
    const port = await freePort();
    const client = await registerClient(ts, owner, { public: true, redirectUris: [`http://127.0.0.1:${port}/callback`] });
    expectPassed(await runAuthorization(client.clientId, port, ['--resource', `${issuer}${MCP_PATH}`]), AUTHORIZATION);
  });

  it('authorization server: a public client registered dynamically (RFC 7591), no resource', async () => {
    const port = await freePort();
    const registered = await fetch(`${ts.api}/oauth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Conformance Runner', redirect_uris: [`http://127.0.0.1:${port}/callback`], token_endpoint_auth_method: 'none' }),
    });
    expect(registered.status).toBe(201);
    const { client_id } = (await registered.json()) as { client_id: string };
    expectPassed(await runAuthorization(client_id, port), AUTHORIZATION);
  });

  it('has decided on every server scenario of the runner, and names no other', async () => {
    const listed = await serverScenarios();
    const decided = new Set([...SERVER_RUNS.map((r) => r.scenario), ...Object.keys(NOT_APPLICABLE)]);
    expect(listed.filter((s) => !decided.has(s)), 'scenarios to run or to list as not applicable').toEqual([]);
    expect([...decided].filter((s) => !listed.includes(s)), 'scenarios the runner does not have').toEqual([]);
  });

  describe('MCP server, tools only (through the bearer proxy)', () => {
    beforeAll(async () => {
      // A token for /mcp from the real flow, asking for no scope: the client's registered ones (SPEC §4).
      const client = await registerClient(ts, owner, { public: true, redirectUris: ['http://127.0.0.1/callback'] });
      const { code, verifier } = await obtainCode(ts, agent, client, { scope: undefined, resource: `${issuer}${MCP_PATH}` });
      const reply = await tokenRequest(ts, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier, client_id: client.clientId });
      expect(reply.status).toBe(200);
      proxy.token = reply.json.access_token;
    });

    for (const run of SERVER_RUNS) {
      it.concurrent(`${run.scenario} (${run.at})`, async () => {
        const dir = outputDir();
        const args = ['server', '--url', `${proxy.origin}${MCP_PATH}`, '--scenario', run.scenario, '--spec-version', run.at];
        if (run.excused) {
          const baseline = join(dir, 'expected-failures.yml');
          writeFileSync(baseline, `server:\n${Object.keys(run.excused).map((id) => `  - "${run.scenario}:${id}"\n`).join('')}`);
          args.push('--expected-failures', baseline);
        }
        const result = await runConformance(args, { outputDir: dir });
        expectPassed(result, [run]);
      }, 60_000); // with the wait for a free runner slot (helpers/conformance.ts)
    }
  });
});
