import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Where Serika may connect on a stranger's say-so (a client ID metadata
 * document URL): only to globally routable unicast addresses, never to
 * loopback, private, link-local (cloud metadata at 169.254.169.254),
 * carrier-grade NAT, reserved or IPv4-embedding ranges ('public'). For
 * development and tests, 'any' adds every address but unspecified, multicast
 * and broadcast, and 'private' is those without the public ones (plain http
 * is only ever allowed there).
 */
export type Reach = 'public' | 'any' | 'private';

export function mayConnectTo(address: string, reach: Reach): boolean {
  if (!ipaddr.isValid(address)) return false;
  const range = ipaddr.process(address).range();
  if (range === 'unicast') return reach !== 'private';
  return reach !== 'public' && range !== 'unspecified' && range !== 'multicast' && range !== 'broadcast';
}

export class AddressRefused extends Error {
  readonly code = 'EADDRREFUSED';
}

/**
 * A `lookup` for net/tls connect that resolves the name, refuses it when any
 * of its addresses is not one we may reach, and hands the connection exactly
 * the addresses it checked: the socket connects to what was verified, so a
 * second, rebinding DNS answer never gets a say.
 */
export function guardedLookup(reach: Reach): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      const refused = addresses.find((a) => !mayConnectTo(a.address, reach));
      if (addresses.length === 0 || refused) {
        return callback(new AddressRefused(`${hostname} resolves to ${refused?.address ?? 'no address'}, which is not ${reach === 'private' ? 'a private' : 'a public'} address`), '', 0);
      }
      // Node's happy-eyeballs connect asks for every address (all: true); a plain connect for one.
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/** An IP literal host (brackets stripped) is checked at once: no lookup happens for it. */
export function literalAddress(hostname: string): string | null {
  const bare = hostname.replace(/^\[|\]$/g, '');
  return isIP(bare) ? bare : null;
}
