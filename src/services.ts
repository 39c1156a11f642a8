import { Redis } from 'ioredis';
import type { Config } from './config.js';
import { ApiKeysService } from './accounts/api-keys/service.js';
import { AuditService } from './audit/service.js';
import { LoginThrottle } from './accounts/login-throttle.js';
import { SessionsService } from './accounts/sessions.js';
import { PendingSignIns } from './accounts/pending-sign-ins.js';
import { SecondFactors } from './accounts/second-factors/service.js';
import { Passkeys, relyingPartyOf } from './accounts/second-factors/passkeys.js';
import { WebAuthnChallenges } from './accounts/second-factors/webauthn-challenges.js';
import { UsersService } from './accounts/users-service.js';
import { UserAdmin } from './accounts/user-admin.js';
import { AccountMail } from './accounts/account-mail.js';
import { EmailLinks } from './accounts/email-links.js';
import { EmailVerification } from './accounts/email-verification.js';
import { PasswordReset } from './accounts/password-reset.js';
import { hashPassword } from './accounts/passwords.js';
import { MailOutbox } from './mail/outbox.js';
import { logTransport, smtpTransport } from './mail/transport.js';
import { MailWorker } from './mail/worker.js';
import { takeMailAllowance } from './mail/allowance.js';
import { ClientsService } from './clients/service.js';
import { EventOutbox } from './events/outbox.js';
import { EventSender } from './events/sender.js';
import { EventWorker } from './events/worker.js';
import { LogoutTokens } from './oidc/logout-token.js';
import { SessionClients } from './oidc/session-clients.js';
import { isSigningAlg, type SigningAlg } from './oidc/signing-algs.js';
import { MetadataDocuments } from './clients/metadata-documents.js';
import { ClientRegistration } from './clients/registration.js';
import { ClientLogos } from './clients/logos.js';
import { ClientTrust } from './clients/client-trust.js';
import { ClientErrorLog } from './clients/recent-errors.js';
import { GrantsService } from './consent/grants.js';
import { BudgetsService } from './consent/budgets.js';
import { BudgetGuard } from './generation/budget-guard.js';
import { DASHBOARD } from './paths.js';
import { AuthorizationService } from './oauth/authorize/service.js';
import { OAuthStore } from './oauth/store/store.js';
import { DeviceCodes } from './oauth/device/store.js';
import { DeviceCodeAttempts } from './oauth/device/attempts.js';
import { DeviceDecisions } from './oauth/device/decision.js';
import { ConsentRecorder } from './consent/record.js';
import { Gateway } from './generation/gateway.js';
import { UpstreamClient } from './generation/upstream.js';
import { UsageService } from './generation/usage.js';
import { ResponseOwners } from './generation/response-owners.js';
import { StoredResponses } from './generation/stored-responses.js';
import { CharactersService } from './resources/characters/service.js';
import type { Storage } from './storage/database.js';
import { redisState } from './http/health.js';
import { RateCounter } from './http/rate-limit-store.js';
import { Telemetry } from './http/telemetry.js';
import { IdTokens } from './oidc/id-token.js';
import { SigningKeys } from './oidc/signing-keys.js';
import { KeyEncryption } from './security/key-encryption.js';
import { InvalidationFeed } from './storage/invalidations.js';
import { GroupCommit, ownTransaction } from './storage/group-commit.js';
import { UsageBatches } from './generation/usage-batches.js';
import type { Tracing } from './tracing/tracing.js';

/**
 * The registry of domain services. Route modules receive only the services
 * they use, never the whole registry.
 */
export interface Services {
  config: Config;
  storage: Storage;
  now: () => number;
  users: UsersService;
  /** Mailed links' tokens (SPEC §11). */
  emailLinks: EmailLinks;
  emailVerification: EmailVerification;
  passwordReset: PasswordReset;
  /** The mail outbox and the worker that sends it (started by the server, stopped on close). */
  mailOutbox: MailOutbox;
  mailWorker: MailWorker;
  /** Events to apps (SPEC §13): the outbox, and the worker that delivers it (started by the server, stopped on close). */
  events: EventOutbox;
  eventWorker: EventWorker;
  /** Which app got an ID token in which session: the back-channel logout's addressees. */
  sessionClients: SessionClients;
  apiKeys: ApiKeysService;
  clients: ClientsService;
  /** Client ID metadata documents (SPEC §8); null when CIMD=off. */
  documents: MetadataDocuments | null;
  registration: ClientRegistration;
  /** The operator's verify/unverify/suspend/unsuspend of apps, each with its actor (SPEC §12). */
  clientTrust: ClientTrust;
  /** Client logos, fetched once and served from Serika's origin (SPEC §12). */
  logos: ClientLogos;
  /** Each client's recent authorization and token errors (SPEC §12), written in batches. */
  clientErrors: ClientErrorLog;
  sessions: SessionsService;
  /** Half-sessions between the password and the second step (SPEC §11). */
  pendingSignIns: PendingSignIns;
  /** TOTP factors and recovery codes (SPEC §11). */
  secondFactors: SecondFactors;
  /** Passkeys (SPEC §11, WebAuthn) and their ceremonies' challenges. */
  passkeys: Passkeys;
  webauthnChallenges: WebAuthnChallenges;
  /** Roles and suspension: what an admin does to users (SPEC §12). */
  userAdmin: UserAdmin;
  throttle: LoginThrottle;
  grants: GrantsService;
  /** Budgets inside the grant (SPEC §10). */
  budgets: BudgetsService;
  oauth: OAuthStore;
  /** Device codes (SPEC §9). */
  devices: DeviceCodes;
  /** The device page's decisions (SPEC §9), beside the authorization endpoint's. */
  deviceDecisions: DeviceDecisions;
  authorization: AuthorizationService;
  audit: AuditService;
  signingKeys: SigningKeys;
  /** KEY_ENCRYPTION_SECRETS: seals keys at rest (SPEC §6). */
  keyEncryption: KeyEncryption;
  idTokens: IdTokens;
  characters: CharactersService;
  usage: UsageService;
  upstream: UpstreamClient;
  gateway: Gateway;
  /** Who made each upstream response (SPEC §14). */
  responseOwners: ResponseOwners;
  /** GET / DELETE of a response, and what a new one may refer to (SPEC §14). */
  storedResponses: StoredResponses;
  /** What revocations ended, to every process's caches (started by the server). */
  invalidations: InvalidationFeed;
  /** Set when REDIS_URL is: shared rate limits across instances. */
  redis: Redis | null;
  /** Rate-limit counters, in Redis when it is set (the app's limits and the domains' throttles). */
  rateCounter: RateCounter;
  lifecycle: Lifecycle;
  telemetry: Telemetry;
  /** OTEL_*: spans of requests, statements and upstream calls; null when tracing is off. */
  tracing: Tracing | null;
}

/** Where the process stands in its life: draining (readiness 503) and, past the shutdown timeout, ending streams. */
interface Lifecycle {
  draining: boolean;
  /** Responses say `Connection: close` (http/drain.ts): through the drain but its last moment, and once the listener is closed. */
  retiringConnections: boolean;
  /** Aborted when in-flight work must end now (SHUTDOWN_TIMEOUT passed): open streams end with an error event. */
  readonly ending: AbortController;
}

/**
 * Redis never blocks a request: commands fail at once while it is away (no
 * offline queue), and the client keeps reconnecting in the background.
 */
export function connectRedis(url: string | null): Redis | null {
  if (!url) return null;
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  redis.on('error', () => {}); // reported by the rate-limit store when it matters
  return redis;
}

/** Closes what createServices opened besides the database (the upstream pool, Redis), so a process can exit. */
export async function closeServices(services: Services): Promise<void> {
  // Streams the apps left are still read for their usage (or until lifecycle.ending): their rows commit first.
  await services.gateway.close();
  // Their settlements have committed: the budget slices this instance kept go back (else they expire in 10 minutes).
  await services.budgets.close();
  // Mail not sent yet stays in the outbox for the next start (or another instance).
  await services.mailWorker.close();
  // Events in flight finish their try (10 s at most); the rest wait in the outbox.
  await services.eventWorker.close();
  await services.upstream.close();
  await services.documents?.close();
  await services.logos.close();
  await services.clientErrors.close();
  services.redis?.disconnect();
}

export function createServices(config: Config, storage: Storage, now: () => number = Date.now, tracing: Tracing | null = null): Services {
  const redis = connectRedis(config.redisUrl);
  const invalidations = new InvalidationFeed(storage);
  const keyEncryption = new KeyEncryption(config.keyEncryptionSecrets);
  const signingKeys = new SigningKeys(storage.db, config.idTokenTtl * 1000, keyEncryption, now);
  const telemetry = new Telemetry({
    pool: storage.poolStats,
    redis: redis ? () => redisState(redis) : undefined,
    feedLag: () => invalidations.lagMs,
    signingKeys: () => signingKeys.signing(),
    now,
  });
  const group = config.groupCommit ? new GroupCommit(storage.db).run : null;
  const transact = group ?? ownTransaction(storage.db);
  const oauth = new OAuthStore(
    storage.db,
    { accessToken: config.accessTokenTtl, refreshToken: config.refreshTokenTtl, authCode: config.authCodeTtl },
    now,
    { telemetry, feed: invalidations, cacheSize: config.tokenCache, transact: group },
  );
  const audit = new AuditService(storage.db, now);
  let eventWorker: EventWorker | null = null;
  const events = new EventOutbox(storage.db, now, () => eventWorker?.wake());
  const sessionClients = new SessionClients(storage.db, now);
  const grants = new GrantsService(storage.db, now, (trx, userId, clientId) => oauth.revocation.grant(trx, userId, clientId), audit, events, invalidations);
  const logos = new ClientLogos(storage.db, config.cimdAllowPrivate, invalidations, now);
  const branding = { logos, allowHttp: config.cimdAllowPrivate };
  // SPEC §3: a removed scope ends the grants, codes and tokens holding it, together.
  const clients = new ClientsService(
    storage.db,
    now,
    (clientId, removed) =>
      storage.db.transaction().execute(async (trx) => {
        await oauth.revocation.clientScopes(trx, clientId, removed);
        await grants.endGrantsHolding(trx, clientId, removed);
      }),
    config.maxClientsPerUser,
    audit,
    invalidations,
    config.tokenCache > 0 ? 1000 : 0,
    { encryption: keyEncryption, allowPrivate: config.webhooksAllowPrivate },
    branding,
  );
  const rateCounter = new RateCounter(redis);
  const mailOutbox = new MailOutbox(storage.db, now);
  const mailWorker = new MailWorker(mailOutbox, config.smtpUrl ? smtpTransport(config.smtpUrl, config.mailFrom) : logTransport());
  const accountMail = new AccountMail(config.publicUrl);
  const emailLinks = new EmailLinks(storage.db, now);
  const pendingSignIns = new PendingSignIns(storage.db, now);
  const queued = () => mailWorker.wake();
  const emailVerification = new EmailVerification({ db: storage.db, links: emailLinks, outbox: mailOutbox, mail: accountMail, audit, feed: invalidations, queued,
    mayMailTo: async (key) => (await takeMailAllowance(rateCounter, config.rateLimitMail, `mail:to:${key}`)) === null,
  });
  const sessions = new SessionsService(storage.db, now, audit);
  // SPEC §13: every ending of sessions (sessions.remove, the one way) tells the apps that got ID tokens in them,
  // in its transaction: sign-out, end_session, devices, password change or reset, suspension, account deletion.
  sessions.onEnded(async (trx, ended) => {
    const sids = ended.flatMap((s) => (s.sid === null ? [] : [s.sid]));
    for (const app of await sessionClients.take(trx, sids)) await events.logout(trx, app.clientId, app.userId, app.sid);
  });
  const users = new UsersService(storage.db, now, audit, invalidations, emailVerification, events, (userId, trx) => sessions.endAllForUser(userId, trx));
  const documents = config.cimd ? new MetadataDocuments(storage.db, { allowPrivate: config.cimdAllowPrivate, now, feed: invalidations, counter: rateCounter, logos, current: (id) => clients.findRegistered(id) }) : null;
  const secondFactors = new SecondFactors(storage.db, keyEncryption, audit, now);
  const webauthnChallenges = new WebAuthnChallenges(storage.db, now);
  const passkeys = new Passkeys(storage.db, webauthnChallenges, relyingPartyOf(config.publicUrl), audit, now);
  const idTokens = new IdTokens({ keys: signingKeys, users, issuer: config.publicUrl, ttlSeconds: config.idTokenTtl, now, sessionClients });
  const logoutTokens = new LogoutTokens({ keys: signingKeys, issuer: config.publicUrl, now });
  eventWorker = new EventWorker({
    outbox: events,
    sender: new EventSender({ allowPrivate: config.webhooksAllowPrivate }),
    target: (clientId) => clients.eventTarget(clientId),
    logoutToken: (request) => logoutTokens.mint({ ...request, alg: isSigningAlg(request.alg ?? '') ? (request.alg as SigningAlg) : null }),
    now,
  });
  // PostgreSQL: usage rows of concurrent calls share one commit (group commit stays off there for the rest).
  const usage = new UsageService(storage.db, now, transact, storage.dialect === 'postgres' ? new UsageBatches(storage.db) : null);
  const lifecycle: Lifecycle = { draining: false, retiringConnections: false, ending: new AbortController() };
  const budgets = new BudgetsService(storage.db, now, transact, storage.dialect === 'postgres', audit, events, invalidations);
  // One way to record a consent, for the authorization endpoint and the device page alike.
  const consents = new ConsentRecorder(grants, budgets, (trx, clientId) => clients.markGranted(clientId, trx));
  const devices = new DeviceCodes(storage.db, oauth, config.deviceCodeTtl, now, telemetry);
  const clientErrors = new ClientErrorLog(storage.db, now);
  const clientName = async (clientId: string) => (await clients.findRegistered(clientId))?.name ?? null;
  const upstream = new UpstreamClient({ baseUrl: config.upstreamBaseUrl, apiKey: config.upstreamApiKey, timeoutMs: config.upstreamTimeoutMs, tracing });
  const responseOwners = new ResponseOwners(storage.db, now);
  const storedResponses = new StoredResponses(upstream, responseOwners);
  const gateway = new Gateway({
    upstream,
    owners: responseOwners,
    stored: storedResponses,
    usage,
    now,
    clientName,
    ending: lifecycle.ending.signal,
    drainMs: config.upstreamTimeoutMs,
    telemetry,
    budget: new BudgetGuard({ budgets, defaultMaxTokens: config.budgetDefaultMaxTokens, dashboardUrl: config.publicUrl + DASHBOARD.apps, clientName, now }),
  });
  return {
    config,
    storage,
    now,
    users,
    emailLinks,
    emailVerification,
    passwordReset: new PasswordReset({
      db: storage.db,
      links: emailLinks,
      pendingSignIns,
      sessions,
      hashPassword,
      outbox: mailOutbox,
      mail: accountMail,
      audit,
      now,
      mayMail: async (userId) => (await takeMailAllowance(rateCounter, config.rateLimitMail, `mail:user:${userId}`)) === null,
      queued,
    }),
    mailOutbox,
    mailWorker,
    events,
    eventWorker,
    sessionClients,
    apiKeys: new ApiKeysService(storage.db, now, audit),
    audit,
    signingKeys,
    keyEncryption,
    idTokens,
    clients,
    documents,
    registration: new ClientRegistration(storage.db, now, audit, branding, config.webhooksAllowPrivate),
    // A suspended app's events wait (events/worker.ts); its unsuspension sends them at once.
    clientTrust: new ClientTrust(storage.db, (trx, clientId) => oauth.revocation.client(trx, clientId), audit, invalidations, now, (trx, clientId) => events.release(trx, clientId)),
    logos,
    clientErrors,
    sessions,
    pendingSignIns,
    secondFactors,
    passkeys,
    webauthnChallenges,
    userAdmin: new UserAdmin({
      db: storage.db,
      dialect: storage.dialect,
      now,
      audit,
      sessions,
      pendingSignIns,
      endTokens: async (trx, userId) => {
        await oauth.revocation.user(trx, userId);
        await grants.userSuspended(trx, userId);
      },
    }),
    throttle: new LoginThrottle(storage.db, now),
    grants,
    budgets,
    oauth,
    devices,
    deviceDecisions: new DeviceDecisions({
      devices,
      attempts: new DeviceCodeAttempts(storage.db, now),
      clients,
      users,
      budgets,
      grants,
      consents,
      audit,
      transact: ownTransaction(storage.db),
      allowedBy: (clientId) => grants.countForClient(clientId),
    }),
    authorization: new AuthorizationService({
      clients,
      documents,
      budgets,
      consents,
      transact: ownTransaction(storage.db),
      users,
      grants,
      store: oauth,
      issuer: config.publicUrl,
      now,
      idTokenHintSubject: (token) => idTokens.hintSubject(token),
      hasSecondFactor: async (userId) => (await secondFactors.factorsOf(userId)).length > 0,
      errors: clientErrors,
    }),
    characters: new CharactersService(storage.db, now),
    usage,
    upstream,
    gateway,
    responseOwners,
    storedResponses,
    redis,
    rateCounter,
    telemetry,
    tracing,
    lifecycle,
    invalidations,
  };
}
