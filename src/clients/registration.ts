import type { RequestOrigin } from '../http/request-context.js';
import type { Kysely } from 'kysely';
import { formatScopes } from '../scopes.js';
import { PREFIX, randomId, randomSecret, sha256Hex } from '../security/secrets.js';
import type { Database } from '../storage/schema.js';
import type { AuditService } from '../audit/service.js';
import { readApplicationType } from './application-type.js';
import { ClientMetadataError, ownerlessClientRow, readClientMetadata } from './client-metadata.js';
import { targetUrlProblem } from '../security/target-url.js';
import { ClientsRepo } from './repo.js';
import type { BrandingDeps } from './service.js';

/** Shown where a registered client gives no client_name. */
const UNNAMED_APP = 'Unnamed app';

/**
 * Dynamic client registration (RFC 7591, SPEC §8): anyone may register a
 * client; it has no owner, is shown as unverified and always asks consent,
 * and goes after 30 days without a grant (the pruner).
 */
export class ClientRegistration {
  private readonly repo: ClientsRepo;

  constructor(
    db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly audit: AuditService | null = null,
    /** SPEC §12: the logo fetcher (null: none), and whether branding URIs may be http (CIMD_ALLOW_PRIVATE). */
    private readonly branding: BrandingDeps = { logos: null, allowHttp: false },
    /** WEBHOOKS_ALLOW_PRIVATE: where a backchannel_logout_uri may point (SPEC §13). */
    private readonly allowPrivateTargets = false,
  ) {
    this.repo = new ClientsRepo(db);
  }

  /** RFC 7591 §3.2.1: the client information response, the metadata as registered. */
  async register(input: unknown, origin?: RequestOrigin): Promise<Record<string, unknown>> {
    const metadata = readClientMetadata(input, this.branding.allowHttp);
    const applicationType = readApplicationType((input as Record<string, unknown>).application_type, metadata.redirectUris);
    if (metadata.backchannelLogoutUri !== null) {
      const problem = await targetUrlProblem(metadata.backchannelLogoutUri, this.allowPrivateTargets);
      if (problem) throw new ClientMetadataError('invalid_client_metadata', `backchannel_logout_uri ${problem}.`);
    }
    const isPublic = metadata.authMethod === 'none';
    const secret = isPublic ? null : randomSecret(PREFIX.clientSecret);
    const now = this.now();
    const registered = {
      client_name: metadata.name ?? UNNAMED_APP,
      application_type: applicationType,
      redirect_uris: metadata.redirectUris,
      grant_types: metadata.grantTypes,
      response_types: metadata.responseTypes,
      token_endpoint_auth_method: metadata.authMethod,
      scope: formatScopes(metadata.scopes),
      ...(metadata.idTokenSigningAlg ? { id_token_signed_response_alg: metadata.idTokenSigningAlg } : {}),
      ...(metadata.postLogoutRedirectUris.length ? { post_logout_redirect_uris: metadata.postLogoutRedirectUris } : {}),
      // OpenID Back-Channel Logout 1.0 §2.2: logout tokens always carry sid.
      ...(metadata.backchannelLogoutUri ? { backchannel_logout_uri: metadata.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
      ...metadata.informational,
    };
    const row = ownerlessClientRow(
      metadata,
      {
        id: randomId(PREFIX.clientId),
        name: registered.client_name,
        kind: 'registered',
        is_public: isPublic ? 1 : 0,
        secret_hash: secret === null ? null : sha256Hex(secret),
        metadata: JSON.stringify(registered),
        metadata_expires_at: null,
      },
      now,
    );
    await this.repo.insert(row);
    // A logo that cannot be had leaves the app without one; the registration still succeeds (SPEC §12).
    await this.branding.logos?.follow(row.id, undefined, row.logo_uri, origin?.log);
    await this.audit?.record({ type: 'client.registered', userId: null, clientId: row.id, detail: { name: row.name } }, origin);
    return {
      client_id: row.id,
      client_id_issued_at: Math.floor(now / 1000),
      // RFC 7591 §3.2.1: 0 means the secret never expires.
      ...(secret === null ? {} : { client_secret: secret, client_secret_expires_at: 0 }),
      ...registered,
    };
  }
}
