import type { ErrorObject } from 'ajv';
import { compileSchema } from '../http/schema-validation.js';
import { SCOPE_NAMES, askedScopes, formatScopes, isScope, type Scope } from '../scopes.js';
import type { ClientRow } from './repo.js';
import { REDIRECT_URI_MAX, checkRedirectUriList, redirectUriListSchema } from './redirect-uris.js';
import { DEFAULT_GRANT_TYPES, DEVICE_CODE_GRANT, GRANT_TYPE_NAMES, needsRedirectUris, formatGrantTypes } from './rules.js';
import { SIGNING_ALGS, isSigningAlg, type SigningAlg } from '../oidc/signing-algs.js';
import { nameProblem } from '../visible-text.js';
import { BRANDING_URI_FIELDS, brandingUriProblem, contactsProblem, newClientTrustColumns, type Branding } from './branding.js';

/**
 * Client metadata as RFC 7591 §2 names it (snake_case), the one reading of
 * it for dynamic registration and for client ID metadata documents. Unknown
 * members are ignored (RFC 7591 §2: "MUST ignore any client metadata … it
 * does not understand"); known ones must be well formed.
 */
export type ClientMetadataErrorCode = 'invalid_redirect_uri' | 'invalid_client_metadata';

export class ClientMetadataError extends Error {
  constructor(
    readonly code: ClientMetadataErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ClientMetadataError';
  }
}

const AUTH_METHODS = ['none', 'client_secret_basic', 'client_secret_post'] as const;
type AuthMethodName = (typeof AUTH_METHODS)[number];
const GRANT_TYPES = GRANT_TYPE_NAMES;

const text = (max: number) => ({ type: 'string', maxLength: max }) as const;

const clientMetadataSchema = {
  type: 'object',
  properties: {
    redirect_uris: redirectUriListSchema,
    token_endpoint_auth_method: text(100),
    grant_types: { type: 'array', maxItems: 10, items: text(200) },
    response_types: { type: 'array', maxItems: 10, items: text(200) },
    client_name: text(100),
    client_uri: text(REDIRECT_URI_MAX),
    logo_uri: text(REDIRECT_URI_MAX),
    tos_uri: text(REDIRECT_URI_MAX),
    policy_uri: text(REDIRECT_URI_MAX),
    scope: text(1000),
    contacts: { type: 'array', maxItems: 10, items: text(320) },
    software_id: text(200),
    software_version: text(200),
    id_token_signed_response_alg: text(20),
    post_logout_redirect_uris: redirectUriListSchema,
    application_type: text(20),
    backchannel_logout_uri: text(2000),
    backchannel_logout_session_required: { type: 'boolean' },
  },
} as const;

const validate = compileSchema(clientMetadataSchema);

/** The fields Serika stores and echoes beside the ones it acts on. */
const INFORMATIONAL = ['client_uri', 'logo_uri', 'tos_uri', 'policy_uri', 'contacts', 'software_id', 'software_version'] as const;

export interface ClientMetadata {
  name: string | null;
  redirectUris: string[];
  scopes: Scope[];
  authMethod: AuthMethodName;
  grantTypes: string[];
  responseTypes: string[];
  idTokenSigningAlg: SigningAlg | null;
  postLogoutRedirectUris: string[];
  /** OpenID Back-Channel Logout 1.0 §2.2, as given (its address is checked where it is registered). */
  backchannelLogoutUri: string | null;
  /** client_uri, logo_uri and the rest, as sent. */
  informational: Record<string, unknown>;
  /** The branding fields among them (SPEC §12), checked. */
  branding: Branding;
}

function describe(error: ErrorObject | undefined): string {
  if (!error) return 'The client metadata is not valid.';
  const at = error.instancePath.replace(/^\//, '').replace(/\//g, '.') || (error.params as { missingProperty?: string }).missingProperty || 'the metadata';
  if (error.keyword === 'required') return `${at} is required.`;
  return `${at} ${error.message ?? 'is not valid'}.`;
}

function checkUris(uris: string[], field: string, code: ClientMetadataErrorCode): string[] {
  const checked = checkRedirectUriList(uris, field);
  if ('problem' in checked) throw new ClientMetadataError(code, checked.problem);
  return checked.uris;
}

/** SPEC §12: https URIs (http only with CIMD_ALLOW_PRIVATE) and e-mail contacts, else invalid_client_metadata (RFC 7591 §3.2.2). */
function readBranding(input: Record<string, unknown>, allowHttp: boolean): Branding {
  const branding: Branding = { logoUri: null, clientUri: null, policyUri: null, tosUri: null, contacts: [] };
  for (const [field, name] of Object.entries(BRANDING_URI_FIELDS) as Array<[keyof typeof BRANDING_URI_FIELDS, string]>) {
    const value = input[name] as string | undefined;
    if (value === undefined) continue;
    const problem = brandingUriProblem(value, allowHttp);
    if (problem) throw new ClientMetadataError('invalid_client_metadata', `${name} ${problem}.`);
    branding[field] = value;
  }
  if (input.contacts !== undefined) {
    const contacts = input.contacts as string[];
    const problem = contactsProblem(contacts);
    if (problem) throw new ClientMetadataError('invalid_client_metadata', `contacts ${problem}.`);
    branding.contacts = [...new Set(contacts)];
  }
  return branding;
}

/** RFC 7591 §2, §3.2.2: the metadata, checked and with its defaults filled in. */
/** allowHttp: CIMD_ALLOW_PRIVATE, under which branding URIs may be plain http (development and tests). */
export function readClientMetadata(input: unknown, allowHttp = false): ClientMetadata {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ClientMetadataError('invalid_client_metadata', 'The client metadata must be a JSON object.');
  }
  if (!validate(input)) {
    const error = validate.errors?.[0];
    const code = error?.instancePath.startsWith('/redirect_uris') || (error?.keyword === 'required' && describe(error).startsWith('redirect_uris')) ? 'invalid_redirect_uri' : 'invalid_client_metadata';
    throw new ClientMetadataError(code, describe(error));
  }
  const given = input as Record<string, unknown> & { redirect_uris?: string[] };
  const authMethod = (given.token_endpoint_auth_method ?? 'client_secret_basic') as string;
  if (!(AUTH_METHODS as readonly string[]).includes(authMethod)) {
    throw new ClientMetadataError('invalid_client_metadata', `token_endpoint_auth_method ${authMethod.slice(0, 60)} is not supported; use one of ${AUTH_METHODS.join(', ')}.`);
  }
  // RFC 7591 §2 defaults grant_types to ["authorization_code"]; SPEC §9's default adds refresh_token, and the
  // response says so (SPEC §8): a client that names its grant types gets exactly those, refresh tokens included or not.
  const grantTypes = (given.grant_types as string[] | undefined) ?? [...DEFAULT_GRANT_TYPES];
  const unsupported = grantTypes.find((g) => !(GRANT_TYPES as readonly string[]).includes(g));
  if (unsupported !== undefined) throw new ClientMetadataError('invalid_client_metadata', `grant_types: ${unsupported.slice(0, 80)} is not supported; use ${GRANT_TYPES.join(', ')}.`);
  if (!grantTypes.includes('authorization_code') && !grantTypes.includes(DEVICE_CODE_GRANT)) {
    throw new ClientMetadataError('invalid_client_metadata', `grant_types must include authorization_code or ${DEVICE_CODE_GRANT}.`);
  }
  // RFC 7591 §2: redirect_uris are for redirect-based flows; a device-only client (RFC 8628) has none to register.
  if (needsRedirectUris(grantTypes) && !given.redirect_uris?.length) {
    throw new ClientMetadataError('invalid_redirect_uri', 'redirect_uris is required (at least one) for the authorization_code grant.');
  }
  const responseTypes = (given.response_types as string[] | undefined) ?? (grantTypes.includes('authorization_code') ? ['code'] : []);
  if (responseTypes.some((r) => r !== 'code')) throw new ClientMetadataError('invalid_client_metadata', 'response_types may only be ["code"].');
  // RFC 7591 §2.1: authorization_code goes with response_type code, and code with authorization_code.
  if (grantTypes.includes('authorization_code') !== responseTypes.includes('code')) {
    throw new ClientMetadataError('invalid_client_metadata', 'grant_types authorization_code and response_types code go together (RFC 7591 §2.1).');
  }

  let scopes: Scope[] = SCOPE_NAMES.filter((s) => s !== 'openid');
  if (given.scope !== undefined) {
    const asked = askedScopes(given.scope as string);
    const unknown = asked.find((s) => !isScope(s));
    if (unknown !== undefined) throw new ClientMetadataError('invalid_client_metadata', `scope: ${unknown.slice(0, 60)} is not a scope Serika knows (${SCOPE_NAMES.join(', ')}).`);
    scopes = asked.filter(isScope);
    if (scopes.length === 0) throw new ClientMetadataError('invalid_client_metadata', `scope must name at least one of ${SCOPE_NAMES.join(', ')}.`);
  }
  const alg = given.id_token_signed_response_alg as string | undefined;
  if (alg !== undefined && !isSigningAlg(alg)) {
    throw new ClientMetadataError('invalid_client_metadata', `id_token_signed_response_alg must be one of ${SIGNING_ALGS.join(', ')}.`);
  }
  let name: string | null = null;
  if (given.client_name !== undefined) {
    const problem = nameProblem(given.client_name as string);
    if (problem) throw new ClientMetadataError('invalid_client_metadata', `client_name ${problem}`);
    name = given.client_name as string;
  }
  const branding = readBranding(given, allowHttp);
  const informational: Record<string, unknown> = {};
  for (const field of INFORMATIONAL) if (given[field] !== undefined) informational[field] = given[field];

  return {
    name,
    redirectUris: checkUris(given.redirect_uris ?? [], 'redirect_uris', 'invalid_redirect_uri'),
    scopes,
    authMethod: authMethod as AuthMethodName,
    grantTypes: [...new Set(grantTypes)],
    responseTypes: responseTypes.length ? ['code'] : [],
    idTokenSigningAlg: alg ?? null,
    postLogoutRedirectUris: given.post_logout_redirect_uris ? checkUris(given.post_logout_redirect_uris as string[], 'post_logout_redirect_uris', 'invalid_client_metadata') : [],
    backchannelLogoutUri: (given.backchannel_logout_uri as string | undefined) ?? null,
    informational,
    branding,
  };
}

/** The row of an ownerless client (registered, or known by a metadata document), built from its metadata. */
export function ownerlessClientRow(
  metadata: ClientMetadata,
  fields: Pick<ClientRow, 'id' | 'name' | 'kind' | 'is_public' | 'secret_hash' | 'metadata' | 'metadata_expires_at'>,
  now: number,
): ClientRow {
  return {
    ...fields,
    user_id: null,
    redirect_uris: JSON.stringify(metadata.redirectUris),
    scopes: formatScopes(metadata.scopes),
    created_at: now,
    updated_at: now,
    id_token_signing_alg: metadata.idTokenSigningAlg,
    post_logout_redirect_uris: metadata.postLogoutRedirectUris.length ? JSON.stringify(metadata.postLogoutRedirectUris) : null,
    last_granted_at: null,
    grant_types: formatGrantTypes(metadata.grantTypes),
    webhook_url: null,
    webhook_events: null,
    webhook_secret: null,
    backchannel_logout_uri: fields.kind === 'registered' ? metadata.backchannelLogoutUri : null,
    ...newClientTrustColumns(metadata.branding),
  };
}
