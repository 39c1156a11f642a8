import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  type WebAuthnCredential,
} from '@simplewebauthn/server';
import type { Kysely } from 'kysely';
import type { AuditService } from '../../audit/service.js';
import type { RequestOrigin } from '../../http/request-context.js';
import type { Database } from '../../storage/schema.js';
import type { CeremonyPurpose, WebAuthnChallenges } from './webauthn-challenges.js';

/** The relying party: PUBLIC_URL's host name as the RP ID (WebAuthn §5.1.2), and its origin as the one answers come from. */
export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingPartyOf(publicUrl: string): RelyingParty {
  const url = new URL(publicUrl);
  return { id: url.hostname, origin: url.origin, name: 'Serika' };
}

export interface Passkey {
  id: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  backedUp: boolean;
}

/** Why an answer was refused: unreadable, a challenge not (or no longer) ours, a credential we do not hold, or its proof. */
export type PasskeyRefusal = 'malformed' | 'challenge' | 'credential' | 'verification';

/** A refusal names the user when the answer named a credential of theirs (their Activity page shows it). */
export type PasskeyResult<T> = { ok: true; value: T } | { ok: false; refused: PasskeyRefusal; userId?: string };

/** A ceremony's challenge is bound to one browser (its session, half-session or sign-in cookie) and, but for sign-in, one user. */
export interface Ceremony {
  binding: string;
  userId: string | null;
}

/** The longest name a passkey keeps (it is the user's label for it, shown in the list). */
export const PASSKEY_NAME_MAX = 64;
/** WebAuthn §5.4 timeout, a hint to the browser: how long its prompt waits. */
const PROMPT_TIMEOUT_MS = 120_000;
/** A JSON answer is a few kilobytes; anything far bigger is not one. */
const ANSWER_MAX = 64 * 1024;

/** The user handle of a user's credentials (WebAuthn §5.4.3): their id, which names nothing personal. */
const userHandleOf = (userId: string) => new TextEncoder().encode(userId);

const refused = (why: PasskeyRefusal, userId?: string): { ok: false; refused: PasskeyRefusal; userId?: string } => (userId ? { ok: false, refused: why, userId } : { ok: false, refused: why });

/** The challenge an answer carries, as its clientDataJSON says it, or null when the answer is not one. */
function parseAnswer<T extends RegistrationResponseJSON | AuthenticationResponseJSON>(text: string): { answer: T; challenge: string } | null {
  if (text.length > ANSWER_MAX) return null;
  try {
    const answer = JSON.parse(text) as T;
    const client = JSON.parse(Buffer.from(answer.response.clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown };
    return typeof answer.id === 'string' && typeof client.challenge === 'string' ? { answer, challenge: client.challenge } : null;
  } catch {
    return null;
  }
}

/**
 * Passkeys (SPEC §11, WebAuthn Level 2 through @simplewebauthn/server):
 * discoverable credentials with user verification required, at registration
 * and at every use. One passkey proves possession (a key) and inherence or
 * knowledge (the device's user verification): a sign-in with it alone is
 * multi-factor.
 */
export class Passkeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly challenges: WebAuthnChallenges,
    private readonly rp: RelyingParty,
    private readonly audit: AuditService,
    private readonly now: () => number = Date.now,
  ) {}

  async list(userId: string): Promise<Passkey[]> {
    const rows = await this.db.selectFrom('webauthn_credentials').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: Number(r.created_at), lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at), backedUp: r.backed_up === 1 }));
  }

  /** Options for adding a passkey: a discoverable credential, user verification required, none of the user's own again. */
  async registrationOptions(user: { id: string; username: string }, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const existing = await this.db.selectFrom('webauthn_credentials').select(['id', 'transports']).where('user_id', '=', user.id).execute();
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: user.username,
      userID: userHandleOf(user.id),
      timeout: PROMPT_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: transportsOf(c.transports) })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    });
    await this.challenges.issue(options.challenge, 'register', binding, user.id);
    return options;
  }

  /** Verifies the browser's answer to registrationOptions and keeps the passkey under `name`. */
  async register(userId: string, name: string, answerText: string, binding: string, origin?: RequestOrigin): Promise<PasskeyResult<Passkey>> {
    const parsed = parseAnswer<RegistrationResponseJSON>(answerText);
    if (!parsed) return refused('malformed');
    if (!(await this.challenges.take(parsed.challenge, 'register', binding, userId))) return refused('challenge');
    let info;
    try {
      const result = await verifyRegistrationResponse({
        response: parsed.answer,
        expectedChallenge: parsed.challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        requireUserVerification: true,
      });
      if (!result.verified) return refused('verification');
      info = result.registrationInfo;
    } catch {
      return refused('verification');
    }
    const now = this.now();
    const passkey: Passkey = { id: info.credential.id, name: name.trim().slice(0, PASSKEY_NAME_MAX) || 'Passkey', createdAt: now, lastUsedAt: null, backedUp: info.credentialBackedUp };
    const inserted = await this.db
      .insertInto('webauthn_credentials')
      .values({
        id: passkey.id,
        user_id: userId,
        name: passkey.name,
        public_key: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter,
        transports: info.credential.transports?.length ? info.credential.transports.join(' ') : null,
        multi_device: info.credentialDeviceType === 'multiDevice' ? 1 : 0,
        backed_up: info.credentialBackedUp ? 1 : 0,
        created_at: now,
        last_used_at: null,
      })
      // A credential id already held (this user's, excluded above, or anyone's) is not taken over.
      .onConflict((oc) => oc.column('id').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return refused('credential');
    await this.audit.record({ type: 'second_factor.added', userId, detail: { factor: 'passkey', name: passkey.name } }, origin);
    return { ok: true, value: passkey };
  }

  /**
   * Options for using a passkey: for a sign-in no credential is named (the browser offers the discoverable
   * ones it holds for this RP, WebAuthn §5.4.3), for a second step the user's own.
   */
  async authenticationOptions(purpose: Exclude<CeremonyPurpose, 'register'>, ceremony: Ceremony): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const allow =
      ceremony.userId === null
        ? undefined
        : (await this.db.selectFrom('webauthn_credentials').select(['id', 'transports']).where('user_id', '=', ceremony.userId).execute()).map((c) => ({ id: c.id, transports: transportsOf(c.transports) }));
    const options = await generateAuthenticationOptions({ rpID: this.rp.id, allowCredentials: allow, userVerification: 'required', timeout: PROMPT_TIMEOUT_MS });
    await this.challenges.issue(options.challenge, purpose, ceremony.binding, ceremony.userId);
    return options;
  }

  /**
   * Verifies an answer to authenticationOptions: the challenge taken (once, for this browser), the credential
   * one we hold (and the expected user's, for a second step), origin, RP ID, user verification, signature,
   * and the signature counter (WebAuthn §6.1.1: one not above the stored one, when either is nonzero, may be
   * a cloned authenticator: refused). Returns the credential's user.
   */
  async authenticate(purpose: Exclude<CeremonyPurpose, 'register'>, answerText: string, ceremony: Ceremony): Promise<PasskeyResult<{ userId: string; credentialId: string }>> {
    const parsed = parseAnswer<AuthenticationResponseJSON>(answerText);
    if (!parsed) return refused('malformed');
    if (!(await this.challenges.take(parsed.challenge, purpose, ceremony.binding, ceremony.userId))) return refused('challenge');
    const row = await this.db.selectFrom('webauthn_credentials').selectAll().where('id', '=', parsed.answer.id).executeTakeFirst();
    if (!row || (ceremony.userId !== null && row.user_id !== ceremony.userId)) return refused('credential');
    // WebAuthn §7.2 step 6: a user handle, when given, must be the credential's user's.
    const handle = parsed.answer.response.userHandle;
    if (handle && handle !== Buffer.from(userHandleOf(row.user_id)).toString('base64url')) return refused('credential', row.user_id);
    const credential: WebAuthnCredential = { id: row.id, publicKey: Buffer.from(row.public_key, 'base64url'), counter: Number(row.counter), transports: transportsOf(row.transports) };
    let info;
    try {
      const result = await verifyAuthenticationResponse({
        response: parsed.answer,
        expectedChallenge: parsed.challenge,
        expectedOrigin: this.rp.origin,
        expectedRPID: this.rp.id,
        credential,
        requireUserVerification: true,
      });
      if (!result.verified) return refused('verification', row.user_id);
      info = result.authenticationInfo;
    } catch {
      return refused('verification', row.user_id);
    }
    // The counter moves only from the value read: two answers with one counter cannot both pass.
    const moved = await this.db
      .updateTable('webauthn_credentials')
      .set({ counter: info.newCounter, backed_up: info.credentialBackedUp ? 1 : 0, last_used_at: this.now() })
      .where('id', '=', row.id)
      .where('counter', '=', credential.counter)
      .executeTakeFirst();
    if (Number(moved.numUpdatedRows) !== 1) return refused('verification', row.user_id);
    return { ok: true, value: { userId: row.user_id, credentialId: row.id } };
  }

  /** Removes one of the user's passkeys; false when they hold none with that id. */
  async remove(userId: string, id: string, origin?: RequestOrigin): Promise<boolean> {
    const row = await this.db.deleteFrom('webauthn_credentials').where('id', '=', id).where('user_id', '=', userId).returning('name').executeTakeFirst();
    if (!row) return false;
    await this.audit.record({ type: 'second_factor.removed', userId, detail: { factor: 'passkey', name: row.name } }, origin);
    return true;
  }
}

function transportsOf(stored: string | null): AuthenticatorTransportFuture[] | undefined {
  return stored ? (stored.split(' ') as AuthenticatorTransportFuture[]) : undefined;
}
