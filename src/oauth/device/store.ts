import type { Kysely } from 'kysely';
import { formatAudience, type Audience } from '../../audiences.js';
import { randomId, randomSecret, sha256Hex } from '../../security/secrets.js';
import type { Database, OAuthDeviceCodesTable } from '../../storage/schema.js';
import { formatScopes } from '../../scopes.js';
import type { OAuthStore } from '../store/store.js';
import type { IssuedTokens, TokenSubject } from '../store/token-pair.js';
import { credentialKey, mint } from '../store/credentials.js';
import { newUserCode } from './user-codes.js';
import type { Telemetry } from '../../http/telemetry.js';
import type { BudgetLimit } from '../../consent/budget-rules.js';

export type DeviceCodeRow = OAuthDeviceCodesTable;

/** RFC 8628 §3.2: the polling interval Serika asks for, and what slow_down adds (§3.5). */
const POLL_INTERVAL_S = 5;
const SLOW_DOWN_S = 5;

/** How long a confirmation page's one-time id may decide (SPEC §9: the decision comes from the page it was shown on). */
const CONFIRMATION_TTL_MS = 10 * 60_000;
/** Confirmation pages of one code a user may have open at once; opening another retires the oldest. */
const OPEN_CONFIRMATIONS = 5;
const CONFIRMATION_PREFIX = 'serika_dcf_';

export interface NewDeviceCode {
  deviceCode: string;
  /** Eight letters, as stored (shown in two groups of four, such as WDJB-MJHT). */
  userCode: string;
  expiresIn: number;
  interval: number;
}

/** What a poll finds (RFC 8628 §3.5), decided atomically against racing polls. */
export type PollOutcome =
  | { kind: 'unknown' }
  | { kind: 'other_client' }
  | { kind: 'consumed' }
  | { kind: 'expired' }
  | { kind: 'slow_down'; interval: number }
  | { kind: 'pending' }
  | { kind: 'denied' }
  | { kind: 'approved'; row: DeviceCodeRow };

/**
 * Device codes (SPEC §9): the device code and the user code are stored only
 * as SHA-256 hashes; a user code is unique among stored codes (an expired
 * one is removed before its letters are handed out again).
 */
export class DeviceCodes {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly oauth: OAuthStore,
    private readonly ttlSeconds: number,
    private readonly now: () => number = Date.now,
    private readonly telemetry: Telemetry | null = null,
  ) {}

  async create(request: { clientId: string; scopes: string[]; audience: Audience; ip: string | null; budget?: BudgetLimit | null; characters?: readonly string[] | null }): Promise<NewDeviceCode> {
    const device = mint('device');
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      const userCode = newUserCode();
      const userCodeHash = sha256Hex(userCode);
      await this.db.deleteFrom('oauth_device_codes').where('user_code_hash', '=', userCodeHash).where('expires_at', '<=', now).execute();
      try {
        await this.db
          .insertInto('oauth_device_codes')
          .values({
            device_code_hash: device.hash,
            user_code_hash: userCodeHash,
            client_id: request.clientId,
            scopes: formatScopes(request.scopes),
            resources: formatAudience(request.audience),
            status: 'pending',
            user_id: null,
            auth_time: null,
            amr: null,
            sid: null,
            interval_s: POLL_INTERVAL_S,
            last_polled_at: null,
            request_ip: request.ip,
            budget: request.budget ? JSON.stringify(request.budget) : null,
            characters: request.characters ? JSON.stringify(request.characters) : null,
            created_at: now,
            expires_at: now + this.ttlSeconds * 1000,
          })
          .execute();
        return { deviceCode: device.value, userCode, expiresIn: this.ttlSeconds, interval: POLL_INTERVAL_S };
      } catch (error) {
        // A live code already has these letters (1 in 2.56e10 per live code): draw again.
        if (attempt >= 4 || !(await this.userCodeTaken(userCodeHash))) throw error;
      }
    }
  }

  private async userCodeTaken(hash: string): Promise<boolean> {
    return (await this.db.selectFrom('oauth_device_codes').select('device_code_hash').where('user_code_hash', '=', hash).executeTakeFirst()) !== undefined;
  }

  /** An unexpired code, decided or not, by the letters the user typed (normalized): the caller reads its status. */
  async findLive(userCode: string): Promise<DeviceCodeRow | undefined> {
    return this.db
      .selectFrom('oauth_device_codes')
      .selectAll()
      .where('user_code_hash', '=', sha256Hex(userCode))
      .where('expires_at', '>', this.now())
      .executeTakeFirst();
  }

  /**
   * A one-time id for the confirmation page shown to `userId` for this code
   * (SPEC §9): the decision must present it. 256 CSPRNG bits, stored as
   * SHA-256, good for CONFIRMATION_TTL_MS and never past the code's expiry.
   */
  async confirmation(row: DeviceCodeRow, userId: string): Promise<string> {
    const now = this.now();
    const id = randomSecret(CONFIRMATION_PREFIX);
    // A few open pages per user and code (tabs, reloads), never an unbounded pile: a right code costs no try.
    await this.db
      .deleteFrom('oauth_device_confirmations')
      .where('device_code_hash', '=', row.device_code_hash)
      .where('user_id', '=', userId)
      .where('id_hash', 'not in', (eb) =>
        eb
          .selectFrom('oauth_device_confirmations')
          .select('id_hash')
          .where('device_code_hash', '=', row.device_code_hash)
          .where('user_id', '=', userId)
          .orderBy('created_at', 'desc')
          .orderBy('id_hash')
          .limit(OPEN_CONFIRMATIONS - 1),
      )
      .execute();
    await this.db
      .insertInto('oauth_device_confirmations')
      .values({ id_hash: sha256Hex(id), device_code_hash: row.device_code_hash, user_id: userId, created_at: now, expires_at: Math.min(row.expires_at, now + CONFIRMATION_TTL_MS) })
      .execute();
    return id;
  }

  /**
   * The user's decision, taken once, in the caller's transaction: the page's
   * one-time id is used up (it must be this user's, for this code, unexpired),
   * then the code, still pending, is decided. A code already decided (or
   * expired) is not changed: 'decided_before' says so.
   */
  async decide(
    trx: Kysely<Database>,
    decision: { confirmation: string; deviceCodeHash: string; userId: string; authTime: number; amr: string; sid: string | null; status: 'approved' | 'denied' },
  ): Promise<DeviceCodeRow | 'unconfirmed' | 'decided_before'> {
    const now = this.now();
    const confirmed = await trx
      .deleteFrom('oauth_device_confirmations')
      .where('id_hash', '=', sha256Hex(decision.confirmation))
      .where('user_id', '=', decision.userId)
      .where('device_code_hash', '=', decision.deviceCodeHash)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (Number(confirmed.numDeletedRows) !== 1) return 'unconfirmed';
    const row = await trx
      .updateTable('oauth_device_codes')
      .set({ status: decision.status, user_id: decision.userId, auth_time: decision.authTime, amr: decision.amr, sid: decision.sid })
      .where('device_code_hash', '=', decision.deviceCodeHash)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .returningAll()
      .executeTakeFirst();
    if (!row) return 'decided_before';
    // The other pages shown for this code can decide nothing now.
    await trx.deleteFrom('oauth_device_confirmations').where('device_code_hash', '=', decision.deviceCodeHash).execute();
    return row;
  }

  /**
   * One poll of the token endpoint. The poll is recorded by a conditional
   * UPDATE that succeeds only when the interval has passed since the last
   * one, so of racing polls one goes on and the rest are told slow_down —
   * and the interval grows by 5 s for every later poll (RFC 8628 §3.5).
   */
  async poll(deviceCode: string, clientId: string): Promise<PollOutcome> {
    const hash = credentialKey(deviceCode);
    const row = await this.db.selectFrom('oauth_device_codes').selectAll().where('device_code_hash', '=', hash).executeTakeFirst();
    if (!row) return { kind: 'unknown' };
    if (row.client_id !== clientId) return { kind: 'other_client' };
    if (row.status === 'consumed') return { kind: 'consumed' };
    const now = this.now();
    if (row.expires_at <= now) return { kind: 'expired' };
    const polled = await this.db
      .updateTable('oauth_device_codes')
      .set({ last_polled_at: now })
      .where('device_code_hash', '=', hash)
      // Written as last + interval <= now, so PostgreSQL reads the parameter as a bigint.
      .where((eb) => eb.or([eb('last_polled_at', 'is', null), eb(eb('last_polled_at', '+', eb('interval_s', '*', 1000)), '<=', now)]))
      .executeTakeFirst();
    if (Number(polled.numUpdatedRows) === 0) {
      const slowed = await this.db
        .updateTable('oauth_device_codes')
        .set((eb) => ({ interval_s: eb('interval_s', '+', SLOW_DOWN_S), last_polled_at: now }))
        .where('device_code_hash', '=', hash)
        .returning('interval_s')
        .executeTakeFirst();
      return { kind: 'slow_down', interval: Number(slowed?.interval_s ?? row.interval_s + SLOW_DOWN_S) };
    }
    if (row.status === 'pending') return { kind: 'pending' };
    if (row.status === 'denied') return { kind: 'denied' };
    return { kind: 'approved', row };
  }

  /** Tokens for an approved code, exactly once: the consuming UPDATE and the tokens share one transaction. */
  async redeem(row: DeviceCodeRow, subject: TokenSubject): Promise<IssuedTokens | null> {
    const issued = await this.db.transaction().execute(async (trx) => {
      const consumed = await trx
        .updateTable('oauth_device_codes')
        .set({ status: 'consumed' })
        .where('device_code_hash', '=', row.device_code_hash)
        .where('status', '=', 'approved')
        .executeTakeFirst();
      if (Number(consumed.numUpdatedRows) !== 1) return null;
      return this.oauth.issuance.issue(trx, subject, randomId('fam_'), null);
    });
    if (issued) this.telemetry?.tokensIssued('device_code');
    return issued;
  }

  /** Codes a day past expiry (the day keeps late polls answered expired_token). */
  async prune(trx: Kysely<Database>, now: number): Promise<number> {
    return Number((await trx.deleteFrom('oauth_device_codes').where('expires_at', '<', now - 86_400_000).executeTakeFirst()).numDeletedRows);
  }
}
