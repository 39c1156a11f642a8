import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dialect } from '../../src/storage/database.js';
import { seedUser, startTestServer, type Seeded, type TestServer } from './server.js';

interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** What the receiver answers a request with: a status, and headers (a redirect's location). 'hang' never answers. */
type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface Receiver {
  /** http://127.0.0.1:PORT */
  origin: string;
  received: Received[];
  /** Answers each request; 204 by default. */
  answer: (request: Received) => Answer;
  close(): Promise<void>;
}

async function read(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** An app's webhook and back-channel logout endpoint on loopback, recording everything it was sent. */
export async function startReceiver(): Promise<Receiver> {
  const hanging = new Set<ServerResponse>();
  const receiver: Receiver = {
    origin: '',
    received: [],
    answer: () => ({ status: 204 }),
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer((request, response) => {
    void read(request).then((body) => {
      const entry: Received = { path: request.url ?? '/', headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k, String(v)])), body };
      receiver.received.push(entry);
      const answer = receiver.answer(entry);
      if (answer === 'hang') {
        hanging.add(response);
        return;
      }
      response.writeHead(answer.status, answer.headers ?? {});
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return receiver;
}

/** A server whose apps may send events to loopback (WEBHOOKS_ALLOW_PRIVATE), a receiver, and a developer to own them. */
export interface EventsBed {
  ts: TestServer;
  receiver: Receiver;
  developer: Seeded;
  close(): Promise<void>;
}

export async function startEventsBed(dialect: Dialect): Promise<EventsBed> {
  const ts = await startTestServer(dialect, { WEBHOOKS_ALLOW_PRIVATE: 'true', RATE_LIMIT_TOKEN: '0', RATE_LIMIT_LOGIN: '0', KEY_ENCRYPTION_SECRETS: 'k'.repeat(32) });
  const receiver = await startReceiver();
  const developer = await seedUser(ts);
  return {
    ts,
    receiver,
    developer,
    async close() {
      await receiver.close();
      await ts.close();
    },
  };
}
