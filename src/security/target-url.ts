import { lookup } from 'node:dns/promises';
import { literalAddress, mayConnectTo, type Reach } from './public-address.js';

/**
 * Where Serika POSTs on an app's say-so (webhooks, back-channel logout; SPEC
 * §13): https to public addresses, or, with allowPrivate (WEBHOOKS_ALLOW_PRIVATE),
 * http or https to private ones too. The same reach as metadata documents
 * (clients/fetch-document.ts), so the same guarded lookup connects.
 */
export function targetReach(url: URL, allowPrivate: boolean): Reach {
  if (url.protocol === 'http:') return 'private';
  return allowPrivate ? 'any' : 'public';
}

/** Why a URL may not be a webhook or logout target, or null when it may (its host resolved now; each delivery checks again). */
export async function targetUrlProblem(value: string, allowPrivate: boolean): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (value.length > 2000) return 'must be at most 2000 characters';
  if (url.hash !== '' || value.includes('#')) return 'must not have a fragment';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowPrivate)) {
    return allowPrivate ? 'must be https, or http to a private address' : 'must be https';
  }
  const reach = targetReach(url, allowPrivate);
  const literal = literalAddress(url.hostname);
  const addresses = literal !== null ? [literal] : await resolve(url.hostname);
  if (addresses === null) return `has a host name that does not resolve (${url.hostname})`;
  const refused = addresses.find((a) => !mayConnectTo(a, reach));
  if (refused !== undefined) {
    return reach === 'private'
      ? `points at ${refused}, which is not a private address (plain http is only for private addresses)`
      : `points at ${refused}, which is not a public address${allowPrivate ? '' : ' (WEBHOOKS_ALLOW_PRIVATE is off)'}`;
  }
  return null;
}

async function resolve(hostname: string): Promise<string[] | null> {
  try {
    const found = await lookup(hostname, { all: true });
    return found.length > 0 ? found.map((a) => a.address) : null;
  } catch {
    return null;
  }
}
