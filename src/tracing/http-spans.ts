import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Started, Tracing } from './tracing.js';

/**
 * One SERVER span per request (OpenTelemetry's HTTP conventions): named by
 * method and route pattern (`POST /api/openai/v1/oauth/token`; the method
 * alone when no route matched), so IDs never make names; the path without its
 * query (which carries codes and state), the request id (`serika.request_id`,
 * the `reqId` of the log lines and the `X-Request-Id` answered), the status; a
 * 5xx fails the span. A `traceparent` header from the caller makes it part of
 * the caller's trace. Registered before any other hook, so what the request
 * does (its hooks, handler, statements, upstream call) runs below it: the span
 * is made active at the first hook, and again once the body has been read,
 * so the handler runs in it however the body's events were scheduled.
 */
export function traceRequests(app: FastifyInstance, tracing: Tracing, untraced: (path: string) => boolean): void {
  const open = new WeakMap<FastifyRequest, Started>();

  app.addHook('onRequest', (request, _reply, done) => {
    const query = request.url.indexOf('?');
    const path = query === -1 ? request.url : request.url.slice(0, query);
    if (untraced(path)) return done();
    const route = request.routeOptions.url;
    const started = tracing.serverSpan(route ? `${request.method} ${route}` : request.method, request.headers, {
      'http.request.method': request.method,
      ...(route ? { 'http.route': route } : {}),
      'url.path': path,
      'url.scheme': request.protocol,
      'network.protocol.version': request.raw.httpVersion,
      'client.address': request.ip,
      ...(request.headers['user-agent'] ? { 'user_agent.original': request.headers['user-agent'] } : {}),
      'serika.request_id': request.id,
    });
    open.set(request, started);
    tracing.run(started.context, done);
  });

  app.addHook('preValidation', (request, _reply, done) => {
    const started = open.get(request);
    if (started) tracing.run(started.context, done);
    else done();
  });

  const end = (request: FastifyRequest, status: number | null) => {
    const started = open.get(request);
    if (!started) return;
    open.delete(request);
    if (status === null) {
      started.span.setAttribute('serika.client_gone', true);
    } else {
      started.span.setAttribute('http.response.status_code', status);
      if (status >= 500) tracing.fail(started.span, String(status));
    }
    started.span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply.statusCode);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    end(request, null);
    done();
  });
}
