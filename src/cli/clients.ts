import type { Command } from 'commander';
import { databaseOption, withServices } from './context.js';

const DECISIONS = {
  verify: { does: 'mark an app verified: its consent page says "Verified by OPERATOR_NAME"', done: 'Verified' },
  unverify: { does: 'withdraw the verification: "Serika has not verified this app" again', done: 'Unverified' },
  suspend: { does: 'suspend an app: every token of it ends at once; it can no longer authorize or get tokens', done: 'Suspended' },
  unsuspend: { does: 'lift a suspension: new authorizations work again (tokens ended by it stay ended)', done: 'Unsuspended' },
} as const;

/** The operator's decisions on apps (SPEC §12), as the admin console takes them, by the CLI (the actor recorded as the CLI). */
export function clientsCommand(program: Command): void {
  const clients = program.command('clients').description("the operator's decisions on OAuth clients (apps)");
  for (const [name, { does, done }] of Object.entries(DECISIONS) as Array<[keyof typeof DECISIONS, (typeof DECISIONS)[keyof typeof DECISIONS]]>) {
    databaseOption(clients.command(name))
      .description(does)
      .requiredOption('--client-id <id>', 'the client_id (client_…, or a metadata document URL)')
      .action(async (options: { clientId: string }) => {
        const client = await withServices(async (s) => {
          // The one failing line names it (the service's own error says only "No such client.").
          if (!(await s.clients.findRegistered(options.clientId))) throw new Error(`No client with client_id ${JSON.stringify(options.clientId)}.`);
          return s.clientTrust[name](options.clientId, null);
        });
        console.log(`${done} ${client.name} (${client.clientId}).`);
      });
  }
}
