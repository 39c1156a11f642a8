import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import { KeyEncryptionError, type KeyEncryption } from '../security/key-encryption.js';
import { SIGNING_KEYS_COLUMN, sealContext } from '../security/sealed-columns.js';
import type { Database, SigningKeysTable } from '../storage/schema.js';
import { SIGNING_ALGS, type SigningAlg } from './signing-algs.js';

/** Clients cache a JWKS for about five minutes: a new key is published this long before it signs. */
const PUBLISH_BEFORE_SIGN_MS = 10 * 60 * 1000;
/** How long a process trusts its copy of the key table (a rotation through the CLI is seen within this). */
const CACHE_MS = 30 * 1000;

type KeyState = 'next' | 'active' | 'retired' | 'expired';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  publicJwk: JWK;
  createdAt: number;
  activatesAt: number;
  /** When a newer key of the same alg took over signing; null while none has. */
  retiredAt: number | null;
  state: KeyState;
}

class SigningKeyError extends Error {}

/** Of one alg's keys, the one activated last among those whose activation has come. */
function signingRow(rows: SigningKeysTable[], alg: SigningAlg, now: number): SigningKeysTable | undefined {
  let active: SigningKeysTable | undefined;
  for (const row of rows) {
    if (row.alg === alg && Number(row.activates_at) <= now && (!active || Number(row.activates_at) > Number(active.activates_at))) active = row;
  }
  return active;
}

async function generate(alg: SigningAlg, now: number, activatesAt: number, encryption: KeyEncryption): Promise<SigningKeysTable> {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : alg === 'RS256' ? { modulusLength: 2048, extractable: true } : { extractable: true };
  const { publicKey, privateKey } = await generateKeyPair(alg, options);
  const publicJwk = await exportJWK(publicKey);
  // RFC 7638 thumbprint as kid: stable, derived from the key itself.
  const kid = await calculateJwkThumbprint(publicJwk, 'sha256');
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    alg,
    public_jwk: JSON.stringify({ ...publicJwk, kid, alg, use: 'sig' }),
    // Sealed under KEY_ENCRYPTION_SECRETS when set (SPEC §6): a backup alone does not give away the key.
    private_jwk: encryption.seal(JSON.stringify({ ...privateJwk, kid, alg }), sealContext(SIGNING_KEYS_COLUMN, kid)),
    created_at: now,
    activates_at: activatesAt,
  };
}

/**
 * ID token signing keys, kept in the database and shared by every instance.
 * Per alg: the signing key is the newest one whose activation time has come;
 * an older key retires then, and stays published until every ID token it
 * signed has expired (retiredAt + ID_TOKEN_TTL).
 */
export class SigningKeys {
  private cached: { at: number; rows: SigningKeysTable[] } | null = null;
  private readonly imported = new Map<string, CryptoKey>();
  private readonly publicJwks = new Map<string, JWK>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly idTokenTtlMs: number,
    private readonly encryption: KeyEncryption,
    private readonly now: () => number = Date.now,
  ) {}

  /** On first start (or when none can sign yet): one key per alg that signs now. */
  async ensure(): Promise<void> {
    const rows = await this.rows(true);
    const now = this.now();
    for (const alg of SIGNING_ALGS) {
      if (!rows.some((r) => r.alg === alg && Number(r.activates_at) <= now)) await this.db.insertInto('signing_keys').values(await generate(alg, now, now, this.encryption)).execute();
    }
    this.cached = null;
    // A corrupt row must stop the start, not fail the first sign-in later.
    for (const row of await this.rows(true)) await this.privateKey(row);
  }

  /** `serika signing-keys rotate`: a new key per alg, published now, signing after PUBLISH_BEFORE_SIGN_MS. */
  async rotate(): Promise<SigningKey[]> {
    const now = this.now();
    const added: SigningKeysTable[] = [];
    for (const alg of SIGNING_ALGS) added.push(await generate(alg, now, now + PUBLISH_BEFORE_SIGN_MS, this.encryption));
    await this.db.insertInto('signing_keys').values(added).execute();
    this.cached = null;
    const all = await this.list();
    return all.filter((k) => added.some((a) => a.kid === k.kid));
  }

  /** Every key with its state, newest first, read afresh from the database. */
  async list(): Promise<SigningKey[]> {
    return this.states(await this.rows(true));
  }

  private states(rows: SigningKeysTable[]): SigningKey[] {
    const now = this.now();
    return rows
      .map((row) => {
        const newer = rows.filter((r) => r.alg === row.alg && r.activates_at > row.activates_at && r.activates_at <= now);
        const retiredAt = newer.length ? Math.min(...newer.map((r) => Number(r.activates_at))) : null;
        const state: KeyState =
          Number(row.activates_at) > now ? 'next' : retiredAt === null ? 'active' : now >= retiredAt + this.idTokenTtlMs ? 'expired' : 'retired';
        return { kid: row.kid, alg: row.alg as SigningAlg, publicJwk: this.publicJwk(row), createdAt: Number(row.created_at), activatesAt: Number(row.activates_at), retiredAt, state };
      })
      .sort((a, b) => b.createdAt - a.createdAt || b.activatesAt - a.activatesAt);
  }

  /** The JWKS (RFC 7517): every key that is next, active or retired but not yet expired. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const keys = await this.listCached();
    return { keys: keys.filter((k) => k.state !== 'expired').map((k) => k.publicJwk) };
  }

  /** The key that signs for this alg now: the one of that alg activated last (every ID token asks, so no state list is built). */
  async signingKey(alg: SigningAlg): Promise<{ kid: string; key: CryptoKey }> {
    const active = signingRow(await this.rows(false), alg, this.now());
    if (!active) throw new SigningKeyError(`No active ${alg} signing key: run serika signing-keys rotate`);
    return { kid: active.kid, key: await this.privateKey(active) };
  }

  /** The key of each alg that signs now, with its creation time (the metrics' key age). */
  async signing(): Promise<Array<{ alg: SigningAlg; createdAt: number }>> {
    const rows = await this.rows(false);
    const now = this.now();
    return SIGNING_ALGS.flatMap((alg) => {
      const row = signingRow(rows, alg, now);
      return row ? [{ alg, createdAt: Number(row.created_at) }] : [];
    });
  }

  private publicJwk(row: SigningKeysTable): JWK {
    let jwk = this.publicJwks.get(row.kid);
    if (!jwk) this.publicJwks.set(row.kid, (jwk = JSON.parse(row.public_jwk) as JWK));
    return jwk;
  }

  private async listCached(): Promise<SigningKey[]> {
    return this.states(await this.rows(false));
  }

  private async rows(fresh: boolean): Promise<SigningKeysTable[]> {
    const now = this.now();
    if (!fresh && this.cached && now - this.cached.at < CACHE_MS && now >= this.cached.at) return this.cached.rows;
    const rows = await this.db.selectFrom('signing_keys').selectAll().execute();
    this.cached = { at: now, rows };
    return rows;
  }

  private async privateKey(row: SigningKeysTable): Promise<CryptoKey> {
    const known = this.imported.get(row.kid);
    if (known) return known;
    try {
      const jwk = JSON.parse(this.encryption.open(row.private_jwk, sealContext(SIGNING_KEYS_COLUMN, row.kid))) as JWK;
      const key = (await importJWK(jwk, row.alg)) as CryptoKey;
      this.imported.set(row.kid, key);
      return key;
    } catch (error) {
      if (error instanceof KeyEncryptionError) throw new SigningKeyError(error.message);
      throw new SigningKeyError(`The signing key ${row.kid} (${row.alg}) in the signing_keys table is corrupt: ${(error as Error).message}`);
    }
  }
}
