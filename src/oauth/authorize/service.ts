import type { UsersService } from '../../accounts/users-service.js';
import type { ClientsService, RegisteredClient } from '../../clients/service.js';
import type { GrantsService } from '../../consent/grants.js';
import type { ConsentRecorder } from '../../consent/record.js';
import type { Transactor } from '../../storage/group-commit.js';
import type { DocumentRequester, MetadataDocuments } from '../../clients/metadata-documents.js';
import type { BudgetsService } from '../../consent/budgets.js';
import type { ClientErrorLog } from '../../clients/recent-errors.js';
import type { BudgetLimit } from '../../consent/budget-rules.js';
import type { CharacterChoice } from '../../consent/character-choice.js';
import type { RequestOrigin } from '../../http/request-context.js';
import { EVERY_RESOURCE, formatAudience, parseAudience } from '../../audiences.js';
import { clientMayRequest, formatScopes, parseScopes } from '../../scopes.js';
import { redirectsErrors } from '../../clients/trust.js';
import { suspendedRefusal } from '../../clients/rules.js';
import { OAuthError } from '../protocol/errors.js';
import { OAuthParams } from '../protocol/params.js';
import type { OAuthStore } from '../store/store.js';
import { redirectUriMatches } from './check-redirect-uri.js';
import type { AuthorizeContext } from './context.js';
import type { AuthorizeOutcome } from './outcome.js';
import { responseLocation } from './respond.js';
import { validateAuthorizeRequest } from './steps.js';
import { formatAmr, isMultiFactor, type AuthMethod } from '../../accounts/auth-methods.js';

export interface AuthorizationDeps {
  clients: ClientsService;
  /** Client ID metadata documents; null when CIMD=off. */
  documents: MetadataDocuments | null;
  users: UsersService;
  grants: GrantsService;
  budgets: BudgetsService;
  /** Records an Allow (grant, budget) in the transaction that creates the code. */
  consents: ConsentRecorder;
  transact: Transactor;
  store: OAuthStore;
  issuer: string;
  now: () => number;
  /** The `sub` of an ID token Serika issued and that has not expired, else null (oidc/). */
  idTokenHintSubject: (token: string) => Promise<string | null>;
  /** Whether the user has a second factor set up (accounts/second-factors). */
  hasSecondFactor: (userId: string) => Promise<boolean>;
  /** The client's recent errors (SPEC §12): told of each error response, never waited for. */
  errors?: ClientErrorLog;
}

/** The signed-in session an authorization request arrives with. */
export interface AuthorizeSession {
  userId: string;
  authTime: number;
  amr: readonly AuthMethod[];
  /** The session's sid for ID tokens (SPEC §13); null for a session from before sids. */
  sid: string | null;
}

/** Added to the authorize URL a fresh sign-in returns to: the time (ms) the sign-in was asked for. */
export const FRESH_LOGIN_MARKER = 'fresh_login_after';

/**
 * The authorization endpoint's decisions (RFC 6749 §4.1.1, §4.1.2), free of
 * HTTP and HTML: the request is validated by the ordered steps, then the
 * outcome says whether to redirect, show an error, sign in or ask consent.
 */
export class AuthorizationService {
  constructor(private readonly deps: AuthorizationDeps) {}

  private redirect(redirectUri: string, params: Record<string, string | undefined>): AuthorizeOutcome {
    return { kind: 'redirect', location: responseLocation(redirectUri, params, this.deps.issuer) };
  }

  /**
   * An error response (RFC 6749 §4.1.2.1): redirected only to a client Serika trusts, else
   * shown as a page (RFC 9700 §4.11.2). After the user's own decision (afterDecision) the
   * page offers the response as a link: the authorization server "MAY inform the user and
   * rely on the user to make the correct decision".
   */
  private answerError(client: RegisteredClient, redirectUri: string, error: OAuthError, state: string | undefined, afterDecision = false): AuthorizeOutcome {
    this.heard(client.clientId, error, redirectUri);
    const location = responseLocation(redirectUri, { error: error.code, error_description: error.message, state }, this.deps.issuer);
    if (redirectsErrors(client)) return { kind: 'redirect', location };
    return { kind: 'error', error: new OAuthError(error.code, error.message, { status: 400 }), returnTo: afterDecision ? location : undefined };
  }

  /** SPEC §12: the error as the app or the user was told it, for the client's "Recent errors" (only its own fields). */
  private heard(clientId: string, error: OAuthError, redirectUri: string | undefined): void {
    this.deps.errors?.record({ clientId, endpoint: 'authorize', error: error.code, description: error.message, redirectUri: redirectUri ?? null });
  }

  private fail(ctx: AuthorizeContext, error: OAuthError): AuthorizeOutcome {
    if (ctx.redirectUri === undefined) {
      if (ctx.client) this.heard(ctx.client.clientId, error, ctx.sentRedirectUri);
      return { kind: 'error', error, sentRedirectUri: ctx.sentRedirectUri };
    }
    return this.answerError(ctx.client!, ctx.redirectUri, error, ctx.state);
  }

  /**
   * GET /oauth/authorize with the raw request URL and the signed-in user's
   * session, if any. OIDC Core §3.1.2.1: prompt=login and a max_age the
   * session is older than ask for a fresh sign-in, satisfied once the session
   * began after this request first asked (the `fresh_login_after` marker the
   * sign-in redirect adds).
   */
  async start(rawUrl: string, session: AuthorizeSession | null, requester: DocumentRequester): Promise<AuthorizeOutcome> {
    const { clients, users, grants, store } = this.deps;
    const ctx: AuthorizeContext = { params: OAuthParams.fromQuery(rawUrl), requester };
    try {
      await validateAuthorizeRequest(ctx, { clients, documents: this.deps.documents, issuer: this.deps.issuer });
    } catch (error) {
      if (error instanceof OAuthError) return this.fail(ctx, error);
      throw error;
    }
    const client = ctx.client!;
    const redirectUri = ctx.redirectUri!;
    const scopes = ctx.scopes!;
    const prompt = ctx.prompt ?? new Set();

    let hintSubject: string | null = null;
    if (ctx.idTokenHint !== undefined) {
      hintSubject = await this.deps.idTokenHintSubject(ctx.idTokenHint);
      if (hintSubject === null) return this.fail(ctx, new OAuthError('invalid_request', 'id_token_hint is not a valid ID token issued by Serika.'));
    }

    const loginAfter = Number(ctx.params.get(FRESH_LOGIN_MARKER) ?? NaN);
    const now = this.deps.now();
    const wantsFresh = prompt.has('login') || (ctx.maxAge !== undefined && session !== null && now - session.authTime > ctx.maxAge * 1000);
    const freshEnough = session !== null && Number.isFinite(loginAfter) && session.authTime >= loginAfter;
    if (session === null || (wantsFresh && !freshEnough)) {
      if (prompt.has('none')) return this.fail(ctx, new OAuthError('login_required', 'The user must sign in.'));
      // Marked fresh whenever one was asked for, with a session or not: the sign-in that follows is that fresh
      // sign-in, and without the marker the request coming back would ask for another.
      return { kind: 'login', client, loginHint: ctx.loginHint, fresh: wantsFresh, freshLoginAfter: now };
    }
    if (hintSubject !== null && hintSubject !== session.userId && prompt.has('none')) {
      return this.fail(ctx, new OAuthError('login_required', 'The signed-in user is not the one id_token_hint names.'));
    }
    const userId = session.userId;
    // SPEC §11: acr_values with the multi-factor policy and a one-factor session: the second step, when the
    // user has a factor to take it with (OIDC Core §3.1.2.6 unmet_authentication_requirements when not).
    if (ctx.multiFactor && !isMultiFactor(session.amr)) {
      if (!(await this.deps.hasSecondFactor(userId))) {
        return this.fail(ctx, new OAuthError('unmet_authentication_requirements', 'The app asked for two-factor authentication, and this account has no second factor set up.'));
      }
      if (prompt.has('none')) return this.fail(ctx, new OAuthError('interaction_required', 'The app asked for two-factor authentication: the user must enter a second factor.'));
      return { kind: 'second_factor', userId };
    }
    const amr = formatAmr(session.amr);
    const audience = ctx.audience ?? EVERY_RESOURCE;
    const codeFields = { clientId: client.clientId, userId, scopes, redirectUri, codeChallenge: ctx.codeChallenge!, nonce: ctx.nonce ?? null, authTime: session.authTime, amr, sid: session.sid, audience };

    // RFC 8252 §8.6: public clients are always asked; so are ownerless ones (SPEC §8); prompt=consent always asks.
    // SPEC §10, §15: an app asking for a spending limit or for characters always shows the page, where the user sets them.
    const mayReuseGrant = !client.public && client.ownerId !== null && !prompt.has('consent') && ctx.budget === undefined && ctx.characters === undefined;
    if (mayReuseGrant && (await grants.covers(userId, client.clientId, scopes, audience))) {
      const code = await store.codes.create(codeFields);
      return this.redirect(redirectUri, { code, state: ctx.state });
    }
    if (prompt.has('none')) return this.fail(ctx, new OAuthError('consent_required', 'The user has not yet allowed this app.'));

    const requestId = await store.pending.create({
      user_id: userId,
      client_id: client.clientId,
      redirect_uri: redirectUri,
      scopes: formatScopes(scopes),
      state: ctx.state ?? null,
      code_challenge: ctx.codeChallenge!,
      nonce: ctx.nonce ?? null,
      auth_time: session.authTime,
      amr,
      sid: session.sid,
      resources: formatAudience(audience),
    });
    const owner = client.ownerId === null ? undefined : await users.findById(client.ownerId);
    const [currentBudget, grant] = await Promise.all([this.deps.budgets.get(userId, client.clientId), grants.find(userId, client.clientId)]);
    return {
      kind: 'consent',
      client,
      ownerName: client.ownerId === null ? null : (owner?.username ?? 'unknown'),
      allowedBy: await grants.countForClient(client.clientId),
      scopes,
      audience,
      redirectUri,
      requestId,
      requestedBudget: ctx.budget ?? null,
      currentBudget,
      requestedCharacters: ctx.characters ?? null,
      currentCharacters: grant?.characters,
    };
  }

  /**
   * The consent decision, taken once (the pending request is deleted as it is
   * read). The client is read again: it may have lost scopes or redirect URIs,
   * or vanished, while the page was open.
   */
  /**
   * `budget`: the spending limit the user left on the page (null: no limit);
   * undefined keeps what the grant had (SPEC §10: a budget survives re-consent).
   * `characters`: the characters the user chose (SPEC §15; null: all), kept
   * only when the request has the characters scope; undefined keeps the grant's.
   * `origin`: the decision's request, for the audit event of a changed limit.
   */
  async decide(
    requestId: string | undefined,
    userId: string,
    decision: 'allow' | 'deny',
    chosen: { budget?: BudgetLimit | null; characters?: CharacterChoice } = {},
    origin?: RequestOrigin,
  ): Promise<AuthorizeOutcome> {
    const { budget } = chosen;
    const { clients, store } = this.deps;
    const pending = requestId ? await store.pending.take(requestId, userId) : undefined;
    if (!pending) {
      return { kind: 'error', error: new OAuthError('invalid_request', 'This authorization request has expired or was already answered. Go back to the app and start again.') };
    }
    const client: RegisteredClient | undefined = await clients.findRegistered(pending.client_id);
    // RFC 6749 §4.1.2.1: never redirect to a URI the client no longer has registered.
    if (!client || !redirectUriMatches(client.redirectUris, pending.redirect_uri)) {
      return { kind: 'error', error: new OAuthError('invalid_request', 'The app changed its registration while this page was open. Go back to the app and start again.') };
    }
    // SPEC §12: suspended while the page was open: a page naming it, no code and no redirect.
    const suspended = suspendedRefusal(client);
    if (suspended !== null) return { kind: 'error', error: new OAuthError('unauthorized_client', suspended, { status: 403 }) };
    const state = pending.state ?? undefined;
    if (decision === 'deny') {
      return this.answerError(client, pending.redirect_uri, new OAuthError('access_denied', 'The user denied the request.'), state, true);
    }
    const scopes = parseScopes(pending.scopes);
    if (!scopes.every((s) => clientMayRequest(client.scopes, s))) {
      return this.answerError(client, pending.redirect_uri, new OAuthError('invalid_scope', 'The app no longer has these scopes.'), state, true);
    }
    const audience = parseAudience(pending.resources);
    const characters = scopes.includes('characters') ? chosen.characters : undefined;
    // The consent and the code it issues are stored together or not at all.
    const code = await this.deps.transact(async (trx) => {
      await this.deps.consents.record(trx, { userId, clientId: client.clientId, scopes, audience, budget, characters }, origin);
      const subject = { audience, clientId: client.clientId, userId, scopes, redirectUri: pending.redirect_uri, codeChallenge: pending.code_challenge, nonce: pending.nonce, authTime: pending.auth_time, amr: pending.amr, sid: pending.sid };
      return store.codes.create(subject, trx);
    });
    return this.redirect(pending.redirect_uri, { code, state });
  }
}
