import { CompactSign } from 'jose';
import { DEFAULT_ALG, type SigningAlg } from './signing-algs.js';
import type { SigningKeys } from './signing-keys.js';

/** OpenID Back-Channel Logout 1.0 §2.4: the event member that makes a JWT a logout token. */
const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** How long a logout token is good for: the receiver checks exp; two minutes covers clock skew and a slow first try. */
const LOGOUT_TOKEN_TTL_S = 120;

const encoder = new TextEncoder();

/**
 * Logout tokens (OpenID Back-Channel Logout 1.0 §2.4), signed with the
 * current signing key of the client's ID token alg, when each is sent: iss,
 * aud, iat, exp, jti, sub, sid and the event, never a nonce; `typ:
 * logout+jwt` (§2.4, from the 2023 errata) keeps it from passing as an ID token.
 */
export class LogoutTokens {
  constructor(private readonly deps: { keys: SigningKeys; issuer: string; now: () => number }) {}

  async mint(request: { clientId: string; sub: string; sid: string; jti: string; alg?: SigningAlg | null }): Promise<string> {
    const alg = request.alg ?? DEFAULT_ALG;
    const iat = Math.floor(this.deps.now() / 1000);
    const claims = {
      iss: this.deps.issuer,
      aud: request.clientId,
      iat,
      exp: iat + LOGOUT_TOKEN_TTL_S,
      jti: request.jti,
      sub: request.sub,
      sid: request.sid,
      events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
    };
    const { kid, key } = await this.deps.keys.signingKey(alg);
    return new CompactSign(encoder.encode(JSON.stringify(claims))).setProtectedHeader({ alg, kid, typ: 'logout+jwt' }).sign(key);
  }
}
