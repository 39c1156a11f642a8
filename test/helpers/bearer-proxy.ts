import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A local HTTP proxy in front of a server: everything passes unchanged, and requests to `path` get a bearer token. */
export interface BearerProxy {
  /** http://127.0.0.1:<port> */
  origin: string;
  /** Where requests go from now on (the proxy can be started before the server it fronts). */
  target: string;
  token: string;
  close(): Promise<void>;
}

/**
 * For a client that cannot send a bearer token (the conformance runner's server mode sends none):
 * requests for `path` that carry no Authorization header get `Bearer <token>`; nothing else is
 * touched, so Host, Origin and every other header reach the server as the client sent them.
 */
export async function startBearerProxy(path: string): Promise<BearerProxy> {
  const server: Server = createServer((incoming, outgoing) => {
    const headers = { ...incoming.headers };
    if (new URL(incoming.url!, 'http://x').pathname === path && headers.authorization === undefined && proxy.token) headers.authorization = `Bearer ${proxy.token}`;
    // A connection per request (agent: false), ended with the client's: a stream the client left
    // (an SSE listen stream) must not keep the server from closing.
    const upstream = request(proxy.target + incoming.url, { method: incoming.method, headers, agent: false }, (answer) => {
      outgoing.writeHead(answer.statusCode!, answer.rawHeaders);
      answer.pipe(outgoing);
    });
    upstream.on('error', () => outgoing.destroy());
    outgoing.on('close', () => upstream.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: BearerProxy = {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    target: '',
    token: '',
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
