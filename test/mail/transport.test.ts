import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smtpTransport, type MailTransport } from '../../src/mail/transport.js';
import { startSmtp, type TestSmtp } from '../helpers/smtp.js';

const message = (to: string) => ({ to, subject: 'Hello', text: 'text', html: '<p>html</p>' });

/**
 * The SMTP transport hands nodemailer the recipient as an address object: a
 * string would be parsed as an address list (RFC 5322 §3.4), so an address
 * stored before the strict check could name another mailbox, or several.
 */
describe('the SMTP transport', () => {
  let smtp: TestSmtp;
  let transport: MailTransport;

  beforeAll(async () => {
    smtp = await startSmtp();
    transport = smtpTransport(smtp.url, 'Serika <no-reply@example.com>');
  });
  afterAll(async () => {
    transport?.close();
    await smtp?.close();
  });

  it('delivers to the address given', async () => {
    await transport.send(message('someone@example.com'), null);
    expect(smtp.received.at(-1)?.to).toEqual(['someone@example.com']);
  });

  it.each(['victim<attacker@evil.com>', 'a,attacker@evil.com', 'victim@example.com, attacker@evil.com', '"x" <attacker@evil.com>'])(
    'never reads %j as another recipient or a list',
    async (to) => {
      const before = smtp.received.length;
      // The server may refuse such an envelope address: either way nothing reaches another mailbox.
      await transport.send(message(to), null).catch(() => undefined);
      const recipients = smtp.received.slice(before).flatMap((m) => m.to);
      expect(recipients).not.toContain('attacker@evil.com');
      expect(recipients.length).toBeLessThanOrEqual(1);
    },
  );
});
