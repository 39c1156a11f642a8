import { normalizeEmail } from '../accounts/email-addresses.js';
import { invalidValue } from '../errors.js';
import type { ClientRow } from './repo.js';

/**
 * A client's branding (SPEC §12; RFC 7591 §2's logo_uri, client_uri,
 * policy_uri, tos_uri, contacts): one set of rules for the REST API (camelCase),
 * the dashboard, dynamic registration and metadata documents (snake_case).
 */
export interface Branding {
  logoUri: string | null;
  clientUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
  contacts: string[];
}

export const BRANDING_URI_FIELDS = { logoUri: 'logo_uri', clientUri: 'client_uri', policyUri: 'policy_uri', tosUri: 'tos_uri' } as const;
type UriField = keyof typeof BRANDING_URI_FIELDS;

export const BRANDING_URI_MAX = 2048;
export const CONTACTS_MAX = 10;


/**
 * Why a branding URI is refused, or null. https only, as pages link to it and
 * the logo is fetched from it; plain http only where metadata documents may
 * be (CIMD_ALLOW_PRIVATE, development and tests), like SPEC §8's rule.
 */
export function brandingUriProblem(value: string, allowHttp: boolean): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute https URL';
  }
  if (/[\p{Cc}\s]/u.test(value)) return 'must not contain spaces or control characters';
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) return allowHttp ? 'must be an https or http URL' : 'must be an https URL';
  if (url.username || url.password) return 'must not contain a user name or password';
  if (value.length > BRANDING_URI_MAX) return `must be at most ${BRANDING_URI_MAX} characters`;
  return null;
}

/** Why a contacts list is refused, or null: e-mail addresses (RFC 5322 addr-spec, the accounts' strict rule). */
export function contactsProblem(contacts: readonly string[]): string | null {
  if (contacts.length > CONTACTS_MAX) return `may list at most ${CONTACTS_MAX} addresses`;
  for (const contact of contacts) {
    try {
      if (normalizeEmail(contact) !== contact) return `must hold e-mail addresses without surrounding spaces (${JSON.stringify(contact.slice(0, 60))})`;
    } catch {
      return `must hold e-mail addresses; ${JSON.stringify(contact.slice(0, 60))} is not one`;
    }
  }
  return null;
}

/** The REST API's fields (camelCase), checked; a problem is a 400 naming the field (SPEC §3). */
export function checkBrandingInput(input: Partial<Record<UriField, string | null>> & { contacts?: string[] }, allowHttp: boolean): Partial<Branding> {
  const checked: Partial<Branding> = {};
  for (const field of Object.keys(BRANDING_URI_FIELDS) as UriField[]) {
    const value = input[field];
    if (value === undefined) continue;
    // An empty string or null removes it (PATCH; the dashboard's empty field).
    if (value === null || value === '') {
      checked[field] = null;
      continue;
    }
    const problem = brandingUriProblem(value, allowHttp);
    if (problem) throw invalidValue(field, `${field} ${problem}.`);
    checked[field] = value;
  }
  if (input.contacts !== undefined) {
    const problem = contactsProblem(input.contacts);
    if (problem) throw invalidValue('contacts', `contacts ${problem}.`);
    checked.contacts = [...new Set(input.contacts)];
  }
  return checked;
}

/** The columns a branding (or part of one) is stored in. */
/**
 * A new client's branding, logo and operator columns: its branding as given (none: null), no logo fetched yet,
 * neither verified nor suspended. One place for every way a client row is made (created, registered, a
 * metadata document).
 */
export function newClientTrustColumns(branding: Partial<Branding>) {
  return {
    logo_uri: null,
    client_uri: null,
    policy_uri: null,
    tos_uri: null,
    contacts: null,
    ...brandingColumns(branding),
    logo_fetched_at: null,
    logo_problem: null,
    verified_at: null,
    verified_by: null,
    suspended_at: null,
    suspended_by: null,
  } satisfies Pick<ClientRow, 'logo_uri' | 'client_uri' | 'policy_uri' | 'tos_uri' | 'contacts' | 'logo_fetched_at' | 'logo_problem' | 'verified_at' | 'verified_by' | 'suspended_at' | 'suspended_by'>;
}

export function brandingColumns(branding: Partial<Branding>): Partial<Pick<ClientRow, 'logo_uri' | 'client_uri' | 'policy_uri' | 'tos_uri' | 'contacts'>> {
  const columns: Partial<Pick<ClientRow, 'logo_uri' | 'client_uri' | 'policy_uri' | 'tos_uri' | 'contacts'>> = {};
  for (const field of Object.keys(BRANDING_URI_FIELDS) as UriField[]) {
    if (branding[field] !== undefined) columns[BRANDING_URI_FIELDS[field]] = branding[field];
  }
  if (branding.contacts !== undefined) columns.contacts = branding.contacts.length ? JSON.stringify(branding.contacts) : null;
  return columns;
}

export function brandingOf(row: Pick<ClientRow, 'logo_uri' | 'client_uri' | 'policy_uri' | 'tos_uri' | 'contacts'>): Branding {
  return {
    logoUri: row.logo_uri ?? null,
    clientUri: row.client_uri ?? null,
    policyUri: row.policy_uri ?? null,
    tosUri: row.tos_uri ?? null,
    contacts: row.contacts ? (JSON.parse(row.contacts) as string[]) : [],
  };
}
