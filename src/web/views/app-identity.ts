import { isLoopbackUri } from '../../clients/loopback-uris.js';
import { redirectUriHost as destination } from '../../clients/redirect-uris.js';
import type { RegisteredClient } from '../../clients/service.js';
import { html, type Html } from '../html.js';

/** Who stands behind an app, as the consent and device pages show it (SPEC §12). */
export interface AppIdentity {
  client: RegisteredClient;
  /** The owner's username; null for an ownerless client. */
  ownerName: string | null;
  /** How many users have allowed it. */
  allowedBy: number;
  /** OPERATOR_NAME, who verifies apps. */
  operatorName: string;
}

function hostOf(uri: string): string | null {
  try {
    return new URL(uri).host;
  } catch {
    return null;
  }
}

function day(iso: string): string {
  return new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}

/** The logo Serika fetched and serves itself (the pages' CSP allows images from 'self' only), else the name's initial. */
export function appLogo(client: Pick<RegisteredClient, 'name' | 'logoUrl'>): Html {
  if (client.logoUrl !== null) return html`<img class="app-logo" src="${client.logoUrl}" alt="" width="48" height="48">`;
  return html`<span class="app-logo placeholder" aria-hidden="true">${[...client.name.trim()][0]?.toUpperCase() ?? '?'}</span>`;
}

function registeredBy(view: AppIdentity): Html {
  const { client } = view;
  if (view.ownerName !== null) return html`Registered by <strong>${view.ownerName}</strong>`;
  if (client.kind === 'metadata_document') return html`Described by its metadata document at <span class="mono">${destination(client.clientId)}</span>`;
  return html`Self-registered`;
}

function people(count: number): string {
  if (count === 0) return 'Nobody has allowed it yet';
  return `Allowed by ${count.toLocaleString('en-US')} ${count === 1 ? 'person' : 'people'}`;
}

/**
 * The app's card: logo, homepage host, who registered it and when, how many
 * people allowed it, its policy and terms, and whether the operator verified
 * it. Unverified apps, user-owned ones too, say so; an ownerless one adds how
 * it came (SPEC §8), and a warning when it can only return to this computer.
 */
export function appIdentity(view: AppIdentity): Html {
  const { client } = view;
  const home = client.clientUri === null ? null : hostOf(client.clientUri);
  const links = [
    client.policyUri === null ? null : html`<a href="${client.policyUri}" rel="noopener noreferrer" target="_blank">Privacy policy</a>`,
    client.tosUri === null ? null : html`<a href="${client.tosUri}" rel="noopener noreferrer" target="_blank">Terms of service</a>`,
  ].filter((link): link is Html => link !== null);
  const loopbackOnly = view.ownerName === null && client.redirectUris.length > 0 && client.redirectUris.every(isLoopbackUri);
  return html`<div class="app-identity">
  ${appLogo(client)}
  <div>
    ${home === null ? '' : html`<p class="muted"><a href="${client.clientUri}" rel="noopener noreferrer" target="_blank" class="mono">${home}</a></p>`}
    <p class="muted">${registeredBy(view)} · ${client.kind === 'metadata_document' ? 'first seen' : 'since'} ${day(client.createdAt)} · ${people(view.allowedBy)}</p>
    ${links.length ? html`<p class="muted">${links.map((link, i) => html`${i ? ' · ' : ''}${link}`)}</p>` : ''}
  </div>
</div>
${
  client.verifiedAt !== null
    ? html`<p class="notice verified" role="note"><strong>Verified by ${view.operatorName}</strong></p>`
    : html`<div class="notice warning" role="note">
    <p><strong>${client.kind === 'registered' ? 'Unverified app. ' : ''}Serika has not verified this app.</strong>
    ${client.kind === 'registered' ? 'It registered itself; nobody has checked who made it. ' : ''}Allow it only if you started this sign-in and trust it.</p>
    ${loopbackOnly ? html`<p>This app can only send you back to a program on this computer (<span class="mono">${destination(client.redirectUris[0] ?? '')}</span>). If you did not just start it yourself, choose Deny.</p>` : ''}
  </div>`
}`;
}
