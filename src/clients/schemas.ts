import { SCOPE_NAMES } from '../scopes.js';
import { pageResponseProperties } from '../storage/paging.js';
import { LOOPBACK_HOSTS_IN_WORDS } from './loopback-uris.js';
import { REDIRECT_URIS_MAX, redirectUriListSchema } from './redirect-uris.js';
import { DEVICE_CODE_GRANT, GRANT_TYPE_NAMES } from './rules.js';
import { SIGNING_ALGS, type SigningAlg } from '../oidc/signing-algs.js';
import { WEBHOOK_EVENT_TYPES } from '../events/types.js';
import { BRANDING_URI_MAX, CONTACTS_MAX } from './branding.js';
import { LOGO_MAX_BYTES } from './logos.js';

/**
 * JSON schemas of the client-management API (SPEC §3). They validate
 * requests (types, sizes, unknown fields), serialise responses and feed the
 * OpenAPI document; the redirect URI rules that a schema cannot say well
 * live in redirect-uris.ts.
 */
const name = {
  type: 'string',
  minLength: 1,
  maxLength: 100,
  description: 'Shown to users on the consent page. 1–100 characters.',
  examples: ['My AI Writer'],
} as const;

const redirectUris = {
  ...redirectUriListSchema,
  uniqueItems: true,
  description: `Exact callback URIs (1–${REDIRECT_URIS_MAX}; none only for a client whose grantTypes is just the device grant): https, http only on ${LOOPBACK_HOSTS_IN_WORDS} (any port), or a private-use scheme with a dot (com.example.app:/cb). No fragment, no wildcard.`,
  examples: [['https://myapp.example.com/callback', 'http://127.0.0.1:8080/callback']],
} as const;

const scopes = {
  type: 'array',
  minItems: 1,
  maxItems: SCOPE_NAMES.length,
  uniqueItems: true,
  items: { type: 'string', enum: SCOPE_NAMES },
  description: 'The scopes the client may request: a non-empty subset of profile, generations, characters.',
  examples: [['profile', 'generations']],
} as const;

const idTokenSigningAlg = {
  type: 'string',
  enum: SIGNING_ALGS,
  description: 'The alg of this client\'s ID tokens (OpenID Connect): RS256 (default), ES256 or EdDSA (Ed25519).',
} as const;

const postLogoutRedirectUris = {
  ...redirectUriListSchema,
  uniqueItems: true,
  description: 'Where RP-initiated logout (/oauth/end_session) may send the user back, compared exactly; the rules of redirectUris.',
  examples: [['https://myapp.example.com/signed-out']],
} as const;

const grantTypes = {
  type: 'array',
  minItems: 1,
  maxItems: GRANT_TYPE_NAMES.length,
  uniqueItems: true,
  items: { type: 'string', enum: GRANT_TYPE_NAMES },
  description: `The grants the client may use (default ["authorization_code","refresh_token"]); add "${DEVICE_CODE_GRANT}" for sign-in from devices (CLI, TV).`,
  examples: [['authorization_code', 'refresh_token', DEVICE_CODE_GRANT]],
} as const;

const webhookUrl = {
  type: ['string', 'null'],
  maxLength: 2000,
  description: 'Where Serika POSTs events, signed as Standard Webhooks says (SPEC §13): https to a public address. The response that first sets it carries webhookSecret (whsec_…), shown once. null removes it and its secret: setting one again is a first set, with a new webhookSecret.',
  examples: ['https://myapp.example.com/webhooks/serika'],
} as const;

const webhookEvents = {
  type: 'array',
  uniqueItems: true,
  maxItems: WEBHOOK_EVENT_TYPES.length,
  items: { type: 'string', enum: WEBHOOK_EVENT_TYPES },
  description: `The event types the webhook receives (default: all): ${WEBHOOK_EVENT_TYPES.join(', ')}.`,
  examples: [['grant.revoked', 'budget.threshold']],
} as const;

const backchannelLogoutUri = {
  type: ['string', 'null'],
  maxLength: 2000,
  description: 'OpenID Back-Channel Logout 1.0: where Serika POSTs a logout_token when a session in which this app got an ID token ends. https to a public address; null removes it.',
  examples: ['https://myapp.example.com/backchannel-logout'],
} as const;

const brandingUri = (description: string, example: string) =>
  ({
    type: ['string', 'null'],
    maxLength: BRANDING_URI_MAX,
    description: `${description} https (plain http only when CIMD_ALLOW_PRIVATE=true, for development); null or "" removes it.`,
    examples: [example],
  }) as const;

/** SPEC §12: shown on the consent and device pages. */
const brandingProperties = {
  logoUri: brandingUri(
    `The app's logo: fetched once by Serika when set or changed (a PNG, JPEG or WebP of at most ${LOGO_MAX_BYTES / 1024} KB, judged by its bytes, from a public address) and served from Serika's own origin (logoUrl). A failed fetch leaves the app without a logo (logoError says why); the request still succeeds.`,
    'https://myapp.example.com/logo.png',
  ),
  clientUri: brandingUri("The app's homepage; the consent page shows its host.", 'https://myapp.example.com'),
  policyUri: brandingUri("The app's privacy policy, linked from the consent page.", 'https://myapp.example.com/privacy'),
  tosUri: brandingUri("The app's terms of service, linked from the consent page.", 'https://myapp.example.com/terms'),
  contacts: {
    type: 'array',
    maxItems: CONTACTS_MAX,
    items: { type: 'string', maxLength: 320 },
    description: `E-mail addresses of the people responsible for the app (at most ${CONTACTS_MAX}).`,
    examples: [['dev@myapp.example.com']],
  },
} as const;

const clientProperties = {
  clientId: { type: 'string', examples: ['client_3f5a0c1e9b7d4a2f8e6c0b1d2a3f4e5d'] },
  name: { type: 'string' },
  redirectUris: { type: 'array', items: { type: 'string' } },
  scopes: { type: 'array', items: { type: 'string' } },
  public: { type: 'boolean' },
  createdAt: { type: 'string', format: 'date-time', examples: ['2026-11-28T09:30:00.000Z'] },
  idTokenSigningAlg: { type: 'string' },
  postLogoutRedirectUris: { type: 'array', items: { type: 'string' } },
  grantTypes: { type: 'array', items: { type: 'string' } },
  webhookUrl: { type: ['string', 'null'] },
  webhookEvents: { type: 'array', items: { type: 'string' } },
  backchannelLogoutUri: { type: ['string', 'null'] },
  logoUri: { type: ['string', 'null'] },
  clientUri: { type: ['string', 'null'] },
  policyUri: { type: ['string', 'null'] },
  tosUri: { type: ['string', 'null'] },
  contacts: { type: 'array', items: { type: 'string' } },
  logoUrl: {
    type: ['string', 'null'],
    description: "Where Serika serves the logo it fetched from logoUri: a path on Serika's origin; null while there is none.",
    examples: ['/clients/client_3f5a0c1e9b7d4a2f8e6c0b1d2a3f4e5d/logo?v=mf2k3l1a'],
  },
  logoError: {
    type: ['string', 'null'],
    enum: ['not_an_image', 'too_large', 'unavailable', null],
    description: 'Why logoUri gave no logo: not a PNG, JPEG or WebP; over 100 KB; or it could not be fetched (not found, a private address, a timeout, a redirect…). Set logoUri again to retry.',
  },
  verified: { type: 'boolean', description: 'Verified by the operator of this Serika: the consent page says "Verified by …".' },
  suspended: { type: 'boolean', description: 'Suspended by the operator: its tokens are dead and it may neither authorize nor get tokens.' },
} as const;

const webhookSecret = {
  type: 'string',
  description: 'The webhook signing secret: only in the response that first set webhookUrl and in that of rotate-webhook-secret.',
  examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
} as const;

export const clientObject = {
  type: 'object',
  required: [
    'clientId',
    'name',
    'redirectUris',
    'scopes',
    'public',
    'createdAt',
    'idTokenSigningAlg',
    'postLogoutRedirectUris',
    'grantTypes',
    'logoUri',
    'clientUri',
    'policyUri',
    'tosUri',
    'contacts',
    'logoUrl',
    'logoError',
    'verified',
    'suspended',
    'webhookUrl',
    'webhookEvents',
    'backchannelLogoutUri',
  ],
  properties: clientProperties,
} as const;

/** A PATCH's answer: the client, with webhookSecret when it set the first webhook URL. */
export const updatedClientObject = { ...clientObject, properties: { ...clientProperties, webhookSecret } } as const;

export const createdClientObject = {
  type: 'object',
  required: [...clientObject.required, 'clientSecret'],
  properties: {
    ...clientProperties,
    clientSecret: {
      type: ['string', 'null'],
      description: 'Shown only here and on reset; null for a public client.',
      examples: ['secret_Qm9vS2V5c0FyZU5vdFJlYWxTZWNyZXRzQnV0VGhpc0lzT2s'],
    },
    webhookSecret,
  },
} as const;

export const createClientBody = {
  type: 'object',
  required: ['name', 'redirectUris', 'scopes'],
  additionalProperties: false,
  properties: {
    name,
    redirectUris,
    scopes,
    public: {
      type: 'boolean',
      default: false,
      description: 'true for an SPA, native or CLI app: no secret, PKCE only.',
    },
    idTokenSigningAlg,
    postLogoutRedirectUris,
    grantTypes,
    webhookUrl,
    webhookEvents,
    backchannelLogoutUri,
    ...brandingProperties,
  },
  examples: [
    {
      name: 'My AI Writer',
      redirectUris: ['https://myapp.example.com/callback'],
      scopes: ['profile', 'generations'],
    },
  ],
} as const;

export const updateClientBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { name, redirectUris, scopes, idTokenSigningAlg, postLogoutRedirectUris, grantTypes, webhookUrl, webhookEvents, backchannelLogoutUri, ...brandingProperties },
  examples: [{ scopes: ['profile'] }],
} as const;

export const clientIdParams = {
  type: 'object',
  required: ['clientId'],
  properties: { clientId: { type: 'string' } },
} as const;

export const resetSecretResponse = {
  type: 'object',
  required: ['clientId', 'clientSecret'],
  properties: { clientId: clientProperties.clientId, clientSecret: { type: 'string' } },
} as const;

export const rotateWebhookSecretResponse = {
  type: 'object',
  required: ['clientId', 'webhookSecret'],
  properties: { clientId: clientProperties.clientId, webhookSecret },
} as const;

export const clientListResponse = {
  type: 'object',
  required: ['object', 'data', 'has_more', 'first_id', 'last_id'],
  properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: clientObject }, ...pageResponseProperties },
} as const;

/** SPEC §12's branding fields, as the API and the dashboard take them. */
interface BrandingInput {
  logoUri?: string | null;
  clientUri?: string | null;
  policyUri?: string | null;
  tosUri?: string | null;
  contacts?: string[];
}

export interface CreateClientInput extends BrandingInput {
  name: string;
  redirectUris: string[];
  scopes: string[];
  public?: boolean;
  idTokenSigningAlg?: SigningAlg;
  postLogoutRedirectUris?: string[];
  grantTypes?: string[];
  webhookUrl?: string | null;
  webhookEvents?: string[];
  backchannelLogoutUri?: string | null;
}

export interface UpdateClientInput extends BrandingInput {
  name?: string;
  redirectUris?: string[];
  scopes?: string[];
  idTokenSigningAlg?: SigningAlg;
  postLogoutRedirectUris?: string[];
  grantTypes?: string[];
  webhookUrl?: string | null;
  webhookEvents?: string[];
  backchannelLogoutUri?: string | null;
}
