import { describe, expect, it } from 'vitest';
import { normalizeEmail } from '../../src/accounts/email-addresses.js';

/** Only a plain addr-spec (RFC 5322 §3.4.1): nothing a mailer would read as a name, a comment, a group or a list. */
describe('normalizeEmail', () => {
  it.each(['a@example.com', 'First.Last+tag@mail.example.co.uk', "o'brien@example.org", 'x_y-z@sub-domain.example', '  padded@example.com  ', 'ü@exämple.de'])(
    'accepts %j',
    (email) => {
      expect(normalizeEmail(email)).toBe(email.trim());
    },
  );

  it.each([
    'victim<attacker@evil.com>',
    'a,attacker@evil.com',
    'a;attacker@evil.com',
    'group:attacker@evil.com',
    '"quoted"@example.com',
    'a(comment)@example.com',
    'a@[127.0.0.1]',
    'back\\slash@example.com',
    'two words@example.com',
    'tab\t@example.com',
    'nul\u0000@example.com',
    'a@b@example.com',
    'no-at.example.com',
    'a@localhost',
    'a@.example.com',
    'a@example.com.',
    'a@example..com',
    '@example.com',
    `${'l'.repeat(65)}@example.com`,
    `a@${'d'.repeat(252)}.com`,
  ])('refuses %j', (email) => {
    expect(() => normalizeEmail(email)).toThrow('That email address is not valid.');
  });

  it('treats an empty address as none', () => {
    expect(normalizeEmail('  ')).toBeNull();
    expect(normalizeEmail(undefined)).toBeNull();
  });
});
