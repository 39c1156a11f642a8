import { EVERY_RESOURCE, formatAudience, type Audience } from '../../audiences.js';
import { formatScopes } from '../../scopes.js';
import type { OAuthTokensTable } from '../../storage/schema.js';
import { tokenRow, type SharedColumns } from './token-writes.js';
import { mint } from './credentials.js';

export interface Lifetimes {
  /** Seconds. */
  accessToken: number;
  refreshToken: number;
  authCode: number;
}

export interface IssuedTokens {
  access_token: string;
  /** RFC 8693 §2.2.1: what a token exchange issued (the access token type). */
  issued_token_type?: string;
  token_type: 'Bearer';
  expires_in: number;
  /** RFC 6749 §5.1: OPTIONAL; absent for a client without the refresh_token grant. */
  refresh_token?: string;
  scope: string;
  /** With openid (OIDC Core §3.1.3.3). */
  id_token?: string;
  /** RFC 9396 §7: the spending limit granted (SPEC §10). */
  authorization_details?: Array<Record<string, unknown>>;
}

export interface TokenSubject {
  clientId: string;
  userId: string;
  /** The scope of the refresh token (and of the access token unless accessScopes narrows it). */
  scopes: string[];
  accessScopes?: string[];
  /** When the user signed in (ms), kept with the tokens for the ID tokens of refreshes. */
  authTime?: number | null;
  /** How the user signed in (RFC 8176 amr, stored form), kept beside authTime. */
  amr?: string | null;
  /** The sign-in session's sid (SPEC §13), kept for the ID tokens of refreshes. */
  sid?: string | null;
  /** RFC 8707: the resources the refresh token (and the access token unless accessAudience narrows it) reach; the origin by default. */
  audience?: Audience;
  accessAudience?: Audience;
  /** The access token, when the caller minted it before the commit (an ID token's at_hash, signed meanwhile). */
  access?: { value: string; hash: string };
  /** False when the client may not use the refresh_token grant: the access token alone (RFC 6749 §5.1). */
  refresh?: boolean;
}

export interface TokenPair {
  /** The access token's row, then the refresh token's when one is issued. */
  rows: [access: OAuthTokensTable, refresh?: OAuthTokensTable];
  issued: IssuedTokens;
}

/** The rows of a new access token and (unless subject.refresh is false) refresh token of one family, and the token response's fields. */
export function tokenPair(subject: TokenSubject, familyId: string, codeHash: string | null, now: number, lifetimes: Lifetimes): TokenPair {
  const access = subject.access ?? mint('access');
  const scopes = formatScopes(subject.scopes);
  const accessScopes = formatScopes(subject.accessScopes ?? subject.scopes);
  const audience = subject.audience ?? EVERY_RESOURCE;
  const common: SharedColumns = { client_id: subject.clientId, user_id: subject.userId, family_id: familyId, code_hash: codeHash, created_at: now, auth_time: subject.authTime ?? null, amr: subject.amr ?? null, sid: subject.sid ?? null };
  const accessRow = tokenRow(common, access.hash, 'access', accessScopes, now + lifetimes.accessToken * 1000, formatAudience(subject.accessAudience ?? audience));
  const issued: IssuedTokens = { access_token: access.value, token_type: 'Bearer', expires_in: lifetimes.accessToken, scope: accessScopes };
  if (subject.refresh === false) return { rows: [accessRow], issued };
  const refresh = mint('refresh');
  issued.refresh_token = refresh.value;
  // Each refresh token lives REFRESH_TOKEN_TTL from its own issue (SPEC §1).
  return { rows: [accessRow, tokenRow(common, refresh.hash, 'refresh', scopes, now + lifetimes.refreshToken * 1000, formatAudience(audience))], issued };
}
