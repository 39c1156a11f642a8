import type { Migration } from 'kysely';

/**
 * What a migration leaves for the versions that came before it, which cannot
 * know it: an instance of the old version still serving mid-rollout, or
 * started again after a rollback. Recorded in the database by the run
 * (migration_compatibility), because the old code has only the database to
 * ask. See README.md in this folder (expand/contract).
 */
export type OlderVersions =
  /** Additive (a new table, a nullable or defaulted column, an index): older versions run on it, not knowing it. */
  | { readonly compatible: true }
  | {
      readonly compatible: false;
      /** What an older version would get wrong on this schema, said to its operator when it refuses to start. */
      readonly breaks: string;
      /**
       * The contract step of expand/contract: versions that have this earlier
       * migration (the release that stopped using what this one drops) still run.
       */
      readonly unlessTheyHave?: string;
    };

export const COMPATIBLE: OlderVersions = Object.freeze({ compatible: true });

/** A migration of the sequence: Kysely's up/down, and what it leaves for older versions. */
export interface SerikaMigration extends Migration {
  readonly olderVersions: OlderVersions;
  /**
   * Run outside any transaction, alone (PostgreSQL's CREATE INDEX
   * CONCURRENTLY cannot run in one; createIndexConcurrently). Such a
   * migration must be safe to run again: a crash can come between its last
   * statement and its being recorded.
   */
  readonly outsideTransaction?: boolean;
}
