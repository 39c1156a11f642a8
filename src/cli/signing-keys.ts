import type { Command } from 'commander';
import type { SigningKey } from '../oidc/signing-keys.js';
import { databaseOption, withServices } from './context.js';
import { table, when } from './table.js';

function keysTable(keys: SigningKey[]): string {
  return table([['KID', 'ALG', 'STATE', 'CREATED', 'SIGNS FROM', 'RETIRED'], ...keys.map((k) => [k.kid, k.alg, k.state, when(k.createdAt), when(k.activatesAt), when(k.retiredAt, '-')])]);
}

export function signingKeysCommand(program: Command): void {
  const keys = program.command('signing-keys').description('the OpenID Connect ID token signing keys (shared by every instance through the database)');
  databaseOption(keys.command('list'))
    .description('print kid, alg, state (next, active, retired, expired) and dates of every signing key')
    .action(async () => {
      console.log(keysTable(await withServices((s) => s.signingKeys.list())));
    });
  databaseOption(keys.command('rotate'))
    .description('add a new key per alg: published in the JWKS now, signing 10 minutes later; the old keys stay published until their last ID token expires')
    .action(async () => {
      const added = await withServices((s) => s.signingKeys.rotate());
      console.log(keysTable(added));
    });
}
