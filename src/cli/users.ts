import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { databaseOption, fail, withServices } from './context.js';
import type { Services } from '../services.js';

/** The user named by --username, or the one-line failure naming it. */
async function userId(s: Services, username: string): Promise<string> {
  return (await s.users.require(username)).id;
}

/** The password is the first line of standard input (SPEC §1), so it never appears in argv or shell history. */
async function readFirstLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const lines = createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    lines.close();
    return line.replace(/\r$/, '');
  }
  return '';
}

export function usersCommand(program: Command): void {
  const users = program.command('users').description('manage users');
  databaseOption(users.command('create'))
    .description('create a user and print its id; the password is read from the first line of stdin')
    .requiredOption('--username <username>', '3–32 characters of A-Z a-z 0-9 _ . -, unique regardless of case')
    .option('--password-stdin', 'read the password (8–256 characters) from the first line of stdin (required)')
    .option('--email <email>', 'an optional email address; a verification link is mailed to it (sent by a running server)')
    .action(async (options: { username: string; passwordStdin?: boolean; email?: string }) => {
      if (!options.passwordStdin) fail('--password-stdin is required: pass the password on standard input');
      const password = await readFirstLine();
      if (password === '') fail('no password on standard input');
      const user = await withServices((s) => s.users.create({ username: options.username, password, email: options.email ?? null }));
      console.log(user.id);
    });
  userAdminCommands(users);
}

/** SPEC §12: roles and suspension from the command line (no admin is the actor: the audit events name none). */
function userAdminCommands(users: Command): void {
  databaseOption(users.command('set-role'))
    .description('make a user an admin (they see /admin and may use the admin API) or a user again')
    .requiredOption('--username <username>', 'the user')
    .requiredOption('--role <role>', 'admin or user')
    .action(async (options: { username: string; role: string }) => {
      if (options.role !== 'admin' && options.role !== 'user') fail(`--role must be admin or user, not ${JSON.stringify(options.role)}`);
      const role = options.role;
      await withServices(async (s) => s.userAdmin.setRole(await userId(s, options.username), role, null));
      console.log(`${options.username}: ${role}`);
    });
  databaseOption(users.command('suspend'))
    .description('suspend a user: they cannot sign in, and every session and token of theirs ends on every instance (their apps keep serving other users)')
    .requiredOption('--username <username>', 'the user')
    .action(async (options: { username: string }) => {
      const changed = await withServices(async (s) => s.userAdmin.suspend(await userId(s, options.username), null));
      console.log(`${options.username}: ${changed ? 'suspended' : 'already suspended'}`);
    });
  databaseOption(users.command('unsuspend'))
    .description('let a suspended user sign in again (ended sessions and tokens stay ended)')
    .requiredOption('--username <username>', 'the user')
    .action(async (options: { username: string }) => {
      const changed = await withServices(async (s) => s.userAdmin.unsuspend(await userId(s, options.username), null));
      console.log(`${options.username}: ${changed ? 'unsuspended' : 'was not suspended'}`);
    });
}
