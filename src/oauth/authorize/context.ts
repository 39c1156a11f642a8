import type { RegisteredClient } from '../../clients/service.js';
import type { ClientsService } from '../../clients/service.js';
import type { DocumentRequester, MetadataDocuments } from '../../clients/metadata-documents.js';
import type { Audience } from '../../audiences.js';
import type { BudgetLimit } from '../../consent/budget-rules.js';
import type { OAuthParams } from '../protocol/params.js';

/** What the authorize steps have established so far; each step reads and adds. */
export interface AuthorizeContext {
  params: OAuthParams;
  /** Who sent the request: a metadata document fetch counts against its IP and logs why it failed. */
  requester: DocumentRequester;
  client?: RegisteredClient;
  /** Set once the redirect URI is verified: from then on errors redirect (RFC 6749 §4.1.2.1). */
  redirectUri?: string;
  /** The redirect_uri as sent, to show on the error page when it is not registered. */
  sentRedirectUri?: string;
  state?: string;
  scopes?: string[];
  codeChallenge?: string;
  prompt?: Set<'none' | 'login' | 'consent'>;
  /** Seconds (OIDC max_age). */
  maxAge?: number;
  nonce?: string;
  loginHint?: string;
  idTokenHint?: string;
  /** acr_values asked for the multi-factor policy (SPEC §11). */
  multiFactor?: boolean;
  /** RFC 8707: what the app asked to reach; undefined when it sent no resource. */
  audience?: Audience;
  /** RFC 9396 serika_budget: the spending limit the app asks for (SPEC §10). */
  budget?: BudgetLimit;
  /** RFC 9396 serika_characters: the characters the app asks to see (SPEC §15). */
  characters?: readonly string[];
}

export interface StepDeps {
  clients: ClientsService;
  /** Null when CIMD=off. */
  documents: MetadataDocuments | null;
  issuer: string;
}

export type AuthorizeStep = (ctx: AuthorizeContext, deps: StepDeps) => Promise<void> | void;

/** AZ-17: every value at most 2048 characters, and no control characters. */
const MAX_PARAM_LENGTH = 2048;

export function malformed(value: string): boolean {
  return value.length > MAX_PARAM_LENGTH || /\p{Cc}/u.test(value);
}
