import type { Command } from 'commander';
import type { SigningKey } from '../oidc/signing-keys.js';
import { databaseOption, withServices } from './context.js';

const when = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function table(keys: SigningKey[]): string {
  const rows = [['KID', 'ALG', 'STATE', 'CREATED', 'SIGNS FROM', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.state, when(k.createdAt), when(k.activatesAt), when(k.retiredAt)])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function signingKeysCommand(program: Command): void {
  const keys = program.command('signing-keys').description('the OpenID Connect ID token signing keys (shared by every instance through the database)');
  databaseOption(keys.command('list'))
    .description('print kid, alg, state (next, active, retired, expired) and dates of every signing key')
    .action(async () => {
      console.log(table(await withServices((s) => s.signingKeys.list())));
    });
  databaseOption(keys.command('rotate'))
    .description('add a new key per alg: published in the JWKS now, signing 10 minutes later; the old keys stay published until their last ID token expires')
    .action(async () => {
      const added = await withServices((s) => s.signingKeys.rotate());
      console.log(table(added));
    });
}
