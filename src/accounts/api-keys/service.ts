import type { RequestOrigin } from '../../http/request-context.js';
import type { Kysely } from 'kysely';
import { AppError } from '../../errors.js';
import { PREFIX, equalKnownLength, randomId, randomSecret, sha256Hex } from '../../security/secrets.js';
import type { Database, Role } from '../../storage/schema.js';
import { ApiKeysRepo, type ApiKeyRow } from './repo.js';
import type { AuditService } from '../../audit/service.js';
import { nameProblem } from '../../visible-text.js';

/** Characters of the random part kept as the key's public, listable prefix. */
const VISIBLE_CHARS = 8;
/** `last used` is written at most once a minute (SPEC §2). */
export const LAST_USED_INTERVAL_MS = 60_000;

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** The whole key: returned once, at creation, and never stored. */
  key: string;
}

export interface ApiKeyPrincipal {
  userId: string;
  username: string;
  apiKeyId: string;
  /** SPEC §12: an admin's key reaches the admin API. */
  role: Role;
}

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

function keyPrefix(key: string): string {
  return key.slice(0, PREFIX.apiKey.length + VISIBLE_CHARS);
}

export class ApiKeysService {
  private readonly repo: ApiKeysRepo;

  constructor(
    db: Kysely<Database>,
    private readonly now: () => number = Date.now,
    private readonly audit: AuditService | null = null,
  ) {
    this.repo = new ApiKeysRepo(db);
  }

  async create(userId: string, name: string | undefined, origin?: RequestOrigin): Promise<CreatedApiKey> {
    const label = (name ?? '').trim() || 'default';
    if ([...label].length > 100 || nameProblem(label)) {
      throw new AppError('invalid_value', 'Key names are 1 to 100 printable characters.', 'name');
    }
    const key = randomSecret(PREFIX.apiKey);
    const row: ApiKeyRow = {
      id: randomId('key_'),
      user_id: userId,
      name: label,
      prefix: keyPrefix(key),
      key_hash: sha256Hex(key),
      created_at: this.now(),
      last_used_at: null,
      revoked_at: null,
    };
    await this.repo.insert(row);
    await this.audit?.record({ type: 'api_key.created', userId, detail: { keyId: row.id, prefix: row.prefix, name: label } }, origin);
    return { ...toInfo(row), key };
  }

  async list(userId: string): Promise<ApiKeyInfo[]> {
    return (await this.repo.listForUser(userId)).map(toInfo);
  }

  /** Accepts the listed prefix with or without the `sk-serika-` start. */
  async revoke(userId: string, prefix: string, origin?: RequestOrigin): Promise<number> {
    const full = prefix.startsWith(PREFIX.apiKey) ? prefix : PREFIX.apiKey + prefix;
    const count = await this.repo.revoke(userId, 'prefix', full, this.now());
    if (count > 0) await this.audit?.record({ type: 'api_key.revoked', userId, detail: { prefix: full } }, origin);
    return count;
  }

  /** Revokes one of the user's keys by its ID (the dashboard's button); false when it is not theirs or already revoked. */
  async revokeById(userId: string, keyId: string, origin?: RequestOrigin): Promise<boolean> {
    const revoked = (await this.repo.revoke(userId, 'id', keyId, this.now())) > 0;
    if (revoked) await this.audit?.record({ type: 'api_key.revoked', userId, detail: { keyId } }, origin);
    return revoked;
  }

  /** Resolves a presented key to its owner, or null for anything that is not a live key. */
  async authenticate(presented: string): Promise<ApiKeyPrincipal | null> {
    if (!presented.startsWith(PREFIX.apiKey) || presented.length > 200) return null;
    const hash = sha256Hex(presented);
    const found = await this.repo.findActiveByHash(hash);
    if (!found || !equalKnownLength(found.keyHash, hash)) return null;
    const now = this.now();
    if (found.lastUsedAt === null || now - found.lastUsedAt >= LAST_USED_INTERVAL_MS) {
      await this.repo.touch(found.keyId, now, LAST_USED_INTERVAL_MS);
    }
    return { userId: found.userId, username: found.username, apiKeyId: found.keyId, role: found.role };
  }
}
