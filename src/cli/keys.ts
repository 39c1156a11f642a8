import type { Command } from 'commander';
import { databaseOption, withServices } from './context.js';
import { table, when } from './table.js';


export function keysCommand(program: Command): void {
  const keys = program.command('keys').description("manage a user's API keys");

  databaseOption(keys.command('create'))
    .description('create an API key; prints the key alone on the last line of stdout (shown only once)')
    .requiredOption('--username <username>', 'the user who owns the key')
    .option('--name <name>', 'a label to recognise the key by', 'default')
    .action(async (options: { username: string; name: string }) => {
      const created = await withServices(async (s) => s.apiKeys.create((await s.users.require(options.username)).id, options.name));
      // The note goes to stderr so that `KEY=$(npx serika keys create …)` captures the key alone.
      console.error(`Created API key "${created.name}" (${created.prefix}) for ${options.username}. It is shown only once:`);
      console.log(created.key);
    });

  databaseOption(keys.command('list'))
    .description("list a user's API keys (never the key itself)")
    .requiredOption('--username <username>', 'the user whose keys to list')
    .action(async (options: { username: string }) => {
      const list = await withServices(async (s) => s.apiKeys.list((await s.users.require(options.username)).id));
      if (list.length === 0) {
        console.log(`No API keys for ${options.username}.`);
        return;
      }
      const rows = list.map((k) => [k.prefix, k.name, when(k.createdAt), when(k.lastUsedAt), k.revokedAt === null ? 'active' : `revoked ${when(k.revokedAt)}`]);
      console.log(table([['PREFIX', 'NAME', 'CREATED', 'LAST USED', 'STATUS'], ...rows]));
    });

  databaseOption(keys.command('revoke'))
    .description('revoke the API key with this prefix (as shown by keys list); it stops working at once')
    .requiredOption('--username <username>', 'the user who owns the key')
    .requiredOption('--prefix <prefix>', 'the key prefix shown by keys list, e.g. sk-serika-AbCd1234')
    .action(async (options: { username: string; prefix: string }) => {
      const count = await withServices(async (s) => {
        const revoked = await s.apiKeys.revoke((await s.users.require(options.username)).id, options.prefix);
        if (revoked === 0) throw new Error(`no active API key of ${options.username} has the prefix ${options.prefix}`);
        return revoked;
      });
      console.log(`Revoked ${count} API key${count === 1 ? '' : 's'} with prefix ${options.prefix}.`);
    });
}
