import type { Kysely } from 'kysely';
import type { Audience } from '../audiences.js';
import type { RequestOrigin } from '../http/request-context.js';
import type { Database } from '../storage/schema.js';
import type { BudgetLimit } from './budget-rules.js';
import type { BudgetsService } from './budgets.js';
import type { CharacterChoice } from './character-choice.js';
import type { GrantsService } from './grants.js';

/** A user's Allow, as the consent page and the device page take it. */
export interface Consent {
  userId: string;
  clientId: string;
  scopes: string[];
  audience: Audience;
  /** The spending limit left on the page (null: no limit); undefined keeps the grant's (SPEC §10: it survives re-consent). */
  budget?: BudgetLimit | null;
  /** The characters chosen on the page (SPEC §15; null: all); undefined keeps the grant's (a new grant: all). */
  characters?: CharacterChoice;
  /** Allowed through /device (RFC 8628): the dashboard says "signed in from a device". */
  device?: boolean;
}

/**
 * Another domain's part in a consent, run in the same transaction (the
 * consent domain writes only its own tables; clients/ keeps an ownerless
 * client another 30 days, SPEC §8).
 */
export type ConsentRecordedHook = (trx: Kysely<Database>, clientId: string) => Promise<void>;

/**
 * Recording a consent, in one place for the authorization endpoint's and the
 * device page's decisions: the grant (scopes and resources), its budget, its characters, and
 * the hook, all in the caller's transaction, so a decision is stored whole or
 * not at all.
 */
export class ConsentRecorder {
  constructor(
    private readonly grants: GrantsService,
    private readonly budgets: BudgetsService,
    private readonly onRecorded: ConsentRecordedHook = async () => {},
  ) {}

  /** origin: the decision's request, for the audit event of a changed spending limit (budget.changed). */
  async record(trx: Kysely<Database>, consent: Consent, origin?: RequestOrigin): Promise<void> {
    await this.grants.allow(consent.userId, consent.clientId, consent.scopes, consent.audience, { device: consent.device }, trx);
    if (consent.budget !== undefined) await this.budgets.set(consent.userId, consent.clientId, consent.budget, trx, origin);
    if (consent.characters !== undefined) await this.grants.setCharacters(consent.userId, consent.clientId, consent.characters, trx, origin);
    await this.onRecorded(trx, consent.clientId);
  }
}
