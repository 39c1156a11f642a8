// "Sign in with Serika" with Auth0's express-openid-connect, unchanged. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… CLIENT_SECRET=secret_… node examples/express-openid-connect/server.mjs
// after registering a client whose redirect URI is http://127.0.0.1:4000/callback and whose
// post-logout redirect URI is http://127.0.0.1:4000 (the defaults: APP_URL and PORT change them).
import { randomBytes } from 'node:crypto';
import express from 'express';
import eoc from 'express-openid-connect'; // CommonJS: no named exports in ESM

const { auth, requiresAuth } = eoc;

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const port = Number(env('PORT', '4000'));
const baseURL = env('APP_URL', `http://127.0.0.1:${port}`);

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const app = express();
app.use(
  auth({
    issuerBaseURL: env('SERIKA_ISSUER'),
    baseURL,
    clientID: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    secret: env('SESSION_SECRET', randomBytes(32).toString('hex')), // encrypts the session cookie
    authRequired: false,
    idpLogout: true, // /logout signs out of Serika too (RP-Initiated Logout)
    // The library's default is response_type=id_token with form_post (the implicit flow); Serika
    // offers only the authorization code flow (RFC 9700 §2.1.2), which the library runs with PKCE.
    authorizationParams: { response_type: 'code', scope: 'openid profile' },
  }),
);

app.get('/', (req, res) => {
  if (!req.oidc.isAuthenticated()) return res.send('<h1>Serika example</h1><p><a href="/login">Sign in with Serika</a></p>');
  res.send(`<h1>Hello, ${escape(req.oidc.user.preferred_username)}</h1><form method="post" action="/refresh"><button>Refresh</button></form><p><a href="/logout">Sign out</a></p>`);
});

// The ID token's claims and userinfo, as the library gives them.
app.get('/me', requiresAuth(), async (req, res) => {
  res.json({ claims: req.oidc.idTokenClaims, userinfo: await req.oidc.fetchUserInfo() });
});

// A refresh: a new access token (and ID token), the refresh token rotated, all kept in the session.
app.post('/refresh', requiresAuth(), async (req, res) => {
  const accessToken = await req.oidc.accessToken.refresh();
  res.json({ expires_in: accessToken.expires_in, claims: req.oidc.idTokenClaims });
});

app.listen(port, '127.0.0.1', () => console.log(`Example app on ${baseURL}`));
