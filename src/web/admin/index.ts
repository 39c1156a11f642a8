import type { FastifyInstance } from 'fastify';
import { ADMIN } from '../../paths.js';
import type { Services } from '../../services.js';
import { adminAppsPages } from './apps.js';
import { guardAdmin } from './common.js';
import { reauthPages } from './reauth.js';
import { adminReportsPages } from './reports.js';
import { adminUsersPages } from './users.js';

/** The operator's console (SPEC §12): every page behind one admin guard (an encapsulated plugin of the pages scope). */
export async function adminRoutes(scope: FastifyInstance, s: Services): Promise<void> {
  guardAdmin(scope, { pageSessions: scope.pageSessions, users: s.users, now: s.now });
  scope.get(ADMIN.root, async (_request, reply) => reply.code(303).header('location', ADMIN.users).send());
  await reauthPages(scope, { secondFactors: s.secondFactors, passkeys: s.passkeys, users: s.users, secondStep: scope.secondStep, throttle: s.throttle, audit: s.audit });
  await adminUsersPages(scope, { userAdmin: s.userAdmin, users: s.users, clients: s.clients, sessions: s.sessions, secondFactors: s.secondFactors });
  await adminAppsPages(scope, { storage: s.storage, clientTrust: s.clientTrust });
  await adminReportsPages(scope, { storage: s.storage, users: s.users, audit: s.audit, signingKeys: s.signingKeys, now: s.now });
}
