/** Says plainly which service-backed suites run (SPEC §1: skipped suites say so). */
export default function setup(): void {
  if (!process.env.TEST_DATABASE_URL_PG) {
    console.warn('[serika tests] TEST_DATABASE_URL_PG is not set: PostgreSQL suites are skipped (SQLite only).');
  }
  if (!process.env.TEST_REDIS_URL) {
    console.warn('[serika tests] TEST_REDIS_URL is not set: Redis suites are skipped.');
  }
}
