import type { FastifyBaseLogger } from 'fastify';
import { createTransport } from 'nodemailer';
import type { MailMessage } from './message.js';

/** Where a message goes: the SMTP server, or (no SMTP_URL) one log line. */
export interface MailTransport {
  /** log: the worker's logger (the log transport writes there). */
  send(message: MailMessage, log: FastifyBaseLogger | null): Promise<void>;
  close(): void;
}

/** A failure the SMTP server will answer the same way however often it is tried (a 5xx reply: RFC 5321 §4.2.1). */
export function isPermanent(error: unknown): boolean {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

const TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 };

/** SMTP_URL through nodemailer: with timeouts so a silent server fails an attempt rather than holding it. */
export function smtpTransport(url: string, from: string): MailTransport {
  // nodemailer reads options from the URL's query: ours unless the operator's URL sets its own.
  const withTimeouts = new URL(url);
  for (const [name, ms] of Object.entries(TIMEOUTS)) if (!withTimeouts.searchParams.has(name)) withTimeouts.searchParams.set(name, String(ms));
  const transport = createTransport(withTimeouts.href, { from });
  return {
    async send(message) {
      // An address object, not a string: nodemailer would parse a string as a list of name-addrs (RFC 5322 §3.4).
      await transport.sendMail({ from, to: { name: '', address: message.to }, subject: message.subject, text: message.text, html: message.html });
    },
    close: () => transport.close(),
  };
}

/**
 * No SMTP_URL (SPEC §1): each message is one `mail` log line with its
 * recipient, subject and text, so `npm start` works with no mail server and a
 * developer follows the link from the log. Written at info by a child with a
 * level of its own, like audit lines: LOG_LEVEL never hides it.
 */
export function logTransport(): MailTransport {
  return {
    send(message, log) {
      log
        ?.child({}, { level: 'info' })
        .info({ mail: { to: message.to, subject: message.subject, text: message.text } }, 'mail');
      return Promise.resolve();
    },
    close: () => {},
  };
}
