// An orchestrator that gives each sub-agent its own narrower token (RFC 8693 token exchange, SPEC §15).
//
// It holds the user's access token (from any sign-in: examples/web-signin, examples/cli) and its client's
// credentials. For each sub-agent it exchanges that token for one with a name, the `generations` scope alone and
// a slice of the user's budget, then starts the sub-agent as a process of its own with that token only: the
// sub-agent never sees the user's token, cannot outspend its slice, and dies with the orchestrator's token.
//
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… CLIENT_SECRET=secret_… ACCESS_TOKEN=serika_at_… \
//     node examples/sub-agents/orchestrator.mjs
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const { SERIKA_ISSUER, CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN } = process.env;
if (!SERIKA_ISSUER || !CLIENT_ID || !CLIENT_SECRET || !ACCESS_TOKEN) {
  console.error('Set SERIKA_ISSUER, CLIENT_ID, CLIENT_SECRET and ACCESS_TOKEN (the user\'s access token).');
  process.exit(1);
}

// The token endpoint, as the authorization server's metadata names it (RFC 8414).
const metadata = await (await fetch(new URL('/.well-known/oauth-authorization-server', SERIKA_ISSUER))).json();
if (!metadata.grant_types_supported.includes('urn:ietf:params:oauth:grant-type:token-exchange')) throw new Error('This server does not exchange tokens.');
const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(CLIENT_ID)}:${encodeURIComponent(CLIENT_SECRET)}`).toString('base64');

/** RFC 8693 §2.1: the user's token in, a narrower one out. */
async function exchange(agentName, tokens) {
  const response = await fetch(metadata.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: ACCESS_TOKEN,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      scope: 'generations',
      agent_name: agentName,
      authorization_details: JSON.stringify([{ type: 'serika_budget', tokens }]),
    }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`exchange for ${agentName}: ${body.error}: ${body.error_description}`);
  console.log(`exchanged for ${agentName}: scope ${body.scope}, expires_in ${body.expires_in}, budget ${body.authorization_details[0].tokens} tokens`);
  return body.access_token;
}

/** Runs a sub-agent with its own token and task; resolves with what it printed. */
function runSubAgent(name, token, task) {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./sub-agent.mjs', import.meta.url))], {
    env: { ...process.env, ACCESS_TOKEN: '', SUB_AGENT_TOKEN: token, SUB_AGENT_NAME: name, TASK: task },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve(output.trim()) : reject(new Error(`${name} exited ${code}`)))));
}

const plan = [
  { name: 'researcher', tokens: 2000, task: 'List three facts about otters.' },
  { name: 'writer', tokens: 1000, task: 'Write one sentence about otters.' },
];
const tokens = await Promise.all(plan.map((step) => exchange(step.name, step.tokens)));
const answers = await Promise.all(plan.map((step, i) => runSubAgent(step.name, tokens[i], step.task)));
for (const answer of answers) console.log(answer);

// What the server knows of a sub-agent's token: who acts (act, RFC 8693 §4.1) and what it may still spend.
const seen = await (
  await fetch(metadata.introspection_endpoint, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token: tokens[0] }) })
).json();
console.log(`introspection: act ${JSON.stringify(seen.act)}, budget_remaining ${JSON.stringify(seen.budget_remaining)}`);

// Done: the sub-agents' tokens end now rather than within the hour (RFC 7009).
for (const token of tokens) {
  await fetch(metadata.revocation_endpoint, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) });
}
console.log('sub-agent tokens revoked');
