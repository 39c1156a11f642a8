// The peer: node-oidc-provider 9 with an in-memory or a durable store (argv[4]:
// memory, sqlite:PATH or postgres://…; see peer-store.mjs), set up for the same
// work as Serika (code + PKCE redemption, refresh with rotation, introspection,
// userinfo). Codes and tokens are minted through its own models beforehand and
// written to files for the load generator; minting is setup, never measured.
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import Provider from 'oidc-provider';
import { peerStore } from './peer-store.mjs';

const count = Number(process.argv[2] ?? 1000);
const outDir = process.argv[3] ?? '/tmp';

const store = await peerStore(process.argv[4]);

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
});
const issuer = `http://127.0.0.1:${port}`;
const redirectUri = 'https://bench.example.com/cb';
const secret = 'peer-bench-secret-' + randomBytes(8).toString('hex');

const provider = new Provider(issuer, {
  adapter: store.Adapter,
  clients: [
    { client_id: 'bench-basic', client_secret: secret, redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' },
    { client_id: 'bench-post', client_secret: secret, redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post' },
  ],
  findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, preferred_username: 'bench' }) }),
  features: { introspection: { enabled: true }, revocation: { enabled: true }, devInteractions: { enabled: false } },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'profile', 'api'],
  issueRefreshToken: async () => true,
  rotateRefreshToken: true,
  ttl: { AccessToken: 3600, AuthorizationCode: 3600, RefreshToken: 30 * 86400, Grant: 30 * 86400, Session: 30 * 86400 },
});
provider.proxy = false;

const verifier = randomBytes(32).toString('base64url');
const challenge = createHash('sha256').update(verifier).digest('base64url');
const accountId = 'bench-user';
const authTime = Math.floor(Date.now() / 1000);

async function mint(clientId) {
  const client = await provider.Client.find(clientId);
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope('openid offline_access profile');
  grant.addResourceScope?.(issuer, 'api');
  const grantId = await grant.save();
  return { client, grantId };
}

const basic = await mint('bench-basic');
const post = await mint('bench-post');
const codes = { basic: [], post: [], oidc: [] };
const refresh = [];
async function mintOne() {
  for (const [kind, ctx] of [['basic', basic], ['post', post]]) {
    const code = new provider.AuthorizationCode({ client: ctx.client, accountId, grantId: ctx.grantId, scope: 'api', redirectUri, codeChallenge: challenge, codeChallengeMethod: 'S256', authTime });
    codes[kind].push(await code.save());
  }
  // With openid: the token response carries an RS256 ID token (node-oidc-provider's default alg).
  const oidcCode = new provider.AuthorizationCode({ client: post.client, accountId, grantId: post.grantId, scope: 'openid profile', redirectUri, codeChallenge: challenge, codeChallengeMethod: 'S256', authTime, nonce: 'bench-nonce' });
  codes.oidc.push(await oidcCode.save());
  const rt = new provider.RefreshToken({ client: basic.client, accountId, grantId: basic.grantId, scope: 'api', gty: 'authorization_code', authTime });
  refresh.push(await rt.save());
}
// Fifty at a time: a durable store's round trips would otherwise make the setup minutes long.
for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, mintOne));
const at = new provider.AccessToken({ client: basic.client, accountId, grantId: basic.grantId, scope: 'openid profile', gty: 'authorization_code' });
const accessToken = await at.save();

const lines = (values, fn) => values.map(fn).join('\n') + '\n';
const redeemPost = `${outDir}/peer-redeem-post.txt`;
const redeemBasic = `${outDir}/peer-redeem-basic.txt`;
const refreshFile = `${outDir}/peer-refresh.txt`;
const redeemOidc = `${outDir}/peer-redeem-oidc.txt`;
writeFileSync(redeemOidc, lines(codes.oidc, (c) => new URLSearchParams({ grant_type: 'authorization_code', code: c, redirect_uri: redirectUri, code_verifier: verifier, client_id: 'bench-post', client_secret: secret }).toString()));
writeFileSync(redeemPost, lines(codes.post, (c) => new URLSearchParams({ grant_type: 'authorization_code', code: c, redirect_uri: redirectUri, code_verifier: verifier, client_id: 'bench-post', client_secret: secret }).toString()));
writeFileSync(redeemBasic, lines(codes.basic, (c) => new URLSearchParams({ grant_type: 'authorization_code', code: c, redirect_uri: redirectUri, code_verifier: verifier }).toString()));
writeFileSync(refreshFile, lines(refresh, (r) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: r }).toString()));

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${JSON.stringify({
    url: issuer,
    token: `${issuer}/token`,
    userinfo: `${issuer}/me`,
    introspection: `${issuer}/token/introspection`,
    accessToken,
    basicAuth: 'Basic ' + Buffer.from(`bench-basic:${secret}`).toString('base64'),
    files: { redeemPost, redeemBasic, refresh: refreshFile, redeemOidc },
  })}\n`);
});
