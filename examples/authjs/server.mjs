// "Sign in with Serika" with Auth.js (@auth/express), unchanged, Serika as a generic OIDC provider. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… CLIENT_SECRET=secret_… node examples/authjs/server.mjs
// after registering a client whose redirect URI is http://127.0.0.1:4000/auth/callback/serika
// (PORT changes the port).
import { randomBytes } from 'node:crypto';
import { ExpressAuth, getSession } from '@auth/express';
import express from 'express';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const port = Number(env('PORT', '4000'));
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const authConfig = {
  trustHost: true, // the callback URL is this request's origin + /auth/callback/serika
  secret: env('AUTH_SECRET', randomBytes(32).toString('hex')), // encrypts the session cookie
  providers: [
    {
      id: 'serika',
      name: 'Serika',
      type: 'oidc',
      issuer: env('SERIKA_ISSUER'), // discovery by issuer alone
      clientId: env('CLIENT_ID'),
      clientSecret: env('CLIENT_SECRET'),
      checks: ['pkce', 'state', 'nonce'],
      authorization: { params: { scope: 'openid profile' } },
    },
  ],
  callbacks: {
    // On sign-in `profile` is the ID token's claims, which Auth.js has validated: keep them.
    jwt: ({ token, profile }) => (profile ? { ...token, claims: profile } : token),
    session: ({ session, token }) => ({ ...session, claims: token.claims }),
  },
};

const app = express();
app.set('trust proxy', true);
app.use('/auth', ExpressAuth(authConfig));

app.get('/', async (req, res) => {
  const session = await getSession(req, authConfig);
  if (!session) return res.send('<h1>Serika example</h1><p><a href="/auth/signin">Sign in with Serika</a></p>');
  res.send(`<h1>Hello, ${escape(session.user.name)}</h1><p><a href="/auth/signout">Sign out</a></p>`);
});

// The session: Auth.js's user (from the provider's profile()) and the ID token's claims.
app.get('/me', async (req, res) => {
  const session = await getSession(req, authConfig);
  res.status(session ? 200 : 401).json(session ?? { error: 'signed out' });
});

app.listen(port, '127.0.0.1', () => console.log(`Example app on http://127.0.0.1:${port}`));
