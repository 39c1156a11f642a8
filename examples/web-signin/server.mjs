// "Sign in with Serika": a small web app (Fastify + openid-client) that signs a user in by
// Serika's issuer alone, shows who they are, and asks Serika's chat completions for a greeting
// on their behalf. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… CLIENT_SECRET=secret_… node examples/web-signin/server.mjs
// after registering a client whose redirect URI is http://127.0.0.1:4000/callback (the default).
import { randomBytes } from 'node:crypto';
import Fastify from 'fastify';
import * as oidc from 'openid-client';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const issuer = new URL(env('SERIKA_ISSUER'));
const port = Number(env('PORT', '4000'));
const base = env('APP_URL', `http://127.0.0.1:${port}`);
const redirectUri = `${base}/callback`;
const model = env('MODEL', 'gpt-4o-mini');

// Discovery by issuer alone; http is allowed only for a local Serika.
const config = await oidc.discovery(issuer, env('CLIENT_ID'), undefined, oidc.ClientSecretPost(env('CLIENT_SECRET')), {
  execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
});

/** Sessions of this example, in memory: sid cookie → what the flow needs. */
const sessions = new Map();
const app = Fastify();
// The page's forms (Refresh) post urlencoded bodies, which Fastify does not parse by itself.
app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (request, body, done) => done(null, new URLSearchParams(body)));
const sessionOf = (request, reply) => {
  let sid = /(?:^|;\s*)example_sid=([\w-]+)/.exec(request.headers.cookie ?? '')?.[1];
  if (!sid || !sessions.has(sid)) {
    sid = randomBytes(16).toString('base64url');
    sessions.set(sid, {});
    reply.header('set-cookie', `example_sid=${sid}; Path=/; HttpOnly; SameSite=Lax`);
  }
  return sessions.get(sid);
};
const page = (reply, body) => reply.type('text/html; charset=utf-8').send(`<!doctype html><meta charset="utf-8"><title>Serika example</title>${body}`);
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

app.get('/', async (request, reply) => {
  const session = sessionOf(request, reply);
  if (!session.user) return page(reply, '<h1>Serika example</h1><p><a href="/login">Sign in with Serika</a></p>');
  // A chat completion on the user's behalf, with the access token.
  const chat = await fetch(new URL('/api/openai/v1/oauth/chat/completions', issuer), {
    method: 'POST',
    headers: { authorization: `Bearer ${session.tokens.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: `Say hello to ${session.user.name}.` }] }),
  });
  const answer = chat.ok ? (await chat.json()).choices[0].message.content : `chat failed: ${chat.status}`;
  return page(
    reply,
    `<h1>Hello, ${escape(session.user.name)}</h1><p>Your Serika user id is <code>${escape(session.user.sub)}</code>.</p><p>Serika says: <q>${escape(answer)}</q></p>` +
      '<form method="post" action="/refresh"><button>Refresh</button></form><p><a href="/logout">Sign out</a></p>',
  );
});

// Send the user to Serika: PKCE, a nonce and a state, kept in the session.
app.get('/login', async (request, reply) => {
  const session = sessionOf(request, reply);
  session.verifier = oidc.randomPKCECodeVerifier();
  session.nonce = oidc.randomNonce();
  session.state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile generations',
    code_challenge: await oidc.calculatePKCECodeChallenge(session.verifier),
    code_challenge_method: 'S256',
    nonce: session.nonce,
    state: session.state,
  });
  return reply.redirect(url.href, 303);
});

// Back from Serika: the code for tokens; openid-client checks the ID token (signature, iss, aud,
// exp, nonce) and the response's state and iss (RFC 9207), then reads userinfo.
app.get('/callback', async (request, reply) => {
  const session = sessionOf(request, reply);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(request.url, base), {
    pkceCodeVerifier: session.verifier,
    expectedNonce: session.nonce,
    expectedState: session.state,
  });
  const claims = tokens.claims();
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  session.tokens = tokens;
  session.userinfo = info;
  session.user = { sub: claims.sub, name: info.name ?? info.preferred_username ?? claims.sub };
  return reply.redirect('/', 303);
});

// What the app knows: the ID token's claims (checked by openid-client) and userinfo.
app.get('/me', async (request, reply) => {
  const session = sessionOf(request, reply);
  if (!session.user) return reply.code(401).send({ error: 'signed out' });
  return { claims: session.tokens.claims(), userinfo: session.userinfo };
});

// A refresh: new tokens (keep the rotated refresh token) and a new ID token, same sub and auth_time.
app.post('/refresh', async (request, reply) => {
  const session = sessionOf(request, reply);
  if (!session.user) return reply.code(401).send({ error: 'signed out' });
  session.tokens = await oidc.refreshTokenGrant(config, session.tokens.refresh_token);
  return { expires_in: session.tokens.expires_in, claims: session.tokens.claims() };
});

// Sign out here and at Serika (RP-Initiated Logout): the user confirms on Serika's page, then
// lands on the registered post-logout URI with the state.
app.get('/logout', async (request, reply) => {
  const session = sessionOf(request, reply);
  const idToken = session.tokens?.id_token;
  session.user = undefined;
  session.tokens = undefined;
  session.userinfo = undefined;
  if (!idToken) return reply.redirect('/', 303);
  return reply.redirect(oidc.buildEndSessionUrl(config, { id_token_hint: idToken, post_logout_redirect_uri: `${base}/`, state: 'signed-out' }).href, 303);
});

await app.listen({ port, host: '127.0.0.1' });
console.log(`Example app on ${base}`);
