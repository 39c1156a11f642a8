import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MailOutbox } from '../../src/mail/outbox.js';
import { smtpTransport } from '../../src/mail/transport.js';
import { MailWorker } from '../../src/mail/worker.js';
import { openStorage, type Storage } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrate.js';
import { DIALECTS, createTestDatabase, dialectAvailable, type TestDatabase } from '../helpers/databases.js';
import { freePort } from '../../src/server.js';
import { startSmtp } from '../helpers/smtp.js';
import { until } from '../helpers/until.js';

const FROM = 'Serika <no-reply@localhost>';
const silent = pino({ level: 'silent' });
const message = (to: string, n: number) => ({ to, subject: `Message ${n}`, text: `text ${n}`, html: `<p>html ${n}</p>` });

/**
 * The mail outbox (SPEC §11): rows written by a change, sent by workers on
 * every instance, each once; a message written while the SMTP server is down
 * goes when it is back; a 5xx reply gives a message up, kept.
 */
describe.each(DIALECTS)('the mail outbox (%s)', (dialect) => {
  let database: TestDatabase;
  let storage: Storage;
  let outbox: MailOutbox;
  const workers: MailWorker[] = [];
  const worker = (smtpUrl: string) => {
    const w = new MailWorker(outbox, smtpTransport(smtpUrl, FROM), { pollMs: 50, retryBaseMs: 100 });
    workers.push(w);
    return w;
  };
  const rows = () => storage.db.selectFrom('mail_outbox').selectAll().execute();

  beforeAll(async () => {
    if (!dialectAvailable(dialect)) return;
    database = await createTestDatabase(dialect);
    storage = openStorage(database.url);
    await migrateToLatest(storage);
    outbox = new MailOutbox(storage.db);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await storage?.close();
    await database?.cleanup();
  });

  describe.skipIf(!dialectAvailable(dialect))('every dialect', () => {
    it('sends a message written while the SMTP server was down once it is back, and clears its body', async () => {
      const port = await freePort('127.0.0.1');
      const to = `down-${dialect}@example.com`;
      await outbox.enqueue(storage.db, message(to, 1));
      const w = worker(`smtp://127.0.0.1:${port}`);
      w.start(silent);
      // Nothing listens: the attempt fails and is scheduled again.
      const failed = await until(async () => (await rows()).find((r) => r.recipient === to && r.attempts >= 1), { message: 'a failed attempt' });
      expect(failed).toMatchObject({ state: 'pending', sent_at: null });
      expect(failed.last_error).toBeTruthy();
      const smtp = await startSmtp({ port });
      try {
        const mail = await smtp.nextTo(to);
        expect(mail.subject).toBe('Message 1');
        expect(mail.raw).toContain('text 1');
        expect(mail.raw).toContain('<p>html 1</p>');
        const sent = await until(async () => (await rows()).find((r) => r.recipient === to && r.state === 'sent'), { message: 'the row marked sent' });
        expect(sent).toMatchObject({ text_body: '', html_body: '' });
        expect(sent.sent_at).toBeGreaterThan(0);
      } finally {
        await w.close();
        await smtp.close();
      }
    });

    it('sends each message once when two instances run workers on one database', async () => {
      const smtp = await startSmtp();
      try {
        const to = `pair-${dialect}@example.com`;
        const a = worker(smtp.url);
        const b = worker(smtp.url);
        a.start(silent);
        b.start(silent);
        for (let n = 0; n < 30; n++) {
          await outbox.enqueue(storage.db, message(to, n));
          // Both hear of every message at once, as each instance polls (the race the claim decides).
          a.wake();
          b.wake();
        }
        await smtp.nextTo(to, 30);
        await until(async () => (await rows()).filter((r) => r.recipient === to && r.state === 'sent').length === 30, { message: 'every row sent' });
        // A moment for any duplicate still in flight to arrive: the point is that none does.
        await new Promise((resolve) => setTimeout(resolve, 300));
        const subjects = smtp.received.filter((m) => m.to.includes(to)).map((m) => m.subject);
        expect(subjects).toHaveLength(30);
        expect(new Set(subjects).size).toBe(30);
        await Promise.all([a.close(), b.close()]);
      } finally {
        await smtp.close();
      }
    });

    it('gives a message up on a permanent (5xx) refusal, and keeps it with the error', async () => {
      const smtp = await startSmtp({ reject: 550 });
      try {
        const to = `refused-${dialect}@example.com`;
        await outbox.enqueue(storage.db, message(to, 1));
        const w = worker(smtp.url);
        w.start(silent);
        const row = await until(async () => (await rows()).find((r) => r.recipient === to && r.state === 'failed'), { message: 'the row given up' });
        expect(row).toMatchObject({ attempts: 1, text_body: '', html_body: '' });
        expect(row.last_error).toMatch(/550/);
        await w.close();
      } finally {
        await smtp.close();
      }
    });

    it('stops on close: a message queued afterwards stays pending for the next start', async () => {
      const smtp = await startSmtp();
      try {
        const w = worker(smtp.url);
        w.start(silent);
        await w.close();
        const to = `closed-${dialect}@example.com`;
        await outbox.enqueue(storage.db, message(to, 1));
        w.wake();
        await new Promise((resolve) => setTimeout(resolve, 200)); // a window in which nothing must be sent
        expect((await rows()).find((r) => r.recipient === to)?.state).toBe('pending');
        expect(smtp.received).toHaveLength(0);
      } finally {
        await smtp.close();
      }
    });
  });
});
