import { defineConfig } from 'vitest/config';

/**
 * Files that need a process of their own: they look at which modules the process has loaded
 * (OpenTelemetry's SDK must not be there when tracing is off), or load and start that SDK, which
 * stays registered for the rest of the process.
 */
const OWN_PROCESS = ['test/operations/tracing.test.ts', 'test/operations/tracing-off.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time (vitest's default on two cores is one): the suite is mostly waiting on
    // child processes, databases and browsers, and every test has its own database and ports.
    maxWorkers: 2,
    // A worker runs file after file on the modules it has loaded: importing the app's module graph
    // costs seconds of CPU, paid once per worker instead of once per file. Every file makes its own
    // servers, databases and ports, so nothing a file does is seen by the next (OWN_PROCESS aside).
    isolate: false,
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
          exclude: ['test/**/*.unit.test.ts', ...OWN_PROCESS],
          // Says which service-backed suites are skipped and names this run's PostgreSQL schemas.
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'own-process', include: OWN_PROCESS, isolate: true, globalSetup: ['test/helpers/global-setup.ts'] },
      },
    ],
  },
});
