import { describe, expect, it } from 'vitest';
import { mayConnectTo } from '../../src/security/public-address.js';

describe('addresses a metadata document may be fetched from', () => {
  it.each(['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '::1', 'fe80::1', 'fc00::1', '100.64.0.1', '0.0.0.0', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '224.0.0.1', 'not an ip'])(
    'never %s on the public setting',
    (address) => {
      expect(mayConnectTo(address, 'public')).toBe(false);
    },
  );

  it('public unicast addresses only; private only with the development setting, and http only there', () => {
    expect(mayConnectTo('93.184.216.34', 'public')).toBe(true);
    expect(mayConnectTo('2606:4700::1', 'public')).toBe(true);
    expect(mayConnectTo('127.0.0.1', 'any')).toBe(true);
    expect(mayConnectTo('93.184.216.34', 'private')).toBe(false);
    expect(mayConnectTo('10.1.1.1', 'private')).toBe(true);
    expect(mayConnectTo('0.0.0.0', 'any')).toBe(false);
  });
});
