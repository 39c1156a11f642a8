import { emailClaims, profileClaims } from './standard-claims.js';
import { hash } from 'node:crypto';
import { CompactSign, createLocalJWKSet, jwtVerify } from 'jose';
import type { UserProfile, UsersService } from '../accounts/users-service.js';
import { acrOf, parseAmr } from '../accounts/auth-methods.js';
import { DEFAULT_ALG, type SigningAlg } from './signing-algs.js';
import type { SigningKeys } from './signing-keys.js';
import type { SessionClients } from './session-clients.js';

export interface IdTokenRequest {
  clientId: string;
  userId: string;
  /** The scopes granted with it: profile and email add their claims. */
  scopes: readonly string[];
  alg?: SigningAlg | null;
  nonce?: string | null;
  /** When the user signed in, in milliseconds. */
  authTime?: number | null;
  /** How the user signed in (RFC 8176 amr, stored form); null or absent: a password. */
  amr?: string | null;
  /** The sign-in session's sid (OpenID Back-Channel Logout 1.0 §2.4), or null when none is known. */
  sid?: string | null;
  /** True where the app first gets an ID token of the session (a code), so a back-channel logout reaches it. */
  recordSession?: boolean;
  /** The access token issued beside it, for at_hash. */
  accessToken: string;
  /** The user's profile claims when the caller has read them already (else they are read here). */
  profile?: UserProfile;
}

const encoder = new TextEncoder();

/**
 * OIDC Core §3.1.3.6: at_hash is the left half of the hash of the access
 * token, the hash the alg's own (SHA-256 for RS256/ES256; SHA-512 for
 * EdDSA with Ed25519), base64url-encoded.
 */
export function atHash(accessToken: string, alg: SigningAlg): string {
  const digest = hash(alg === 'EdDSA' ? 'sha512' : 'sha256', accessToken, 'buffer'); // access tokens are ASCII
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** ID tokens (OIDC Core §2) signed with the database's keys (SPEC §7). */
export class IdTokens {
  constructor(
    private readonly deps: { keys: SigningKeys; users: UsersService; issuer: string; ttlSeconds: number; now: () => number; sessionClients?: SessionClients },
  ) {}

  /**
   * The user an `id_token_hint` names: an ID token Serika signed (a key of
   * its JWKS), for this issuer, not expired; null for anything else.
   */
  async hintSubject(token: string): Promise<string | null> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(await this.deps.keys.jwks()), {
        issuer: this.deps.issuer,
        currentDate: new Date(this.deps.now()),
      });
      return typeof payload.sub === 'string' ? payload.sub : null;
    } catch {
      return null;
    }
  }

  /**
   * RP-Initiated Logout 1.0 §2: an id_token_hint that expired still names who
   * and for which client; its signature and issuer must be Serika's.
   */
  async logoutHint(token: string): Promise<{ sub: string; aud: string } | null> {
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(await this.deps.keys.jwks()), { issuer: this.deps.issuer, currentDate: new Date(0) });
      const aud = Array.isArray(payload.aud) ? payload.aud[0] : payload.aud;
      return typeof payload.sub === 'string' && typeof aud === 'string' ? { sub: payload.sub, aud } : null;
    } catch {
      return null;
    }
  }

  async mint(request: IdTokenRequest): Promise<string> {
    const { keys, users, issuer, ttlSeconds, now } = this.deps;
    const alg = request.alg ?? DEFAULT_ALG;
    // The user's row only when a claim needs it (most sign-ins ask for profile; a bare openid does not).
    const user = request.scopes.includes('profile') || request.scopes.includes('email') ? (request.profile ?? (await users.findById(request.userId))) : undefined;
    const issuedAt = Math.floor(now() / 1000);
    // OIDC Core §2: iss, sub, aud, exp and iat always.
    const claims: Record<string, unknown> = { iss: issuer, sub: request.userId, aud: request.clientId, exp: issuedAt + ttlSeconds, iat: issuedAt, at_hash: atHash(request.accessToken, alg) };
    if (request.authTime) claims.auth_time = Math.floor(request.authTime / 1000);
    if (request.nonce) claims.nonce = request.nonce;
    if (request.sid) {
      claims.sid = request.sid;
      if (request.recordSession) await this.deps.sessionClients?.record(request.sid, request.clientId, request.userId);
    }
    // SPEC §11 (RFC 8176, OIDC Core §2): how the user signed in, and the multi-factor policy when two factors were used.
    const amr = parseAmr(request.amr);
    claims.amr = amr;
    claims.acr = acrOf(amr);
    if (user && request.scopes.includes('profile')) Object.assign(claims, profileClaims(user));
    if (user && request.scopes.includes('email')) Object.assign(claims, emailClaims(user));
    const { kid, key } = await keys.signingKey(alg);
    // The claims are built above, whole: jose's JWT builder would copy and check them again.
    return new CompactSign(encoder.encode(JSON.stringify(claims))).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
  }
}
