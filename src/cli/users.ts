import type { Command } from 'commander';
import { createInterface } from 'node:readline';
import { databaseOption, fail, withServices } from './context.js';

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
}
