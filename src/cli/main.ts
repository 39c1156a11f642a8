import { Command } from 'commander';
import { keysCommand } from './keys.js';
import { backupCommand } from './backup.js';
import { migrateCommand } from './migrate.js';
import { pruneCommand } from './prune.js';
import { secretsCommand } from './secrets.js';
import { signingKeysCommand } from './signing-keys.js';
import { serveCommand } from './serve.js';
import { usersCommand } from './users.js';
import { clientsCommand } from './clients.js';

const ENVIRONMENT = `
Configuration is read from environment variables (and .env if present):
  PORT, HOST, PUBLIC_URL, DATABASE_URL, REDIS_URL, UPSTREAM_BASE_URL,
  UPSTREAM_API_KEY, UPSTREAM_TIMEOUT, REQUEST_TIMEOUT, ACCESS_TOKEN_TTL,
  REFRESH_TOKEN_TTL, AUTH_CODE_TTL, RATE_LIMIT_TOKEN, RATE_LIMIT_LOGIN,
  RATE_LIMIT_SIGNUP, SIGNUP,
  METRICS_TOKEN, TRUST_PROXY, SHUTDOWN_DRAIN, SHUTDOWN_TIMEOUT,
  MAX_CLIENTS_PER_USER, ID_TOKEN_TTL, REGISTRATION, RATE_LIMIT_REGISTER, CIMD,
  CIMD_ALLOW_PRIVATE, DEVICE_CODE_TTL, BUDGET_DEFAULT_MAX_TOKENS, TOKEN_CACHE, GROUP_COMMIT, LOG_LEVEL,
  AUDIT_RETENTION_DAYS, KEY_ENCRYPTION_SECRETS.
  See README.md for defaults and meanings.
Run it from the install directory with the server's environment: the
commands that touch the database say on stderr which one they used, and
take --database-url to name another.
Every command but "migrate status" migrates the database first.`;

export async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('serika')
    .description('Serika: an OpenAI-compatible AI platform API around a full OAuth 2.0 authorization server')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', ENVIRONMENT);
  serveCommand(program);
  migrateCommand(program);
  usersCommand(program);
  keysCommand(program);
  clientsCommand(program);
  pruneCommand(program);
  backupCommand(program);
  signingKeysCommand(program);
  secretsCommand(program);
  await program.parseAsync(argv);
}
