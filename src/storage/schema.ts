/**
 * Table types shared by both dialects. Times are epoch milliseconds in a
 * 64-bit integer column (read back as numbers on both), booleans are 0/1
 * integers: the two representations SQLite and PostgreSQL store alike.
 */
import type { Generated } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  /** Usernames are unique regardless of case (SPEC §1). */
  username_lower: string;
  email: string | null;
  /** The address, lower-cased, once verified; null until then and again when it changes (unique: SPEC §11). */
  verified_email_lower: string | null;
  password_hash: string;
  avatar: string | null;
  created_at: number;
  updated_at: number;
  /** SPEC §12: `user` or `admin`. */
  role: Role;
  /** When an admin suspended the user (SPEC §12); null: not suspended. */
  suspended_at: number | null;
}

export type Role = 'user' | 'admin';

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  /** The non-secret start of the key, shown in listings. */
  prefix: string;
  key_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** owned: made by a user (SPEC §3); registered: RFC 7591; metadata_document: a client ID metadata document (SPEC §8). */
export type ClientKind = 'owned' | 'registered' | 'metadata_document';

export interface OAuthClientsTable {
  id: string;
  /** Null for ownerless clients (registered, metadata document). */
  user_id: string | null;
  name: string;
  /** JSON array of strings, in the order given. */
  redirect_uris: string;
  /** Space-separated scope names. */
  scopes: string;
  is_public: number;
  secret_hash: string | null;
  created_at: number;
  updated_at: number;
  /** RS256 (null: the default), ES256 or EdDSA. */
  id_token_signing_alg: string | null;
  /** JSON array of strings, or null. */
  post_logout_redirect_uris: string | null;
  kind: ClientKind;
  /** JSON: the registered metadata (RFC 7591 §3.2.1) or the fields kept from a metadata document. */
  metadata: string | null;
  /** A metadata document's row is fresh until then (its Cache-Control, 5 min to 24 h). */
  metadata_expires_at: number | null;
  /** When a user last allowed it; ownerless clients go 30 days after the later of this and created_at. */
  last_granted_at: number | null;
  /** Space-separated grant types; null is authorization_code refresh_token (SPEC §9). */
  grant_types: string | null;
  /** SPEC §13 (0024): where webhooks go, or null for none. */
  webhook_url: string | null;
  /** Space-separated event types the webhook receives; null: every type. */
  webhook_events: string | null;
  /** The webhook signing secret (whsec_…), sealed with KEY_ENCRYPTION_SECRETS when set. */
  webhook_secret: string | null;
  /** OpenID Back-Channel Logout 1.0: where logout tokens go, or null. */
  backchannel_logout_uri: string | null;
  /** Branding (SPEC §12, RFC 7591 §2), null when not given (0025). */
  logo_uri: string | null;
  client_uri: string | null;
  policy_uri: string | null;
  tos_uri: string | null;
  /** JSON array of e-mail addresses, or null. */
  contacts: string | null;
  /** When logo_uri was last fetched (null: not yet, or none), and why no logo was stored then (null: stored). */
  logo_fetched_at: number | null;
  logo_problem: string | null;
  /** When and by whom (an admin's user id; null from the CLI) the operator verified it (SPEC §12). */
  verified_at: number | null;
  verified_by: string | null;
  /** While set, the app's tokens are dead and it may neither authorize nor get tokens (SPEC §12). */
  suspended_at: number | null;
  suspended_by: string | null;
  /**
   * How many users allowed it: its oauth_grants rows, counted by migration 0031's triggers (never written by the
   * code, so optional: a client row is written whole from this type, and the database fills it).
   */
  grant_count?: number;
}

/** The logo Serika fetched once for a client (SPEC §12), when it was a PNG, JPEG or WebP. */
interface ClientLogosTable {
  client_id: string;
  content_type: string;
  bytes: Buffer;
  fetched_at: number;
}

/** A client's recent authorization and token errors (SPEC §12), at most 100 per client. */
interface ClientErrorsTable {
  id: Generated<number>;
  client_id: string;
  created_at: number;
  endpoint: string;
  error: string;
  error_description: string | null;
  redirect_uri: string | null;
}

interface ServerSecretsTable {
  name: string;
  value: string;
  created_at: number;
}

interface SessionsTable {
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
  /** The browser's User-Agent at sign-in, truncated (0020); null before 0020. */
  user_agent: string | null;
  /** The client address at sign-in, as TRUST_PROXY resolves it (0020). */
  ip: string | null;
  /** Last request seen, refreshed at most once a minute (0020). */
  last_seen_at: number | null;
  /** How the session was established: RFC 8176 amr values, space-separated; null = "pwd" (before 0018). */
  amr: string | null;
  /** The session's id in ID tokens and logout tokens (SPEC §13, 0024): random, never the cookie's id; null before 0024. */
  sid: string | null;
  /** When the session's user last re-authenticated for the admin pages (SPEC §12); null: never. */
  reauth_at: number | null;
  /** When the session's user last gave their password or a current code again for an account change (0033); null: never. */
  confirmed_at: number | null;
}

/** A user's authenticator app (SPEC §11): the secret sealed with KEY_ENCRYPTION_SECRETS. */
interface TotpFactorsTable {
  user_id: string;
  secret: string;
  confirmed_at: number | null;
  last_used_step: number | null;
  created_at: number;
}

/** Recovery codes, as SHA-256, each used once. */
interface RecoveryCodesTable {
  code_hash: string;
  user_id: string;
  created_at: number;
  used_at: number | null;
}

/** Half-sessions between the password and the second step (SPEC §11), the cookie's id as SHA-256. */
interface PendingSignInsTable {
  id_hash: string;
  user_id: string;
  amr: string;
  stage: 'verify' | 'enroll';
  return_to: string | null;
  created_at: number;
  expires_at: number;
  /** Second-step codes tried (0021): the half-session ends at the fifth (CODE_TRIES). */
  failures: Generated<number>;
}

/** A user's passkeys (SPEC §11, WebAuthn), 0022: binary fields in base64url. */
interface WebAuthnCredentialsTable {
  id: string;
  user_id: string;
  name: string;
  public_key: string;
  counter: number;
  /** Space-separated AuthenticatorTransport values, or null. */
  transports: string | null;
  /** 0/1: WebAuthn's backup eligibility (a synced passkey) and backup state. */
  multi_device: number;
  backed_up: number;
  created_at: number;
  last_used_at: number | null;
}

/** Challenges of WebAuthn ceremonies under way, as SHA-256, each taken once (0022). */
interface WebAuthnChallengesTable {
  challenge_hash: string;
  purpose: 'register' | 'sign_in' | 'second_step';
  binding: string;
  user_id: string | null;
  created_at: number;
  expires_at: number;
}

interface LoginFailuresTable {
  username_key: string;
  failures: number;
  last_failure_at: number;
}

interface OAuthGrantsTable {
  user_id: string;
  client_id: string;
  /** Space-separated scope names the user has allowed this client. */
  scopes: string;
  created_at: number;
  updated_at: number;
  /** The audience allowed (RFC 8707): space-separated resource paths; null is the origin. */
  resources: string | null;
  /** When the user last allowed the app through /device. */
  device_at: number | null;
  /** The characters the app may see (SPEC §15): a JSON array of ids; null is every one, new ones too. */
  characters: string | null;
}

export interface OAuthPendingRequestsTable {
  id: string;
  user_id: string;
  client_id: string;
  redirect_uri: string;
  scopes: string;
  state: string | null;
  code_challenge: string;
  created_at: number;
  expires_at: number;
  nonce: string | null;
  /** When the user signed in (ms), for auth_time. */
  auth_time: number | null;
  resources: string | null;
  /** How the user signed in (RFC 8176 amr, space-separated); null = "pwd". */
  amr: string | null;
  /** The sign-in session's sid (SPEC §13); null before 0024 or without a session. */
  sid: string | null;
}

export interface OAuthCodesTable {
  code_hash: string;
  client_id: string;
  user_id: string;
  redirect_uri: string;
  scopes: string;
  code_challenge: string;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
  nonce: string | null;
  auth_time: number | null;
  resources: string | null;
  /** How the user signed in (RFC 8176 amr, space-separated); null = "pwd". */
  amr: string | null;
  /** The sign-in session's sid (SPEC §13); null before 0024 or without a session. */
  sid: string | null;
}

type TokenKind = 'access' | 'refresh';

export interface OAuthTokensTable {
  token_hash: string;
  kind: TokenKind;
  client_id: string;
  user_id: string;
  scopes: string;
  family_id: string;
  code_hash: string | null;
  created_at: number;
  expires_at: number;
  revoked_at: number | null;
  consumed_at: number | null;
  auth_time: number | null;
  resources: string | null;
  /** How the user signed in (RFC 8176 amr, space-separated); null = "pwd". */
  amr: string | null;
  /** The sign-in session's sid (SPEC §13); null before 0024 or without a session. */
  sid: string | null;
}

type DeviceCodeStatus = 'pending' | 'approved' | 'denied' | 'consumed';

export interface OAuthDeviceCodesTable {
  device_code_hash: string;
  user_code_hash: string;
  client_id: string;
  scopes: string;
  resources: string | null;
  status: DeviceCodeStatus;
  user_id: string | null;
  auth_time: number | null;
  /** Seconds between polls; slow_down adds 5 (RFC 8628 §3.5). */
  interval_s: number;
  last_polled_at: number | null;
  request_ip: string | null;
  created_at: number;
  expires_at: number;
  /** JSON BudgetLimit the device asked for (SPEC §10), or null. */
  budget: string | null;
  /** How the approving user signed in (RFC 8176 amr, space-separated); null = "pwd". */
  amr: string | null;
  /** The characters the device asked for (serika_characters ids, JSON), or null. */
  characters: string | null;
  /** The approving session's sid (SPEC §13), for the device's ID tokens; null before the decision or for a session without one. */
  sid: string | null;
}

/** One-time ids of device confirmation pages (SPEC §9), as SHA-256: a decision presents the id of the page it came from. */
interface OAuthDeviceConfirmationsTable {
  id_hash: string;
  device_code_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export type BudgetPeriod = 'day' | 'month' | 'total';

export interface OAuthBudgetsTable {
  user_id: string;
  client_id: string;
  /** Null: tokens are not limited. */
  tokens_limit: number | null;
  images_limit: number | null;
  period: BudgetPeriod;
  /** Start (ms) of the period the used counts are for; 0 for total. */
  period_start: number;
  tokens_used: number;
  images_used: number;
  /** Held by calls in flight (budget_reservations), and slices (budget_leases). */
  tokens_reserved: number;
  images_reserved: number;
  updated_at: number;
  /** How many times slices of the grant were released as expired (budget-leases.ts; migration 0034). */
  slices_released: number;
}

/** A sub-agent token (SPEC §15, RFC 8693): an access token exchanged for another of the same client. */
interface OAuthAgentTokensTable {
  token_hash: string;
  /** The subject token it was exchanged for. */
  parent_hash: string;
  /** 1 below the user's token, at most 3. */
  depth: number;
  agent_name: string | null;
  /** RFC 8693 §4.1's act claim, nested per level, as JSON. */
  act: string;
  /** Its hash and its sub-agent ancestors', space-separated, leaf first: whose caps one call counts in. */
  lineage: string;
  /** Its narrowing of its grant's characters (SPEC §15), a JSON array of ids; null: the grant's alone. */
  characters: string | null;
}

/** A sub-agent's cap (null: none of its own) and spending. */
export interface AgentBudgetsTable {
  token_hash: string;
  user_id: string;
  client_id: string;
  tokens_limit: number | null;
  images_limit: number | null;
  tokens_used: number;
  images_used: number;
  tokens_reserved: number;
  images_reserved: number;
  updated_at: number;
}

interface AgentReservationsTable {
  id: string;
  token_hash: string;
  chain: string;
  tokens: number;
  images: number;
  created_at: number;
  expires_at: number;
}

/** An amount of a grant's budget held until it expires: a call's hold (0008) or an instance's slice (0030, leases). */
interface BudgetHoldTable {
  id: string;
  user_id: string;
  client_id: string;
  tokens: number;
  images: number;
  created_at: number;
  expires_at: number;
}

export interface CharactersTable {
  id: string;
  user_id: string;
  name: string;
  description: string;
  personality: string;
  greeting: string;
  avatar: string | null;
  created_at: number;
  updated_at: number;
}

interface UsageRecordsTable {
  id: string;
  user_id: string;
  client_id: string | null;
  client_name: string | null;
  api_key_id: string | null;
  endpoint: string;
  model: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  images: number;
  status: number;
  latency_ms: number;
  /** UTC date, YYYY-MM-DD. */
  day: string;
  created_at: number;
}

/** SPEC §14: who made each upstream response (its ids are global at the upstream: one key for every user). */
interface ResponseOwnersTable {
  response_id: string;
  user_id: string;
  /** The app that made it; null for an API-key call (any of the user's keys may reach it). */
  client_id: string | null;
  api_key_id: string | null;
  /** Its input + output tokens: what a call continuing it (previous_response_id) adds to its prompt at most. */
  context_tokens: number;
  created_at: number;
}

interface AuditEventsTable {
  id: string;
  type: string;
  user_id: string | null;
  client_id: string | null;
  ip: string | null;
  /** JSON: ids and names, never a secret. */
  detail: string;
  created_at: number;
  /** Who did it when it is not the user it concerns: an admin (SPEC §12); null otherwise. */
  actor_id: string | null;
}

export interface SigningKeysTable {
  kid: string;
  alg: string;
  public_jwk: string;
  private_jwk: string;
  created_at: number;
  activates_at: number;
}

/** The invalidation outbox (storage/invalidations.ts). */
interface CacheInvalidationsTable {
  id: Generated<number>;
  kind: string;
  key: string;
  created_at: number;
}

/** What each applied migration leaves for older versions (storage/migrations/older-versions.ts). */
export interface MigrationCompatibilityTable {
  name: string;
  /** 1: a version without the migration runs on the schema it leaves. */
  compatible_with_older: number;
  /** Not compatible, except for versions that have this earlier migration (a contract step). */
  unless_they_have: string | null;
  /** Not compatible: what an older version would get wrong. */
  breaks: string | null;
  recorded_at: number;
}

/** Links mailed to users (SPEC §11): verification and password reset; the token is stored as SHA-256 only. */
export interface EmailLinksTable {
  token_hash: string;
  purpose: 'verify' | 'reset';
  user_id: string;
  /** verify: the address the link verifies; reset: the address it was sent to. */
  email: string;
  /** reset: SHA-256 of the password hash the link was made under (a changed password kills it). */
  password_stamp: string | null;
  created_at: number;
  expires_at: number;
}

/** Messages waiting to be sent, sent, or given up (src/mail/outbox.ts). */
export interface MailOutboxTable {
  id: string;
  recipient: string;
  subject: string;
  text_body: string;
  html_body: string;
  state: 'pending' | 'sending' | 'sent' | 'failed';
  attempts: number;
  next_attempt_at: number;
  claimed_until: number | null;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

/** Which app got an ID token in which session (SPEC §13): the back-channel logout's addressees. */
interface SessionClientsTable {
  sid: string;
  client_id: string;
  user_id: string;
  created_at: number;
}

/** A webhook event or a back-channel logout (SPEC §13), written in the transaction of the change. */
export interface EventOutboxTable {
  id: string;
  client_id: string;
  user_id: string;
  channel: 'webhook' | 'logout';
  /** The webhook's type (grant.revoked, …), or "logout". */
  type: string;
  /** JSON: the webhook body, or the logout token's sub and sid. */
  payload: string;
  state: 'pending' | 'sending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: number;
  claimed_until: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/** One try at delivering an event: the answer's status or why there was none. */
interface EventAttemptsTable {
  event_id: string;
  attempt: number;
  at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** A budget threshold already announced in a period (SPEC §13: once per period). */
interface BudgetNoticesTable {
  user_id: string;
  client_id: string;
  period_start: number;
  percent: number;
}

export interface Database {
  users: UsersTable;
  api_keys: ApiKeysTable;
  oauth_clients: OAuthClientsTable;
  client_logos: ClientLogosTable;
  client_errors: ClientErrorsTable;
  server_secrets: ServerSecretsTable;
  sessions: SessionsTable;
  totp_factors: TotpFactorsTable;
  recovery_codes: RecoveryCodesTable;
  pending_sign_ins: PendingSignInsTable;
  webauthn_credentials: WebAuthnCredentialsTable;
  webauthn_challenges: WebAuthnChallengesTable;
  login_failures: LoginFailuresTable;
  oauth_grants: OAuthGrantsTable;
  oauth_pending_requests: OAuthPendingRequestsTable;
  oauth_codes: OAuthCodesTable;
  oauth_tokens: OAuthTokensTable;
  characters: CharactersTable;
  usage_records: UsageRecordsTable;
  response_owners: ResponseOwnersTable;
  audit_events: AuditEventsTable;
  signing_keys: SigningKeysTable;
  oauth_device_codes: OAuthDeviceCodesTable;
  oauth_device_confirmations: OAuthDeviceConfirmationsTable;
  oauth_budgets: OAuthBudgetsTable;
  budget_reservations: BudgetHoldTable;
  budget_leases: BudgetHoldTable;
  cache_invalidations: CacheInvalidationsTable;
  migration_compatibility: MigrationCompatibilityTable;
  email_links: EmailLinksTable;
  mail_outbox: MailOutboxTable;
  session_clients: SessionClientsTable;
  event_outbox: EventOutboxTable;
  event_attempts: EventAttemptsTable;
  budget_notices: BudgetNoticesTable;
  oauth_agent_tokens: OAuthAgentTokensTable;
  agent_budgets: AgentBudgetsTable;
  agent_reservations: AgentReservationsTable;
}
