// "Sign in with Serika" with Express, Passport and passport-openidconnect. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… CLIENT_SECRET=secret_… node examples/passport-openidconnect/server.mjs
// after registering a client whose redirect URI is http://127.0.0.1:4000/callback and whose
// post-logout redirect URI is http://127.0.0.1:4000/ (the defaults: APP_URL and PORT change them).
import { createHash, randomBytes } from 'node:crypto';
import express from 'express';
import session from 'express-session';
import passport from 'passport';
import OpenIDConnectStrategy from 'passport-openidconnect';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const port = Number(env('PORT', '4000'));
const base = env('APP_URL', `http://127.0.0.1:${port}`);
const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * passport-openidconnect 0.1.2 sends no PKCE (its issues #56 and #83, PR #110), and Serika requires
 * PKCE of every client. This subclass adds it through the strategy's own extension points:
 * authorizationParams() for the challenge, and its protected _oauth2 client for the verifier.
 * Passport runs authenticate() on a fresh Object.create(strategy) per request, so `this` is per request.
 */
class PkceStrategy extends OpenIDConnectStrategy {
  authenticate(req, options) {
    if (req.query.code) {
      const verifier = req.session.codeVerifier;
      delete req.session.codeVerifier;
      const oauth2 = this._oauth2;
      this._oauth2 = Object.create(oauth2, {
        getOAuthAccessToken: { value: (code, params, done) => oauth2.getOAuthAccessToken(code, { ...params, code_verifier: verifier }, done) },
      });
    } else if (!req.query.error) {
      req.session.codeVerifier = randomBytes(32).toString('base64url');
      this.codeChallenge = createHash('sha256').update(req.session.codeVerifier).digest('base64url');
    }
    super.authenticate(req, options);
  }

  authorizationParams() {
    return { code_challenge: this.codeChallenge, code_challenge_method: 'S256' };
  }
}

// passport-openidconnect takes the endpoints, not the issuer alone: read them from discovery.
const issuer = env('SERIKA_ISSUER');
const discovery = await (await fetch(new URL('/.well-known/openid-configuration', issuer))).json();

passport.use(
  'serika',
  new PkceStrategy(
    {
      issuer: discovery.issuer,
      authorizationURL: discovery.authorization_endpoint,
      tokenURL: discovery.token_endpoint,
      userInfoURL: discovery.userinfo_endpoint,
      clientID: env('CLIENT_ID'),
      clientSecret: env('CLIENT_SECRET'),
      callbackURL: `${base}/callback`,
      scope: 'profile',
      nonce: true,
    },
    // With this many arguments the strategy also fetches userinfo (uiProfile).
    (issuer, uiProfile, idProfile, context, idToken, accessToken, refreshToken, params, done) => {
      done(null, { idProfile, authTime: context.timestamp, userinfo: uiProfile._json, idToken });
    },
  ),
);
passport.serializeUser((user, done) => done(null, user));
passport.deserializeUser((user, done) => done(null, user));

const app = express();
app.use(session({ secret: env('SESSION_SECRET', randomBytes(32).toString('hex')), resave: false, saveUninitialized: false }));
app.use(passport.session());

app.get('/', (req, res) => {
  if (!req.user) return res.send('<h1>Serika example</h1><p><a href="/login">Sign in with Serika</a></p>');
  res.send(`<h1>Hello, ${escape(req.user.idProfile.username)}</h1><p><a href="/logout">Sign out</a></p>`);
});
app.get('/login', passport.authenticate('serika'));
app.get('/callback', passport.authenticate('serika', { successRedirect: '/', failureRedirect: '/' }));

// What the strategy made of the ID token, and userinfo.
app.get('/me', (req, res) => (req.user ? res.json(req.user) : res.status(401).json({ error: 'signed out' })));

// Passport signs out of this app only; the ID token lets Serika sign the user out too (RP-Initiated Logout).
app.get('/logout', (req, res, next) => {
  const idToken = req.user?.idToken;
  req.logout((error) => {
    if (error) return next(error);
    if (!idToken) return res.redirect('/');
    const url = new URL(discovery.end_session_endpoint);
    url.search = new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: `${base}/` }).toString();
    res.redirect(url.href);
  });
});

app.listen(port, '127.0.0.1', () => console.log(`Example app on ${base}`));
