import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { Server as NetServer } from 'node:net';

/*
 * Keep-alive connections while an instance stops (SHUTDOWN_DRAIN, SPEC §1).
 *
 * A proxy that sends a request on a connection the server is closing gets an
 * error after sending it, and must not retry a non-idempotent request on
 * another instance (RFC 9110 §9.2.2; nginx's proxy_next_upstream): its client
 * gets a 502. Closing an idle connection always races with a proxy about to
 * reuse it, so a draining instance closes none on its own: from the drain on,
 * every response says `Connection: close` (RFC 9112 §9.6) and the proxy,
 * having read it, retires that connection itself.
 *
 * A proxy that keeps sending through the drain (nginx has no active health
 * checks) then opens a new connection for each request, and closing the
 * listener resets those the kernel has queued but Node has not accepted yet
 * (under load, a dozen at a time: each a request already sent, a POST nginx
 * cannot retry). So the drain's last moment answers with keep-alive again:
 * the proxy reuses what it holds and opens (almost) none; the listener closes
 * on an empty queue (closeListener); from then on responses say `close`
 * again, the proxy's next new connection is refused and retried elsewhere.
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

/**
 * Stops listening without closing the idle connections at once, and resolves when the last connection is gone.
 *
 * Node's http `server.close()` closes idle connections in the same step, and a connection accepted a moment
 * ago is idle until its request has been parsed: destroying it resets a request the proxy already sent, a
 * `POST` it must not retry elsewhere (a 502; seen under load in the rolling-restart test). So the listener
 * closes first (new connections are refused, which a proxy retries on another instance), the connections
 * accepted get `graceMs` to deliver their request (answered with `Connection: close`), and only those
 * still idle then are closed.
 */
export function closeListener(server: Server, graceMs = 1000): Promise<void> {
  const gone = new Promise<void>((resolve) => {
    // net.Server's own close: the listener only. Its callback runs once no connection is left.
    NetServer.prototype.close.call(server, () => resolve());
  });
  const timer = setTimeout(() => server.closeIdleConnections(), graceMs);
  return gone.finally(() => clearTimeout(timer));
}
