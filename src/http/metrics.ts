import { presentedCredentials } from './authorization-header.js';
import type { FastifyInstance } from 'fastify';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { constantTimeEqual } from '../security/secrets.js';
import { PATHS } from '../paths.js';

/**
 * Prometheus metrics: requests and latency by route (the route pattern, so
 * IDs never become label values), plus the process defaults. One registry
 * per app, so several apps in one process (tests) do not collide.
 */
export function registerMetrics(app: FastifyInstance, metricsToken: string | null): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'serika_' });
  const labelNames = ['method', 'route', 'status'] as const;
  const requests = new Counter({
    name: 'serika_http_requests_total',
    help: 'HTTP requests served, by method, route pattern and status code.',
    labelNames,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'serika_http_request_duration_seconds',
    help: 'HTTP request latency in seconds, by method, route pattern and status code.',
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = {
      method: request.method,
      route: request.routeOptions.url ?? 'unmatched',
      status: String(reply.statusCode),
    };
    requests.inc(labels);
    latency.observe(labels, reply.elapsedTime / 1000);
  });

  app.get(PATHS.metrics, { schema: { hide: true } }, async (request, reply) => {
    if (metricsToken !== null) {
      const presented = presentedCredentials(request.headers.authorization);
      if (presented.kind !== 'bearer' || !constantTimeEqual(presented.token, metricsToken)) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="serika"')
          .type('text/plain; charset=utf-8')
          .send('Unauthorized: /metrics needs Authorization: Bearer $METRICS_TOKEN\n');
      }
    }
    return reply.type(registry.contentType).send(await registry.metrics());
  });
}
