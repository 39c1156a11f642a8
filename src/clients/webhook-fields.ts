import { randomBytes } from 'node:crypto';
import { invalidValue } from '../errors.js';
import type { KeyEncryption } from '../security/key-encryption.js';
import { sealContext, WEBHOOK_SECRETS_COLUMN } from '../security/sealed-columns.js';
import { targetUrlProblem } from '../security/target-url.js';

/** What the clients domain needs for the fields of SPEC §13. */
export interface WebhookSettings {
  encryption: KeyEncryption;
  /** WEBHOOKS_ALLOW_PRIVATE. */
  allowPrivate: boolean;
}

/** A Standard Webhooks secret: whsec_ and 32 random bytes, base64 (the form its libraries take). */
export function newWebhookSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}

export function sealWebhookSecret(settings: WebhookSettings, clientId: string, secret: string): string {
  return settings.encryption.seal(secret, sealContext(WEBHOOK_SECRETS_COLUMN, clientId));
}

export function openWebhookSecret(settings: WebhookSettings, clientId: string, stored: string): string {
  return settings.encryption.open(stored, sealContext(WEBHOOK_SECRETS_COLUMN, clientId));
}

/** A webhook or back-channel logout URL as given (null clears it), checked now: SPEC §13, https and public unless WEBHOOKS_ALLOW_PRIVATE. */
export async function checkTargetUrl(settings: WebhookSettings, field: 'webhookUrl' | 'backchannelLogoutUri', value: string | null): Promise<string | null> {
  if (value === null) return null;
  const problem = await targetUrlProblem(value, settings.allowPrivate);
  if (problem) throw invalidValue(field, `${field} ${problem}.`);
  return value;
}
