// Signing in from a terminal with the device authorization grant (RFC 8628) and openid-client v6,
// unchanged: no browser on this device, no redirect URI. Run it with:
//   SERIKA_ISSUER=http://localhost:3000 CLIENT_ID=client_… node examples/openid-client-device/device.mjs
// with a public client whose grantTypes include urn:ietf:params:oauth:grant-type:device_code.
import * as oidc from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) {
    console.error(`example: set ${name}`);
    process.exit(1);
  }
  return value;
};
const issuer = new URL(env('SERIKA_ISSUER'));

// Discovery by issuer alone; a public client (oidc.None()); http only for a local Serika.
const config = await oidc.discovery(issuer, env('CLIENT_ID'), undefined, oidc.None(), {
  execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
});

// 1. A code for the user to type at Serika on their phone or laptop.
const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
console.log(`First copy your one-time code: ${started.user_code}`);
console.log(`Then open ${started.verification_uri} in a browser.`);

// 2. Poll until the user decides: openid-client waits `interval` seconds, and longer on slow_down.
const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
const claims = tokens.claims(); // the ID token, checked: signature, iss, aud, exp
console.log(`Signed in as ${claims.preferred_username}`);
console.log(`claims: ${JSON.stringify(claims)}`);

// 3. Userinfo, and a refresh (keep the new refresh token: the old one is retired).
console.log(`userinfo: ${JSON.stringify(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub))}`);
const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
console.log(`refreshed: ${JSON.stringify(refreshed.claims())}`);

// 4. Signing out of a CLI: revoke the refresh token (RFC 7009), which ends its access tokens too.
await oidc.tokenRevocation(config, refreshed.refresh_token);
console.log('Signed out.');
