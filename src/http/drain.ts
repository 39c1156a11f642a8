import { ServerResponse, type IncomingMessage, type Server } from 'node:http';

/*
 * Keep-alive connections while an instance stops (SHUTDOWN_DRAIN, SPEC §1).
 *
 * A proxy that sends a request on a connection the server is closing gets an
 * error after sending it, and must not retry a non-idempotent request on
 * another instance (RFC 9110 §9.2.2; nginx's proxy_next_upstream): its client
 * gets a 502. Closing an idle connection always races with a proxy about to
 * reuse it, so a draining instance closes none on its own: from the drain on,
 * every response says `Connection: close` (RFC 9112 §9.6) and the proxy,
 * having read it, retires that connection itself. A proxy that keeps sending
 * through the drain (nginx has no active health checks) has retired them all
 * by its end; those still idle then close with the listener (server.close()).
 */

/**
 * The ServerResponse class of a server whose responses say `Connection: close`
 * once `draining()` is true, including those of requests that arrived before
 * (their headers are written later). Node then closes the connection after the
 * response.
 */
export function drainAwareResponse(draining: () => boolean): typeof ServerResponse {
  return class DrainAwareResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
    // Every response's head passes here: ServerResponse writes an implicit head through writeHead too.
    override writeHead(...args: unknown[]): this {
      if (draining()) this.shouldKeepAlive = false;
      return super.writeHead(...(args as Parameters<ServerResponse['writeHead']>));
    }
  };
}

/**
 * From now on a connection left idle closes after `idleMs` (Node's keep-alive timeout, applied when a
 * response ends): those whose response said `keep-alive` before the drain began (a stream that outlived
 * it) close soon instead of holding the stop until SHUTDOWN_TIMEOUT.
 */
export function shortenKeepAlive(server: Server, idleMs = 1000): void {
  server.keepAliveTimeout = Math.min(server.keepAliveTimeout, idleMs);
}
