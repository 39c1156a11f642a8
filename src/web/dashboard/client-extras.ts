import type { Client } from '../../clients/service.js';
import type { RecordedClientError } from '../../clients/recent-errors.js';
import { RECENT_ERRORS_KEPT } from '../../clients/recent-errors.js';
import { createClientBody } from '../../clients/schemas.js';
import { field } from '../../http/form-body.js';
import { html, type Html } from '../html.js';
import { appLogo } from '../views/app-identity.js';
import { describedBy, fieldError, when } from './common.js';

/** The branding fields of the client form (SPEC §12), as typed. */
export interface BrandingForm {
  logoUri: string;
  clientUri: string;
  policyUri: string;
  tosUri: string;
  contacts: string[];
}

const LIMITS = createClientBody.properties;

/** The form's field for each API field, where its error is shown. */
export const BRANDING_FIELD_OF: Record<string, string> = { logoUri: 'logo_uri', clientUri: 'client_uri', policyUri: 'policy_uri', tosUri: 'tos_uri', contacts: 'contacts' };

export function readBrandingForm(body: unknown): BrandingForm {
  return {
    logoUri: field(body, 'logo_uri')?.trim() ?? '',
    clientUri: field(body, 'client_uri')?.trim() ?? '',
    policyUri: field(body, 'policy_uri')?.trim() ?? '',
    tosUri: field(body, 'tos_uri')?.trim() ?? '',
    contacts: (field(body, 'contacts') ?? '').split(/[\s,]+/).filter(Boolean),
  };
}

export function brandingFormOf(client: Client | null): BrandingForm {
  return { logoUri: client?.logoUri ?? '', clientUri: client?.clientUri ?? '', policyUri: client?.policyUri ?? '', tosUri: client?.tosUri ?? '', contacts: client?.contacts ?? [] };
}

/** The API's fields: an empty one removes what the client had. */
export function brandingApiFields(form: BrandingForm) {
  return { logoUri: form.logoUri || null, clientUri: form.clientUri || null, policyUri: form.policyUri || null, tosUri: form.tosUri || null, contacts: form.contacts };
}

const LOGO_ERRORS = {
  not_an_image: 'The logo URL did not give a PNG, JPEG or WebP image, so the app shows its initial instead.',
  too_large: 'The logo is larger than 100 KB, so the app shows its initial instead.',
  unavailable: 'The logo could not be fetched (Serika fetches it once, from a public address, without redirects), so the app shows its initial instead.',
} as const;

function uriInput(id: string, label: string, value: string, hint: string, errors: Record<string, string>): Html {
  return html`<label for="${id}">${label}</label>
    <input type="url" id="${id}" name="${id}" inputmode="url" maxlength="${LIMITS.logoUri.maxLength}" value="${value}"${describedBy(id, errors, `${id}-hint`)}>
    <p class="hint" id="${id}-hint">${hint}</p>
    ${fieldError(id, errors)}`;
}

/** "How users see your app": logo, homepage, privacy policy, terms and contacts. */
export function brandingFieldset(form: BrandingForm, errors: Record<string, string>, client: Client | null): Html {
  const logoError = client?.logoError ?? null;
  return html`<fieldset><legend>How users see your app</legend>
    ${client ? html`<div class="app-identity">${appLogo(client)}<p class="hint">${logoError ? LOGO_ERRORS[logoError] : client.logoUrl ? 'The logo Serika fetched, as the consent page shows it.' : 'No logo: the consent page shows the initial.'}</p></div>` : ''}
    ${uriInput('logo_uri', 'Logo URL', form.logoUri, 'https. A PNG, JPEG or WebP of at most 100 KB, fetched once when you save it and served by Serika.', errors)}
    ${uriInput('client_uri', 'Homepage', form.clientUri, 'https. The consent page shows its host.', errors)}
    ${uriInput('policy_uri', 'Privacy policy URL', form.policyUri, 'https. Linked from the consent page.', errors)}
    ${uriInput('tos_uri', 'Terms of service URL', form.tosUri, 'https. Linked from the consent page.', errors)}
    <label for="contacts">Contacts</label>
    <textarea id="contacts" name="contacts" rows="2"${describedBy('contacts', errors, 'contacts-hint')}>${form.contacts.join('\n')}</textarea>
    <p class="hint" id="contacts-hint">E-mail addresses of the people responsible for the app, one per line (at most ${LIMITS.contacts.maxItems}).</p>
    ${fieldError('contacts', errors)}
  </fieldset>`;
}

/** The owner's "Recent errors" (SPEC §12): what the app was told, never a secret or code. */
export function recentErrorsCard(errors: RecordedClientError[]): Html {
  return html`<div class="card" id="recent-errors"><h2>Recent errors</h2>
  <p class="hint">The last ${RECENT_ERRORS_KEPT} authorization and token errors of this client, newest first: what your app was told.</p>
  ${
    errors.length === 0
      ? html`<p class="muted">No errors.</p>`
      : html`<div class="table-wrap"><table class="recent-errors"><thead><tr><th>Time</th><th>Endpoint</th><th>error</th><th>error_description</th><th>Redirect URI</th></tr></thead><tbody>
    ${errors.map((e) => html`<tr><td>${when(e.at)}</td><td>${e.endpoint}</td><td><code>${e.error}</code></td><td>${e.description ?? ''}</td><td class="mono">${e.redirectUri ?? ''}</td></tr>`)}
  </tbody></table></div>`
  }
</div>`;
}
