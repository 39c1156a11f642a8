import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A 1×1 PNG. */
export const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/**
 * A loopback site serving logos (SPEC §12 tests): /logo.png a real PNG; /fake.png SVG text labelled image/png (wrong
 * magic bytes); /big.png a PNG header padded past 100 KB; /client.json a client ID metadata document naming
 * /logo.png as its logo. Counts the requests each path got.
 */
export async function startLogoServer(): Promise<{ origin: string; hits: Map<string, number>; close(): Promise<void> }> {
  const hits = new Map<string, number>();
  const bodies: Record<string, Buffer> = {
    '/logo.png': PNG,
    '/fake.png': Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    '/big.png': Buffer.concat([PNG, Buffer.alloc(101 * 1024)]),
  };
  const server: Server = createServer((request, response) => {
    const path = request.url ?? '';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path === '/client.json') {
      const origin = `http://${request.headers.host}`;
      const document = { client_id: `${origin}/client.json`, client_name: 'Doc Agent', redirect_uris: ['http://127.0.0.1:9/callback'], logo_uri: `${origin}/logo.png`, client_uri: 'https://agent.example.com' };
      return response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' }).end(JSON.stringify(document));
    }
    const body = bodies[path];
    if (!body) return response.writeHead(404).end();
    response.writeHead(200, { 'content-type': 'image/png', 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { origin: `http://127.0.0.1:${port}`, hits, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
