/** The webhook event types of SPEC §13, in the order the docs list them. */
export const WEBHOOK_EVENT_TYPES = ['grant.revoked', 'tokens.revoked', 'user.deleted', 'budget.threshold', 'budget.changed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** A test event (the dashboard's "Send test event") goes to the webhook whatever it subscribed to. */
export const TEST_EVENT_TYPE = 'webhook.test';

/** Why a grant ended (SPEC §13 grant.revoked's reason). */
export type GrantRevokedReason = 'user' | 'admin' | 'client_changed';

/** The stored form of a client's selection: space-separated, or null for every type. */
export function formatWebhookEvents(types: readonly string[] | undefined | null): string | null {
  if (!types || WEBHOOK_EVENT_TYPES.every((t) => types.includes(t))) return null;
  return WEBHOOK_EVENT_TYPES.filter((t) => types.includes(t)).join(' ');
}

export function parseWebhookEvents(stored: string | null): WebhookEventType[] {
  if (stored === null) return [...WEBHOOK_EVENT_TYPES];
  const chosen = stored.split(' ');
  return WEBHOOK_EVENT_TYPES.filter((t) => chosen.includes(t));
}

/** The retry schedule of SPEC §13: after the first try, these waits, then failed. */
export const RETRY_SCHEDULE_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000] as const;

/**
 * When an event whose try number `attempts + 1` just failed (at `now`) is tried again: after the schedule's wait
 * for that try, or never (null: it has failed) once the schedule is spent — 8 tries in all with SPEC §13's.
 */
export function nextAttemptAt(attempts: number, now: number, schedule: readonly number[] = RETRY_SCHEDULE_MS): number | null {
  const wait = schedule[attempts];
  return wait === undefined ? null : now + wait;
}
