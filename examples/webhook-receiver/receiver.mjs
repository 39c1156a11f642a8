// An app's endpoints for Serika's events (SPEC §13): signed webhooks (Standard Webhooks) and
// OpenID Back-Channel Logout 1.0 logout tokens. Node's http, the standardwebhooks library, jose.
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const issuer = process.env.SERIKA_ISSUER ?? 'http://localhost:3000';
const clientId = process.env.CLIENT_ID;
const secret = process.env.WEBHOOK_SECRET;
const port = Number(process.env.PORT ?? 4000);
if (!clientId || !secret) {
  console.error('Set CLIENT_ID and WEBHOOK_SECRET (the whsec_… Serika showed once).');
  process.exit(1);
}

const webhook = new Webhook(secret);
// Serika's signing keys, fetched once and refreshed when a new kid appears (jose caches them).
const jwks = createRemoteJWKSet(new URL('/.well-known/jwks.json', issuer));
// Delivery is at least once: the same webhook-id may come again (a retry, a "Resend"); act on it once.
const seen = new Set();
// Sessions your app must end: in a real app, delete the sessions you keyed by this sid (or sub).
const endedSessions = new Set();

async function body(request) {
  const chunks = [];
  for await (const chunk of request) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

async function onWebhook(request, response) {
  const payload = await body(request);
  let event;
  try {
    // Checks webhook-signature over webhook-id.webhook-timestamp.body, and that the timestamp is within 5 minutes.
    event = webhook.verify(payload, request.headers);
  } catch {
    response.writeHead(400).end();
    return;
  }
  const id = request.headers['webhook-id'];
  if (!seen.has(id)) {
    seen.add(id);
    console.log(`event ${event.type} ${id} ${JSON.stringify(event.data)}`);
    // grant.revoked / tokens.revoked / user.deleted: drop what you hold for event.data.user_id.
  }
  // Any 2xx within 10 s counts as delivered; anything else is retried.
  response.writeHead(204).end();
}

async function onLogout(request, response) {
  const logoutToken = new URLSearchParams(await body(request)).get('logout_token');
  try {
    if (!logoutToken) throw new Error('no logout_token');
    // OpenID Back-Channel Logout 1.0 §2.6: signature, iss, aud, iat/exp, the event, sid or sub, and no nonce.
    const { payload } = await jwtVerify(logoutToken, jwks, { issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: '5 minutes' });
    if (!payload.events?.['http://schemas.openid.net/event/backchannel-logout']) throw new Error('not a logout token');
    if (payload.nonce !== undefined || (!payload.sid && !payload.sub)) throw new Error('malformed logout token');
    endedSessions.add(payload.sid);
    console.log(`logout sub=${payload.sub} sid=${payload.sid}`);
    response.writeHead(200, { 'cache-control': 'no-store' }).end();
  } catch (error) {
    console.log(`refused logout token: ${error.message}`);
    response.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error: 'invalid_request' }));
  }
}

const server = createServer((request, response) => {
  if (request.method === 'POST' && request.url === '/webhooks') return void onWebhook(request, response);
  if (request.method === 'POST' && request.url === '/backchannel-logout') return void onLogout(request, response);
  response.writeHead(404).end();
});
server.listen(port, '127.0.0.1', () => console.log(`Example app on http://127.0.0.1:${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
