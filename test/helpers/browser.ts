import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

if (!HAVE_CHROMIUM) console.warn(`[serika tests] ${CHROMIUM} not found: browser suites are skipped (apt-get install -y chromium).`);

/** Debian's Chromium, headless, with the flags this closed network needs (DEVELOPERS.md). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A loopback "app" that records every callback it receives, as a native or CLI app would. */
export interface CallbackServer {
  origin: string;
  received: URL[];
  next(): Promise<URL>;
  close(): Promise<void>;
}

export async function startCallbackServer(): Promise<CallbackServer> {
  const received: URL[] = [];
  const waiters: Array<(url: URL) => void> = [];
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    if (url.pathname !== '/callback') {
      response.writeHead(404).end(); // the browser's favicon request is not a callback
      return;
    }
    received.push(url);
    waiters.shift()?.(url);
    response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>App</title><p>Signed in. You can close this window.</p>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    received,
    next: () => new Promise<URL>((resolve) => waiters.push(resolve)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
