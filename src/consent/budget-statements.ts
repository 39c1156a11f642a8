import type { Kysely, QueryCreator } from 'kysely';
import { preparedNamed } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';

/** A lineage's hashes as prepared parameters: as many as the deepest sub-agent token has (MAX_AGENT_DEPTH). */
const LINEAGE_SLOTS = ['h1', 'h2', 'h3'] as const;

/**
 * The statements of every budgeted call (hold, then settle), compiled once per
 * database: building and compiling them cost about as much as running them.
 * Each runs on the transaction it is given.
 */
export function budgetStatements() {
  const grant = ['userId', 'clientId'] as const;
  return {
    row: preparedNamed(grant, (db: Kysely<Database>, p) => db.selectFrom('oauth_budgets').selectAll().where('user_id', '=', p.userId).where('client_id', '=', p.clientId)),
    /** The conditional UPDATE of a hold: it matches only if the cost fits the row as it is now. */
    hold: preparedNamed([...grant, 'tokens', 'images', 'now'], (db: Kysely<Database>, p) =>
      db
        .updateTable('oauth_budgets')
        .set((eb) => ({ tokens_reserved: eb('tokens_reserved', '+', p.tokens), images_reserved: eb('images_reserved', '+', p.images), updated_at: p.now }))
        .where('user_id', '=', p.userId)
        .where('client_id', '=', p.clientId)
        .where((eb) =>
          eb.and([
            eb.or([eb('tokens_limit', 'is', null), eb(eb(eb('tokens_used', '+', eb.ref('tokens_reserved')), '+', p.tokens), '<=', eb.ref('tokens_limit'))]),
            eb.or([eb('images_limit', 'is', null), eb(eb(eb('images_used', '+', eb.ref('images_reserved')), '+', p.images), '<=', eb.ref('images_limit'))]),
          ]),
        )
        .returningAll(),
    ),
    insertReservation: preparedNamed(['id', ...grant, 'tokens', 'images', 'now', 'expires'], (db: Kysely<Database>, p) =>
      db.insertInto('budget_reservations').values({ id: p.id, user_id: p.userId, client_id: p.clientId, tokens: p.tokens, images: p.images, created_at: p.now, expires_at: p.expires }),
    ),
    lock: preparedNamed(grant, (db: Kysely<Database>, p) =>
      db
        .updateTable('oauth_budgets')
        .set((eb) => ({ updated_at: eb.ref('updated_at') }))
        .where('user_id', '=', p.userId)
        .where('client_id', '=', p.clientId),
    ),
    /** Budget leases (budget-leases.ts): whether a slice is still there, and its changes. */
    leaseRow: preparedNamed(['id'], (db: Kysely<Database>, p) => db.selectFrom('budget_leases').select('id').where('id', '=', p.id)),
    insertLease: preparedNamed(['id', ...grant, 'tokens', 'images', 'now', 'expires'], (db: Kysely<Database>, p) =>
      db.insertInto('budget_leases').values({ id: p.id, user_id: p.userId, client_id: p.clientId, tokens: p.tokens, images: p.images, created_at: p.now, expires_at: p.expires }),
    ),
    growLease: preparedNamed(['id', 'tokens', 'images', 'expires'], (db: Kysely<Database>, p) =>
      db
        .updateTable('budget_leases')
        .set((eb) => ({ tokens: eb('tokens', '+', p.tokens), images: eb('images', '+', p.images), expires_at: p.expires }))
        .where('id', '=', p.id),
    ),
    /** A slice renewed by a settlement: still there only if this matches (a statement of its own, after the row's lock). */
    touchLease: preparedNamed(['id', 'expires'], (db: Kysely<Database>, p) => db.updateTable('budget_leases').set({ expires_at: p.expires }).where('id', '=', p.id).returning('id')),
    deleteLease: preparedNamed(['id'], (db: Kysely<Database>, p) => db.deleteFrom('budget_leases').where('id', '=', p.id).returning(['tokens', 'images'])),
    /** A new sub-agent token's cap and counters (agent-budgets.ts). */
    insertAgent: preparedNamed(['token_hash', 'user_id', 'client_id', 'tokens_limit', 'images_limit', 'tokens_used', 'images_used', 'tokens_reserved', 'images_reserved', 'updated_at'], (db: Kysely<Database>, p) =>
      db.insertInto('agent_budgets').values(p),
    ),
    /** A sub-agent lineage's rows (agent-budgets.ts), one statement per lineage length. */
    agentRows: LINEAGE_SLOTS.map((_, n) => {
      const slots = LINEAGE_SLOTS.slice(0, n + 1);
      return preparedNamed(slots, (db: Kysely<Database>, p) =>
        db
          .selectFrom('agent_budgets')
          .selectAll()
          .where(
            'token_hash',
            'in',
            slots.map((slot) => p[slot]),
          ),
      );
    }),
    /** What a call spent, counted on one sub-agent row. */
    spendAgent: preparedNamed(['hash', 'tokens', 'images', 'now'], (db: Kysely<Database>, p) =>
      db
        .updateTable('agent_budgets')
        .set((eb) => ({ tokens_used: eb('tokens_used', '+', p.tokens), images_used: eb('images_used', '+', p.images), updated_at: p.now }))
        .where('token_hash', '=', p.hash),
    ),
    takeReservation: preparedNamed(['id'], (db: Kysely<Database>, p) => db.deleteFrom('budget_reservations').where('id', '=', p.id).returning(['tokens', 'images'])),
    /**
     * A lease's settlement (budget-leases.ts): what its calls spent goes on the used counts; their room stays in
     * the slice until its next extension or its return takes it off.
     */
    spendLeased: preparedNamed([...grant, 'tokens', 'images', 'now'], (db: Kysely<Database>, p) => spendLeasedOn(db, p)),
    /** A settlement: the hold comes off, the spending goes on. */
    settle: preparedNamed([...grant, 'heldTokens', 'heldImages', 'spentTokens', 'spentImages', 'now'], (db: Kysely<Database>, p) =>
      db
        .updateTable('oauth_budgets')
        .set((eb) => ({
          tokens_reserved: eb('tokens_reserved', '-', p.heldTokens),
          images_reserved: eb('images_reserved', '-', p.heldImages),
          tokens_used: eb('tokens_used', '+', p.spentTokens),
          images_used: eb('images_used', '+', p.spentImages),
          updated_at: p.now,
        }))
        .where('user_id', '=', p.userId)
        .where('client_id', '=', p.clientId)
        .returningAll(),
    ),
  };
}

/**
 * A lease's settlement built on any query creator: prepared above, or on a usage batch's lead (group-commit.ts), whose
 * rows' INSERT it then carries.
 */
export function spendLeasedOn(db: QueryCreator<Database>, p: { userId: string; clientId: string; tokens: number; images: number; now: number }) {
  return db
    .updateTable('oauth_budgets')
    .set((eb) => ({ tokens_used: eb('tokens_used', '+', p.tokens), images_used: eb('images_used', '+', p.images), updated_at: p.now }))
    .where('user_id', '=', p.userId)
    .where('client_id', '=', p.clientId)
    .returningAll();
}
