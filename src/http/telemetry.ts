import cluster from 'node:cluster';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics } from './request-metrics.js';

/** Where the numbers come from that only their owners can read (a pool, a Redis client). */
export interface TelemetrySources {
  pool?: () => { total: number; idle: number; waiting: number } | null;
  redis?: () => 'ok' | 'down' | 'off';
}

export type RevokeReason = 'revocation' | 'refresh_replay' | 'code_replay' | 'grant_revoked' | 'scope_removed';

/**
 * The process's Prometheus metrics, one registry per app (several apps in one
 * process, as in tests, never collide). Domains report through the typed
 * methods; http/metrics.ts serves the registry, summed across workers.
 */
export class Telemetry {
  readonly registry = new Registry();
  /** Requests and their latency by method, route pattern and status. */
  readonly requests: RequestMetrics;
  private readonly upstreamLatency: Histogram<'endpoint' | 'status'>;
  private readonly limited: Counter<'limiter'>;
  private readonly issued: Counter<'grant'>;
  private readonly revoked: Counter<'reason'>;

  constructor(sources: TelemetrySources = {}) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'serika_' });
    this.requests = new RequestMetrics(this.registry);
    this.upstreamLatency = new Histogram({
      name: 'serika_upstream_request_duration_seconds',
      help: 'Generation upstream calls: seconds until the answer was complete, by endpoint and the status the app received (499: the app went away).',
      labelNames: ['endpoint', 'status'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.limited = new Counter({ name: 'serika_rate_limited_total', help: 'Requests answered 429, by limiter.', labelNames: ['limiter'], registers });
    this.issued = new Counter({ name: 'serika_tokens_issued_total', help: 'Access and refresh token pairs issued, by grant type.', labelNames: ['grant'], registers });
    this.revoked = new Counter({ name: 'serika_tokens_revoked_total', help: 'Tokens revoked, by reason.', labelNames: ['reason'], registers });
    const { pool, redis } = sources;
    if (pool) {
      new Gauge({
        name: 'serika_db_pool_connections',
        help: 'PostgreSQL pool connections, by state (total, idle, waiting clients).',
        labelNames: ['state'],
        registers,
        collect() {
          const stats = pool();
          if (stats) for (const [state, n] of Object.entries(stats)) this.set({ state }, n);
        },
      });
    }
    if (redis) {
      new Gauge({
        name: 'serika_redis_up',
        help: '1 when Redis (REDIS_URL) answers, 0 when it does not; absent without REDIS_URL.',
        registers,
        // With --workers the primary merges the workers' samples: 1 only when every worker reaches Redis (summed, it read N).
        aggregator: 'min',
        collect() {
          const state = redis();
          if (state !== 'off') this.set(state === 'ok' ? 1 : 0);
        },
      });
    }
    // node:cluster workers answer the primary's collection requests (http/metrics.ts sums them).
    if (cluster.isWorker) {
      new AggregatorRegistry(); // installs prom-client's worker-side listener (idempotent)
      AggregatorRegistry.setRegistries([this.registry]);
    }
  }

  upstream(endpoint: string, status: number, seconds: number): void {
    this.upstreamLatency.observe({ endpoint, status: String(status) }, seconds);
  }

  rateLimited(limiter: 'ip' | 'client' | 'client_auth_failures' | 'login' | 'register' | 'signup' | 'mail'): void {
    this.limited.inc({ limiter });
  }

  tokensIssued(grant: 'authorization_code' | 'refresh_token' | 'device_code'): void {
    this.issued.inc({ grant });
  }

  tokensRevoked(reason: RevokeReason, count: number): void {
    if (count > 0) this.revoked.inc({ reason }, count);
  }
}
