/** Path constants in one place (SPEC: "Where things live"); routes are registered with these, never a second literal. */
export const API_BASE = '/api/openai/v1';

/** The MCP server (SPEC §8). */
export const MCP_PATH = '/mcp';

/** Paths under API_BASE, as the API scope registers them. */
export const API = {
  clients: '/oauth/clients',
  client: '/oauth/clients/:clientId',
  clientResetSecret: '/oauth/clients/:clientId/reset-secret',
  clientRotateWebhookSecret: '/oauth/clients/:clientId/rotate-webhook-secret',
  authorize: '/oauth/authorize',
  authorizeDecision: '/oauth/authorize/decision',
  token: '/oauth/token',
  revoke: '/oauth/revoke',
  introspect: '/oauth/introspect',
  userinfo: '/oauth/userinfo',
  endSession: '/oauth/end_session',
  register: '/oauth/register',
  deviceAuthorization: '/oauth/device_authorization',
  characters: '/characters',
  character: '/characters/:id',
  oauthCharacters: '/oauth/characters',
  oauthCharacter: '/oauth/characters/:id',
  chatCompletions: '/chat/completions',
  imageGenerations: '/images/generations',
  /** SPEC §14: the Responses API, a response by its id, and embeddings. */
  responses: '/responses',
  response: '/responses/:id',
  responseInputItems: '/responses/:id/input_items',
  embeddings: '/embeddings',
  models: '/models',
  usage: '/usage',
  /** The prefix of the resources an access token reaches. */
  oauth: '/oauth',
} as const;

export const PATHS = {
  clients: `${API_BASE}${API.clients}`,
  authorize: `${API_BASE}${API.authorize}`,
  authorizeDecision: `${API_BASE}${API.authorizeDecision}`,
  token: `${API_BASE}${API.token}`,
  revoke: `${API_BASE}${API.revoke}`,
  introspect: `${API_BASE}${API.introspect}`,
  userinfo: `${API_BASE}${API.userinfo}`,
  endSession: `${API_BASE}${API.endSession}`,
  register: `${API_BASE}${API.register}`,
  deviceAuthorization: `${API_BASE}${API.deviceAuthorization}`,
  device: '/device',
  deviceDecision: '/device/decision',
  metadata: '/.well-known/oauth-authorization-server',
  openidConfiguration: '/.well-known/openid-configuration',
  jwks: '/.well-known/jwks.json',
  /** RFC 9728 §3.1: the resource's path follows this prefix; the prefix alone is the origin's. */
  protectedResourceMetadata: '/.well-known/oauth-protected-resource',
  login: '/login',
  /** The second step of a sign-in (SPEC §11), and setting a factor up when MFA=required asks for one first. */
  loginVerify: '/login/verify',
  loginTwoFactorSetup: '/login/two-factor',
  /** SPEC §11 passkeys: a sign-in with one (its options, then the answer), and the second step with one. */
  loginPasskeyOptions: '/login/passkey/options',
  loginPasskey: '/login/passkey',
  loginVerifyPasskeyOptions: '/login/verify/passkey/options',
  loginVerifyPasskey: '/login/verify/passkey',
  /** MFA=required: a passkey as the factor set up (its options, then the answer), beside the authenticator app. */
  loginTwoFactorPasskeyOptions: '/login/two-factor/passkey/options',
  loginTwoFactorPasskey: '/login/two-factor/passkey',
  signup: '/signup',
  logout: '/logout',
  /** SPEC §11: the links mailed to users, and the form that mails a reset link. */
  emailVerify: '/email/verify',
  passwordForgot: '/password/forgot',
  passwordReset: '/password/reset',
  dashboard: '/dashboard',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
  docs: '/docs',
  openapi: '/docs/openapi.json',
} as const;

/** A client's logo, served from the origin root (SPEC §12): `${CLIENT_LOGO_PREFIX}:clientId/logo`. */
export const CLIENT_LOGO_PREFIX = '/clients/';
export const CLIENT_LOGO = `${CLIENT_LOGO_PREFIX}:clientId/logo`;

/** The dashboard's sections; their sub-pages hang below each. */
export const DASHBOARD = {
  overview: '/dashboard',
  keys: '/dashboard/keys',
  clients: '/dashboard/clients',
  apps: '/dashboard/apps',
  characters: '/dashboard/characters',
  usage: '/dashboard/usage',
  activity: '/dashboard/activity',
  account: '/dashboard/account',
} as const;

/** The operator's console (SPEC §12), at the origin root: pages for admins, and their API for admins' keys. */
export const ADMIN = {
  root: '/admin',
  reauth: '/admin/reauth',
  reauthPasskeyOptions: '/admin/reauth/passkey/options',
  reauthPasskey: '/admin/reauth/passkey',
  users: '/admin/users',
  user: '/admin/users/:id',
  apps: '/admin/apps',
  app: '/admin/apps/:clientId',
  usage: '/admin/usage',
  audit: '/admin/audit',
  signingKeys: '/admin/signing-keys',
} as const;

export const ADMIN_API = {
  base: '/admin/api',
  users: '/admin/api/users',
  userSuspend: '/admin/api/users/:id/suspend',
  userUnsuspend: '/admin/api/users/:id/unsuspend',
  clients: '/admin/api/clients',
  clientVerify: '/admin/api/clients/:clientId/verify',
  clientUnverify: '/admin/api/clients/:clientId/unverify',
  clientSuspend: '/admin/api/clients/:clientId/suspend',
  clientUnsuspend: '/admin/api/clients/:clientId/unsuspend',
} as const;
