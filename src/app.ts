import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { DestinationStream } from 'pino';
import { requireApiKey } from './accounts/api-keys/guard.js';
import { clientRoutes } from './clients/routes.js';
import { frameworkErrors, handleClientError, notFound, originForm, sendErrorFor } from './error-formats.js';
import { registerDocs } from './http/docs.js';
import { drainAwareResponse } from './http/drain.js';
import { RateLimited } from './http/error-class.js';
import { field, registerFormBody } from './http/form-body.js';
import { registerHealth } from './http/health.js';
import { registerJsonBody } from './http/json-body.js';
import { loggerOptions, requestId } from './http/logging.js';
import { registerMetrics } from './http/metrics.js';
import { traceRequests } from './tracing/http-spans.js';
import { SCHEMA_OPTIONS } from './http/schema-validation.js';
import { oauthJsonErrors } from './oauth/protocol/json-errors.js';
import { recordTokenErrors } from './oauth/protocol/recent-errors.js';
import { logoRoute } from './web/logo-route.js';
import { metadataRoute } from './oauth/metadata.js';
import { registerRoute } from './oauth/register.js';
import { deviceAuthorizationRoute } from './oauth/device/route.js';
import { mcpRoutes } from './mcp/route.js';
import { protectedResourceMetadataRoutes } from './resources/protected-resource-metadata.js';
import { jwksRoute } from './oidc/jwks.js';
import { introspectRoute } from './oauth/introspect.js';
import { tokenRateLimits } from './oauth/protocol/rate-limits.js';
import { clientAuthenticator } from './oauth/protocol/client-auth.js';
import { revokeRoute } from './oauth/revoke.js';
import { tokenRoute } from './oauth/token/route.js';
import { bearerGuard } from './resources/bearer.js';
import { protectedResource } from './audiences.js';
import { userinfoRoute } from './resources/userinfo.js';
import { characterRoutes, oauthCharacterRoutes } from './resources/characters/routes.js';
import { apiKeyGenerationRoutes, oauthGenerationRoutes } from './generation/routes.js';
import { registerCors } from './http/cors.js';
import { sharedRateLimitStore } from './http/rate-limit-store.js';
import { fastifyTrustProxy, warnOfUnseenProxies } from './http/trust-proxy.js';
import { API_BASE, PATHS } from './paths.js';
import { sharedSecret } from './security/server-secrets.js';
import { closeServices, type Services } from './services.js';
import { accountsPages, appAskingFor } from './web/accounts-pages.js';
import { loginIpLimit } from './web/login-limit.js';
import { SecondStep, secondStepPages } from './web/second-step-pages.js';
import { passkeyPages } from './web/passkey-pages.js';
import { FORGOT_ACCOUNTS_PER_ADDRESS, mailedLinkPages, sleepUntil, type WaitUntil } from './web/mailed-link-pages.js';
import { takeMailAllowance } from './mail/allowance.js';
import { takeResetAttempt } from './web/login-limit.js';
import { assetRoutes } from './web/assets.js';
import { authorizePages } from './web/authorize-pages.js';
import { endSessionPages } from './web/end-session-pages.js';
import { devicePages } from './web/device-pages.js';
import { dashboardRoutes } from './web/dashboard/index.js';
import { adminRoutes } from './web/admin/index.js';
import { adminApiRoutes } from './admin/routes.js';
import { pageHeaders } from './web/layout.js';
import { sendPageError } from './web/page-errors.js';
import { PageSessions, protectFormPosts } from './web/session.js';

const isProbe = (url: string) => url === PATHS.healthz || url === PATHS.readyz;

export interface BuildOptions {
  /** Where JSON log lines go; stdout by default. */
  logStream?: DestinationStream;
  /** How a padded answer (SPEC §11's forgot form) waits for its moment on the services' clock; a sleep by default. */
  waitUntil?: WaitUntil;
}

/** Builds the Fastify app; listening is server.ts's job, so tests can use inject() or port 0. */
export async function buildApp(services: Services, options: BuildOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const logger = loggerOptions(config.logLevel);
  const app = Fastify({
    logger: options.logStream ? { ...logger, stream: options.logStream } : logger,
    genReqId: requestId,
    // Health probes are logged at debug (below), not as two info lines every few seconds.
    logController: new LogController({ disableRequestLogging: (request: { url?: string }) => isProbe(request.url ?? '') }),
    // TRUST_PROXY: whose X-Forwarded-For/-Proto to believe; request.ip (rate limits, logs) follows it.
    trustProxy: fastifyTrustProxy(config.trustProxy),
    // Long enough for any ID we mint and a metadata document's URL (a client_id); a longer one is a 404 (frameworkErrors).
    routerOptions: { maxParamLength: 2100 },
    // The reply is sent inside; Fastify ignores what this handler returns.
    frameworkErrors: (error, request, reply) => void frameworkErrors(error, request, reply),
    rewriteUrl: (request) => originForm(request.url ?? '/'),
    clientErrorHandler: handleClientError,
    // Slow bodies (a byte every few seconds) must not hold a connection forever: the whole request,
    // headers and body, arrives within REQUEST_TIMEOUT or the connection is answered 408 and closed.
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: Math.min(60_000, config.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, config.requestTimeoutMs / 4)),
      // Stopping (SIGTERM): responses say Connection: close, so no proxy reuses a closing connection (http/drain.ts).
      ServerResponse: drainAwareResponse(() => services.lifecycle.retiringConnections),
    },
    // A request that reaches a closing server on a connection already open is served, not refused with
    // 503: the proxy sent it there and cannot retry a POST elsewhere (SHUTDOWN_TIMEOUT bounds the wait).
    return503OnClosing: false,
    ajv: { customOptions: SCHEMA_OPTIONS },
  });

  // First of all hooks: everything a request does runs inside its span. Probes and scrapes are not traced.
  if (services.tracing) {
    traceRequests(app, services.tracing, (path) => isProbe(path) || path === PATHS.metrics);
    services.tracing.logTo(app.log);
  }
  warnOfUnseenProxies(app, config.trustProxy);
  // Audit lines are written whatever LOG_LEVEL is, to the same destination (audit/service.ts).
  services.audit.logTo(app.log);
  services.clientErrors.logTo(app.log);

  const https = config.publicUrl.startsWith('https:');
  app.addHook('onResponse', (request, reply, done) => {
    if (isProbe(request.url)) request.log.debug({ url: request.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime }, 'health probe');
    done();
  });
  const events = services.eventWorker;
  app.addHook('onRequest', (request, reply, done) => {
    events.requestSeen();
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    // RFC 6797: once served over https, browsers keep to https.
    if (https) reply.header('strict-transport-security', 'max-age=31536000');
    done();
  });
  registerJsonBody(app);
  app.setErrorHandler(sendErrorFor);
  app.setNotFoundHandler(notFound);

  const pageSessions = new PageSessions(services.sessions, config.publicUrl, services.pendingSignIns);
  app.decorate('pageSessions', pageSessions);
  // /login counts failed sign-ins only (SPEC §2): whoever signs in successfully is never refused. Wrong
  // second-step codes and turn-off proofs count on the same counter (SPEC §11).
  const loginLimit = loginIpLimit(services.rateCounter, config.rateLimitLogin, {
    telemetry: services.telemetry,
    onLockout: (request, retryAfter) =>
      services.audit.record({ type: 'sign_in.ip_limited', userId: null, detail: { failures: config.rateLimitLogin, retryAfter } }, request),
  });
  const stepDeps = {
    config,
    loginLimit,
    users: services.users,
    secondFactors: services.secondFactors,
    pageSessions,
    throttle: services.throttle,
    audit: services.audit,
    appAsking: appAskingFor(services.clients),
  };
  const secondStep = new SecondStep(stepDeps);
  app.decorate('secondStep', secondStep);
  const cookieSigningKey = await sharedSecret(services.storage.db, 'cookie-signing-key', services.keyEncryption);
  const csrfHmacKey = await sharedSecret(services.storage.db, 'csrf-hmac-key', services.keyEncryption);
  // Rate-limit counters live in Redis when REDIS_URL is set (shared by every instance), else in-process.
  services.rateCounter.log = app.log;
  // A route's limit refuses with RateLimited: the error handler sets Retry-After, as for every other limit.
  await app.register(rateLimit, {
    global: false,
    store: sharedRateLimitStore(services.rateCounter),
    addHeaders: { 'retry-after': false },
    errorResponseBuilder: (_request, context) => new RateLimited(context.ttl / 1000),
  });
  registerCors(app);

  await registerDocs(app, () => config.publicUrl);
  registerMetrics(app, services.telemetry, config.metricsToken);
  if (https && config.metricsToken === null) {
    app.log.warn('METRICS_TOKEN is not set: /metrics is open to anyone who can reach this server (set it, or block /metrics at the proxy)');
  }
  registerHealth(app, services.storage, { redis: services.redis, draining: () => services.lifecycle.draining });
  metadataRoute(app, config);
  protectedResourceMetadataRoutes(app, config.publicUrl);
  jwksRoute(app, services.signingKeys);

  await app.register(
    async (api) => {
      await api.register(async (keyed) => {
        requireApiKey(keyed, services.apiKeys, config.publicUrl);
        await clientRoutes(keyed, services.clients);
        await characterRoutes(keyed, services.characters);
        await apiKeyGenerationRoutes(keyed, { gateway: services.gateway, stored: services.storedResponses }, services.usage);
      });
      await api.register(async (oauth) => {
        registerFormBody(oauth);
        // SPEC §12: each client's recent token errors, heard where they are rendered.
        oauth.setErrorHandler(oauthJsonErrors(recordTokenErrors(services.clientErrors)));
        // TK-01: no token response, error or not, may be cached.
        oauth.addHook('onSend', async (_request, reply) => {
          reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        });
        const limits = tokenRateLimits(oauth, config.rateLimitToken, services.telemetry);
        for (const hook of limits.onRequest) oauth.addHook('onRequest', hook);
        const deps = {
          authenticate: clientAuthenticator(services.clients, limits),
          users: services.users,
          store: services.oauth,
          now: services.now,
          audit: services.audit,
          idTokens: services.idTokens,
          issuer: config.publicUrl,
          devices: services.devices,
          budgets: services.budgets,
          events: services.events,
        };
        await tokenRoute(oauth, deps);
        await revokeRoute(oauth, deps);
        await introspectRoute(oauth, deps);
        await deviceAuthorizationRoute(oauth, deps);
      });
      await api.register(async (registration) =>
        registerRoute(registration, { registration: services.registration, open: config.registration === 'open', perHour: config.rateLimitRegister, telemetry: services.telemetry }),
      );
      await api.register(async (resources) => {
        registerFormBody(resources);
        bearerGuard(resources, services.oauth, protectedResource(config.publicUrl, API_BASE));
        await userinfoRoute(resources);
        await oauthCharacterRoutes(resources, services.characters);
        await oauthGenerationRoutes(resources, { gateway: services.gateway, stored: services.storedResponses });
      });
    },
    { prefix: API_BASE },
  );

  // SPEC §12: the admin API, at the origin root, with an admin's API key (OpenAI-style errors, by its path).
  await app.register(async (admin) => {
    requireApiKey(admin, services.apiKeys, config.publicUrl);
    await adminApiRoutes(admin, { userAdmin: services.userAdmin, clientTrust: services.clientTrust, storage: services.storage });
  });

  await app.register(async (mcp) =>
    mcpRoutes(mcp, { store: services.oauth, characters: services.characters, gateway: services.gateway, publicUrl: config.publicUrl }),
  );

  // The pages, the authorization endpoint among them: HTML, page headers (UI-02, UI-03), and
  // one same-origin + CSRF guard for every form POST (UI-01), each run once per request.
  await app.register(async (pages) => {
    // Cookies are signed with a key every instance shares; a CSRF token is checked against a signed
    // cookie and bound (HMAC) to the session it was made for, so it works with no other session.
    // Registered here, not on the app: only pages have sessions, and every API request would otherwise
    // run the cookie plugin's two hooks (parse on request, write on send).
    await pages.register(cookie, { secret: cookieSigningKey });
    await pages.register(csrf, {
      sessionPlugin: '@fastify/cookie',
      cookieKey: pageSessions.csrfCookie,
      cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, signed: true, secure: pageSessions.secure },
      getToken: (request) => field(request.body, '_csrf'),
      getUserInfo: (request) => pageSessions.binding(request),
      csrfOpts: { hmacKey: csrfHmacKey },
    });
    registerFormBody(pages);
    pages.setErrorHandler(sendPageError);
    pages.addHook('onRequest', async (_request, reply) => {
      pageHeaders(reply);
    });
    protectFormPosts(pages, config.publicUrl);
    await assetRoutes(pages);
    const { users, clients, throttle, audit, telemetry } = services;
    await authorizePages(pages, { authorization: services.authorization, pageSessions, secondStep, operatorName: config.operatorName, characters: services.characters });
    await endSessionPages(pages, { pageSessions, clients: services.clients, idTokens: services.idTokens });
    await devicePages(pages, { pageSessions, decisions: services.deviceDecisions, operatorName: config.operatorName, characters: services.characters });
    await logoRoute(pages, services.logos);
    await accountsPages(pages, { config, users, clients, pageSessions, throttle, audit, telemetry, rateCounter: services.rateCounter, loginLimit, secondStep });
    await secondStepPages(pages, { ...stepDeps, secondStep });
    await passkeyPages(pages, { pageSessions, passkeys: services.passkeys, secondStep, users: services.users, audit, telemetry, appAsking: stepDeps.appAsking, rateLimitLogin: config.rateLimitLogin });
    await mailedLinkPages(pages, {
      pageSessions,
      passwordReset: services.passwordReset,
      emailVerification: services.emailVerification,
      users: services.users,
      telemetry,
      now: services.now,
      waitUntil: options.waitUntil ?? sleepUntil(services.now),
      // A network's share of reset requests: RATE_LIMIT_MAIL counts messages per account (SPEC §1); per address the
      // allowance is ten accounts' worth, so one user behind a shared address (a NAT, an office) cannot use up
      // everyone else's resets with a few requests.
      mailAllowance: (ip) => takeMailAllowance(services.rateCounter, config.rateLimitMail * FORGOT_ACCOUNTS_PER_ADDRESS, `mail:ip:${ip}`),
      resetAllowance: (ip) => takeResetAttempt(services.rateCounter, config.rateLimitLogin, ip),
    });
    pages.get('/', { schema: { hide: true } }, async (_request, reply) => reply.code(303).header('location', PATHS.dashboard).send());
    await pages.register(dashboardRoutes, services);
    await pages.register(adminRoutes, services);
  });

  app.addHook('onClose', async () => closeServices(services));

  return app;
}
