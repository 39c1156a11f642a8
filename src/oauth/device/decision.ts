import type { UsersService } from '../../accounts/users-service.js';
import { parseAudience, type Audience } from '../../audiences.js';
import type { AuditService } from '../../audit/service.js';
import type { ClientsService, RegisteredClient } from '../../clients/service.js';
import type { BudgetLimit } from '../../consent/budget-rules.js';
import type { BudgetsService } from '../../consent/budgets.js';
import type { CharacterChoice } from '../../consent/character-choice.js';
import type { GrantsService } from '../../consent/grants.js';
import type { ConsentRecorder } from '../../consent/record.js';
import type { RequestOrigin } from '../../http/request-context.js';
import { parseScopes } from '../../scopes.js';
import { suspendedRefusal } from '../../clients/rules.js';
import type { Transactor } from '../../storage/group-commit.js';
import { MAX_WRONG_CODES, WRONG_CODE_WINDOW_MS, type DeviceCodeAttempts } from './attempts.js';
import type { DeviceCodeRow, DeviceCodes } from './store.js';
import { displayUserCode, normalizeUserCode } from './user-codes.js';

export interface DeviceDecisionDeps {
  devices: DeviceCodes;
  attempts: DeviceCodeAttempts;
  clients: ClientsService;
  users: UsersService;
  budgets: BudgetsService;
  grants: GrantsService;
  consents: ConsentRecorder;
  audit: AuditService;
  transact: Transactor;
  /** How many users have allowed a client (SPEC §12: shown on the page). */
  allowedBy: (clientId: string) => Promise<number>;
}

/** What the confirmation page shows (RFC 8628 §5.4), with the one-time id its decision must present. */
export interface DeviceConfirmation {
  client: RegisteredClient;
  ownerName: string | null;
  /** How many users have a grant for it (SPEC §12). */
  allowedBy: number;
  scopes: string[];
  audience: Audience;
  /** As shown on the device: two groups of four letters joined by a dash. */
  code: string;
  startedAt: number;
  startedFrom: string | null;
  /** What the device asked for (authorization_details), and what the grant has now (SPEC §10). */
  requestedBudget: BudgetLimit | null;
  currentBudget: BudgetLimit | null;
  /** With the characters scope (SPEC §15): the ids the device asked for (null: none), and the grant's choice now (undefined: no grant yet). */
  requestedCharacters: readonly string[] | null;
  currentCharacters: CharacterChoice | undefined;
  confirmation: string;
}

/** The wrong-code limit's answers: wait `ms` before trying again, or a wrong code with `left` tries before the wait. */
export type Refusal = { kind: 'wait'; ms: number } | { kind: 'wrong'; left: number } | { kind: 'suspended'; message: string };

export type DeviceLookUp = Refusal | ({ kind: 'confirm' } & DeviceConfirmation);

export type DeviceDecisionOutcome =
  | Refusal
  /** The decision did not come from a confirmation page shown to this user for this code (or that page is too old). */
  | { kind: 'unconfirmed' }
  /** Decided already (decided codes cannot be decided again), or expired meanwhile. */
  | { kind: 'decided_before' }
  | { kind: 'decided'; allowed: boolean; clientName: string };

export interface DeviceDecision {
  userId: string;
  authTime: number;
  /** How the user signed in (RFC 8176 amr, stored form). */
  amr: string;
  /** The approving session's sid (SPEC §13), kept for the device's ID tokens; null for a session from before sids. */
  sid: string | null;
  /** The code as typed (the form's hidden copy of it). */
  typed: string;
  /** The confirmation page's one-time id, as posted. */
  confirmation: string | undefined;
  decision: 'allow' | 'deny';
  /** The spending limit left on the page (null: no limit); undefined keeps the grant's. */
  budget?: BudgetLimit | null;
  /** The characters chosen on the page (null: all); undefined keeps the grant's. */
  characters?: CharacterChoice;
}

/**
 * The user's side of the device grant (RFC 8628 §3.3, SPEC §9), free of HTTP
 * and HTML, beside AuthorizationService.decide. Every code typed, on the
 * code form and in a decision alike, goes through the wrong-code limit: 5
 * wrong codes per user per 10 minutes, then a wait during which no code is
 * accepted and no decision taken (RFC 8628 §5.1: user codes are guessable
 * otherwise). A decision presents the one-time id of the confirmation page
 * it came from, and is taken in one transaction: the page's id used up, the
 * code decided, the consent recorded and the audit event written, or none.
 */
export class DeviceDecisions {
  constructor(private readonly deps: DeviceDecisionDeps) {}

  /** The pending code the user typed, within the limit; a wrong one is counted. */
  private async checked(userId: string, typed: string): Promise<Refusal | { kind: 'found'; row: DeviceCodeRow; client: RegisteredClient; code: string }> {
    const { attempts, devices, clients } = this.deps;
    const wait = await attempts.waitFor(userId);
    if (wait > 0) return { kind: 'wait', ms: wait };
    // Counted before the look-up: 30 guesses sent at once get 5 look-ups, not 30.
    const tries = await attempts.take(userId);
    if (tries > MAX_WRONG_CODES) return { kind: 'wait', ms: (await attempts.waitFor(userId)) || WRONG_CODE_WINDOW_MS };
    const code = normalizeUserCode(typed);
    const row = code === null ? undefined : await devices.findLive(code);
    const client = row && (await clients.findRegistered(row.client_id));
    // SPEC §12: a suspended app's code is neither shown for confirmation nor decided. The suspension denied its
    // codes (oauth/store/revocation.ts), yet the page still says why; any other code no longer pending is wrong.
    const suspended = client ? suspendedRefusal(client) : null;
    if (!row || !client || (suspended === null && row.status !== 'pending')) return { kind: 'wrong', left: Math.max(0, MAX_WRONG_CODES - tries) };
    await attempts.giveBack(userId);
    if (suspended !== null) return { kind: 'suspended', message: suspended };
    return { kind: 'found', row, client, code: code! };
  }

  /** The code form (or verification_uri_complete): the confirmation to show, with its one-time id. */
  async lookUp(userId: string, typed: string): Promise<DeviceLookUp> {
    const found = await this.checked(userId, typed);
    if (found.kind !== 'found') return found;
    const { row, client, code } = found;
    const owner = client.ownerId === null ? undefined : await this.deps.users.findById(client.ownerId);
    return {
      kind: 'confirm',
      client,
      ownerName: client.ownerId === null ? null : (owner?.username ?? 'unknown'),
      allowedBy: await this.deps.allowedBy(client.clientId),
      scopes: parseScopes(row.scopes),
      audience: parseAudience(row.resources),
      code: displayUserCode(code),
      startedAt: row.created_at,
      startedFrom: row.request_ip,
      requestedBudget: row.budget === null ? null : (JSON.parse(row.budget) as BudgetLimit),
      currentBudget: await this.deps.budgets.get(userId, client.clientId),
      requestedCharacters: row.characters === null ? null : (JSON.parse(row.characters) as string[]),
      currentCharacters: (await this.deps.grants.find(userId, client.clientId))?.characters,
      confirmation: await this.deps.devices.confirmation(row, userId),
    };
  }

  /** The decision posted from the confirmation page, taken once. `origin`: the browser's request (its address goes in the audit row). */
  async decide(input: DeviceDecision, origin: RequestOrigin): Promise<DeviceDecisionOutcome> {
    const found = await this.checked(input.userId, input.typed);
    if (found.kind !== 'found') return found;
    const { row, client } = found;
    if (input.confirmation === undefined || input.confirmation === '') return { kind: 'unconfirmed' };
    const allowed = input.decision === 'allow';
    return this.deps.transact(async (trx): Promise<DeviceDecisionOutcome> => {
      const status = allowed ? 'approved' : 'denied';
      const decided = await this.deps.devices.decide(trx, { confirmation: input.confirmation!, deviceCodeHash: row.device_code_hash, userId: input.userId, authTime: input.authTime, amr: input.amr, sid: input.sid, status });
      if (typeof decided === 'string') return { kind: decided };
      if (allowed) {
        const scopes = parseScopes(decided.scopes);
        const characters = scopes.includes('characters') ? input.characters : undefined;
        const consent = { userId: input.userId, clientId: client.clientId, scopes, audience: parseAudience(decided.resources), budget: input.budget, characters, device: true };
        await this.deps.consents.record(trx, consent, origin);
      }
      // The address the device asked from, beside the browser's (the row's ip): the user can tell a stranger's request.
      const event = { type: allowed ? ('device.approved' as const) : ('device.denied' as const), userId: input.userId, clientId: client.clientId, detail: { deviceIp: decided.request_ip } };
      await this.deps.audit.record(event, origin, trx);
      return { kind: 'decided', allowed, clientName: client.name };
    });
  }
}
