import type { Kysely } from 'kysely';
import type { AuditService } from '../../audit/service.js';
import type { RequestOrigin } from '../../http/request-context.js';
import type { KeyEncryption } from '../../security/key-encryption.js';
import { sealContext, TOTP_SECRETS_COLUMN } from '../../security/sealed-columns.js';
import type { Database } from '../../storage/schema.js';
import { newRecoveryCodes, recoveryCodeHash } from './recovery-codes.js';
import { newTotpSecret, totpStep } from './totp.js';

/**
 * The second factors a user has: an authenticator app ("totp", with its recovery codes), and
 * passkeys (passkeys.ts). The sign-in's second step (web/second-step-pages.ts) offers every
 * factor the list names; a user with either counts as having a second factor (MFA=required,
 * acr_values).
 */
export type SecondFactorKind = 'totp' | 'passkey';

/** How a second step was passed: the authenticator app's code, or a recovery code (both RFC 8176 "otp"). */
export type SecondStepMethod = 'totp' | 'recovery_code';

/** How long an unconfirmed set-up secret is shown again; after that the page makes a new one. */
const SETUP_TTL_MS = 10 * 60 * 1000;

/**
 * TOTP factors and recovery codes (SPEC §11): the secret sealed with
 * KEY_ENCRYPTION_SECRETS, a code accepted once (the last accepted time step is
 * kept, and moved forward only by a write that sees the older one), recovery
 * codes hashed and used once. Throttling is the caller's (login-throttle).
 */
export class SecondFactors {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly encryption: KeyEncryption,
    private readonly audit: AuditService,
    private readonly now: () => number = Date.now,
  ) {}

  /** The factors a second step may use (a confirmed app only). */
  async factorsOf(userId: string): Promise<SecondFactorKind[]> {
    const [totp, passkey] = await Promise.all([
      this.db.selectFrom('totp_factors').select('user_id').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst(),
      this.db.selectFrom('webauthn_credentials').select('id').where('user_id', '=', userId).limit(1).executeTakeFirst(),
    ]);
    return [...(totp ? (['totp'] as const) : []), ...(passkey ? (['passkey'] as const) : [])];
  }

  /** How many recovery codes are left unused. */
  async recoveryCodesLeft(userId: string): Promise<number> {
    const row = await this.db.selectFrom('recovery_codes').select((eb) => eb.fn.countAll<number | string>().as('n')).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /**
   * The secret being set up: an unconfirmed one made in the last SETUP_TTL_MS is shown again (a
   * reload keeps what the app scanned), else a new one. An older unconfirmed one is replaced, so a
   * secret someone else saw on an abandoned set-up page is not the one the user later confirms
   * (security review of issue 34). A confirmed factor is never replaced here.
   */
  async setupSecret(userId: string): Promise<string | null> {
    const row = await this.db.selectFrom('totp_factors').select(['secret', 'confirmed_at', 'created_at']).where('user_id', '=', userId).executeTakeFirst();
    if (row && row.confirmed_at !== null) return null;
    if (row && this.now() - Number(row.created_at) < SETUP_TTL_MS) return this.open(userId, row.secret);
    if (row) {
      // Conditional on the row read, so of two pages opened at once one replaces it and both show that one.
      await this.db
        .updateTable('totp_factors')
        .set({ secret: this.seal(userId, newTotpSecret()), created_at: this.now() })
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is', null)
        .where('created_at', '=', row.created_at)
        .execute();
      return this.setupSecret(userId);
    }
    const secret = newTotpSecret();
    await this.db
      .insertInto('totp_factors')
      .values({ user_id: userId, secret: this.seal(userId, secret), confirmed_at: null, last_used_step: null, created_at: this.now() })
      .onConflict((oc) => oc.column('user_id').doNothing())
      .execute();
    return this.setupSecret(userId);
  }

  /**
   * Confirms the factor being set up with a code from the app; returns the ten recovery
   * codes (shown once; only their hashes are kept), or null for a wrong code.
   */
  async confirmTotp(userId: string, code: string, origin?: RequestOrigin): Promise<string[] | null> {
    const row = await this.db.selectFrom('totp_factors').select(['secret', 'confirmed_at']).where('user_id', '=', userId).executeTakeFirst();
    if (!row || row.confirmed_at !== null) return null;
    const step = totpStep(this.open(userId, row.secret), code.trim(), this.now());
    if (step === null) return null;
    const codes = newRecoveryCodes();
    const now = this.now();
    const confirmed = await this.db.transaction().execute(async (trx) => {
      const updated = await trx.updateTable('totp_factors').set({ confirmed_at: now, last_used_step: step }).where('user_id', '=', userId).where('confirmed_at', 'is', null).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      await trx
        .insertInto('recovery_codes')
        .values(codes.map((c) => ({ code_hash: recoveryCodeHash(userId, c)!, user_id: userId, created_at: now, used_at: null })))
        .execute();
      return true;
    });
    if (!confirmed) return null;
    await this.audit.record({ type: 'second_factor.added', userId, detail: { factor: 'totp' } }, origin);
    return codes;
  }

  /**
   * A second step's code: the app's current code (each time step once), else an unused
   * recovery code (used up now). Returns how it passed, or null.
   */
  async verifyCode(userId: string, code: string, origin?: RequestOrigin): Promise<SecondStepMethod | null> {
    const typed = code.trim();
    if (/^\d{6}$/.test(typed)) return (await this.useTotp(userId, typed)) ? 'totp' : null;
    const hash = recoveryCodeHash(userId, typed);
    if (hash === null) return null;
    const used = await this.db.updateTable('recovery_codes').set({ used_at: this.now() }).where('code_hash', '=', hash).where('user_id', '=', userId).where('used_at', 'is', null).executeTakeFirst();
    if (Number(used.numUpdatedRows) === 0) return null;
    await this.audit.record({ type: 'recovery_code.used', userId, detail: { left: await this.recoveryCodesLeft(userId) } }, origin);
    return 'recovery_code';
  }

  private async useTotp(userId: string, code: string): Promise<boolean> {
    const row = await this.db.selectFrom('totp_factors').select(['secret', 'last_used_step']).where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst();
    if (!row) return false;
    const step = totpStep(this.open(userId, row.secret), code, this.now());
    if (step === null || (row.last_used_step !== null && step <= row.last_used_step)) return false;
    // RFC 6238 §5.2: the step moves forward only from what was read, so two requests with one code cannot both pass.
    const moved = await this.db
      .updateTable('totp_factors')
      .set({ last_used_step: step })
      .where('user_id', '=', userId)
      .where((eb) => (row.last_used_step === null ? eb('last_used_step', 'is', null) : eb('last_used_step', '=', row.last_used_step)))
      .executeTakeFirst();
    return Number(moved.numUpdatedRows) === 1;
  }

  /** Turns the authenticator app off: the secret and every recovery code go. */
  async removeTotp(userId: string, origin?: RequestOrigin): Promise<void> {
    const removed = await this.db.transaction().execute(async (trx) => {
      const deleted = await trx.deleteFrom('totp_factors').where('user_id', '=', userId).where('confirmed_at', 'is not', null).executeTakeFirst();
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
      return Number(deleted.numDeletedRows) > 0;
    });
    if (removed) await this.audit.record({ type: 'second_factor.removed', userId, detail: { factor: 'totp' } }, origin);
  }

  /**
   * An admin resets the user's second factors (SPEC §12: a user who lost them all): every factor and recovery code
   * goes, set up or half set up; a factor kind added here (passkeys) goes with them. actorId: the admin.
   */
  async resetAll(userId: string, actorId: string | null, origin?: RequestOrigin): Promise<void> {
    const factors = await this.factorsOf(userId);
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('totp_factors').where('user_id', '=', userId).execute();
      await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    });
    await this.audit.record({ type: 'second_factors.reset', userId, actorId, detail: { factors: factors.join(' ') || null } }, origin);
  }

  private seal(userId: string, secret: string): string {
    return this.encryption.seal(secret, sealContext(TOTP_SECRETS_COLUMN, userId));
  }

  private open(userId: string, stored: string): string {
    return this.encryption.open(stored, sealContext(TOTP_SECRETS_COLUMN, userId));
  }
}
