import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { AggregatorRegistry } from 'prom-client';
import { PATHS } from '../paths.js';
import { constantTimeEqual } from '../security/secrets.js';
import { presentedCredentials } from './authorization-header.js';
import type { Telemetry } from './telemetry.js';

const MESSAGE = 'serika:metrics';

interface MetricsMessage {
  type: typeof MESSAGE;
  id: string;
  text?: string;
  error?: string;
}

/** In a node:cluster worker: the metrics of every worker, summed by the primary (null elsewhere, or when it does not answer). */
function clusterMetrics(timeoutMs = 5000): Promise<string | null> {
  if (!cluster.isWorker || !process.send) return Promise.resolve(null);
  const id = randomUUID();
  return new Promise((resolve) => {
    const done = (text: string | null) => {
      clearTimeout(timer);
      process.off('message', onMessage);
      resolve(text);
    };
    const onMessage = (message: MetricsMessage) => {
      if (message?.type === MESSAGE && message.id === id) done(message.text ?? null);
    };
    const timer = setTimeout(() => done(null), timeoutMs);
    process.on('message', onMessage);
    process.send!({ type: MESSAGE, id } satisfies MetricsMessage);
  });
}

/** In the node:cluster primary: answers workers' requests with every worker's metrics, summed (counters stay monotonic across scrapes). */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: MetricsMessage) => {
    if (message?.type !== MESSAGE) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: MESSAGE, id: message.id, text } satisfies MetricsMessage),
      (error: Error) => worker.send({ type: MESSAGE, id: message.id, error: error.message } satisfies MetricsMessage),
    );
  });
}

/**
 * Prometheus metrics: requests and latency by route (the route pattern, so
 * IDs never become label values), the process defaults, and what the
 * domains report through Telemetry. With --workers, every scrape returns the
 * sum over all workers, whichever worker answers it.
 */
export function registerMetrics(app: FastifyInstance, telemetry: Telemetry, metricsToken: string | null): void {
  app.addHook('onResponse', (request, reply, done) => {
    telemetry.requests.observe(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done();
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
    const text = (await clusterMetrics()) ?? (await telemetry.registry.metrics());
    return reply.type(telemetry.registry.contentType).send(text);
  });
}
