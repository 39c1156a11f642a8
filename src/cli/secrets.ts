import type { Command } from 'commander';
import { databaseOption, withServices } from './context.js';
import { table } from './table.js';

export function secretsCommand(program: Command): void {
  const secrets = program.command('secrets').description('the keys Serika keeps in its database, sealed under KEY_ENCRYPTION_SECRETS (see docs/deploying.md)');
  databaseOption(secrets.command('reencrypt'))
    .description(
      'seal every private signing key and the cookie and CSRF keys under the first KEY_ENCRYPTION_SECRETS secret: those sealed under another listed secret and those stored plain (after a rotation: put the new secret first on every instance, then run this)',
    )
    .action(async () => {
      const { reencrypt } = await import('../security/sealed-columns.js');
      const { fingerprint, results } = await withServices(async (s) => {
        const sealing = s.keyEncryption.sealingFingerprint;
        if (sealing === null) throw new Error('KEY_ENCRYPTION_SECRETS is not set: there is no secret to encrypt under');
        return { fingerprint: sealing, results: await reencrypt(s.storage.db, s.keyEncryption) };
      });
      console.log(
        table([
          ['VALUES', 'RE-ENCRYPTED', 'WERE PLAIN', 'ALREADY CURRENT', 'CHANGED MEANWHILE'],
          ...results.map((r) => [r.column.holds, String(r.resealed), String(r.sealed), String(r.unchanged), String(r.changedMeanwhile)]),
        ]),
      );
      const meanwhile = results.reduce((n, r) => n + r.changedMeanwhile, 0);
      console.log(
        meanwhile === 0
          ? `Every value above is sealed under the first KEY_ENCRYPTION_SECRETS secret (fingerprint ${fingerprint}).`
          : `${meanwhile} value(s) changed while this ran (another reencrypt?): run it again. The others are sealed under the first secret (fingerprint ${fingerprint}).`,
      );
    });
}
