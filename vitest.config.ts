import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time (vitest's default on two cores is one): the suite is mostly waiting on
    // child processes, databases and browsers, and every test has its own database and ports.
    maxWorkers: 2,
    // `npm run test:unit` runs the first project alone (`--project unit`): pure functions, no
    // servers, databases or child processes, so it needs neither the services nor their setup.
    // Unit tests sit in the folder of the domain they test, named *.unit.test.ts.
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.unit.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.unit.test.ts'],
          // Says which service-backed suites are skipped and names this run's PostgreSQL schemas.
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
