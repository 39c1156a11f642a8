import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { until } from './until.js';

export interface ReceivedMail {
  to: string[];
  /** The whole message as sent, quoted-printable decoded (a link is whole in it). */
  raw: string;
  subject: string;
}

export interface TestSmtp {
  port: number;
  url: string;
  received: ReceivedMail[];
  /** Waits for the `n`th message to `to` (1-based) and returns it. */
  nextTo(to: string, n?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

/** RFC 2045 §6.7: soft line breaks (=CRLF) go, =XX becomes its byte. */
function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/**
 * A real SMTP server (the `smtp-server` package) on 127.0.0.1 that keeps
 * what it receives. `port` to listen on a given port (an outage that ends);
 * `reject` answers every message with that SMTP reply code.
 */
export async function startSmtp(options: { port?: number; reject?: number } = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (options.reject) {
          const error = Object.assign(new Error('Mailbox unavailable'), { responseCode: options.reject });
          callback(error);
          return;
        }
        const raw = decodeQuotedPrintable(Buffer.concat(chunks).toString('latin1'));
        received.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, subject: /^Subject: (.*)$/m.exec(raw)?.[1]?.trim() ?? '' });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    nextTo: (to, n = 1) =>
      until(() => received.filter((m) => m.to.some((r) => r.toLowerCase() === to.toLowerCase()))[n - 1], { timeoutMs: 15_000, message: `message ${n} to ${to}` }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first link to `path` under `origin` in a message, with its token. */
export function linkIn(mail: ReceivedMail, path: string): URL {
  const match = new RegExp(`https?://[^\\s"<>]+${path.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_-]{43}`).exec(mail.raw);
  if (!match) throw new Error(`no ${path} link in ${mail.raw}`);
  return new URL(match[0]);
}
