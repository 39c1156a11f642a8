import cluster from 'node:cluster';
import type { Readable } from 'node:stream';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from '../version.js';
import { PlainCounter } from './computed-metrics.js';
import { RequestMetrics } from './request-metrics.js';

/** Where the numbers come from that only their owners can read (a pool, a Redis client, the key table). */
export interface TelemetrySources {
  pool?: () => { total: number; idle: number; waiting: number } | null;
  redis?: () => 'ok' | 'down' | 'off';
  /** Milliseconds since the invalidation feed last read its outbox (null before it started). */
  feedLag?: () => number | null;
  /** The key of each alg that signs ID tokens now. */
  signingKeys?: () => Promise<Array<{ alg: string; createdAt: number }>>;
  now?: () => number;
}

export type RevokeReason = 'revocation' | 'refresh_replay' | 'code_replay' | 'grant_revoked' | 'scope_removed' | 'user_suspended' | 'client_suspended';
export type LoginFailure = 'bad_credentials' | 'bad_passkey' | 'missing_credentials' | 'ip_limited';
export type CacheLookup = 'hit' | 'miss' | 'bypass';

/** Distinct model names counted; past them a model counts as `other` (a label value per name an upstream accepts). */
const MAX_MODELS = 100;

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
  private readonly generatedTokens: Counter<'model' | 'type'>;
  private readonly generatedImages: Counter<'model'>;
  private readonly models = new Set<string>();
  private readonly streams: Gauge;
  private readonly cacheLookups: PlainCounter<CacheLookup>;
  private readonly loginFailures: Counter<'reason'>;
  private readonly lastPrune: Gauge;

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
    this.generatedTokens = new Counter({
      name: 'serika_generation_tokens_total',
      help: 'Tokens charged for generation calls (the usage rows), by model and type (prompt, completion).',
      labelNames: ['model', 'type'],
      registers,
    });
    this.generatedImages = new Counter({ name: 'serika_generation_images_total', help: 'Images charged for image generation calls, by model.', labelNames: ['model'], registers });
    this.streams = new Gauge({ name: 'serika_generation_streams_active', help: 'Chat completion streams being relayed now.', registers });
    this.cacheLookups = new PlainCounter(
      this.registry,
      'serika_token_cache_lookups_total',
      'Token lookups through the access-token cache (bearer requests, introspection), by result: hit (answered from memory), miss (read from the database), bypass (cache skipped while the invalidation feed is behind).',
      'result',
      ['hit', 'miss', 'bypass'],
    );
    this.loginFailures = new Counter({ name: 'serika_login_failures_total', help: 'Failed sign-ins at /login, by reason.', labelNames: ['reason'], registers });
    // Instances prune in turn (one at a time): max() over instances is when the database was last pruned.
    this.lastPrune = new Gauge({ name: 'serika_last_prune_timestamp_seconds', help: 'When this process last pruned expired rows (Unix seconds; 0: not yet).', registers, aggregator: 'max' });
    // The same for every worker: never summed.
    new Gauge({ name: 'serika_build_info', help: 'Serika version and Node.js version; always 1.', labelNames: ['version', 'node'], registers, aggregator: 'max' }).set(
      { version: VERSION, node: process.versions.node },
      1,
    );
    this.watch(sources, registers);
    // node:cluster workers answer the primary's collection requests (http/metrics.ts sums them).
    if (cluster.isWorker) {
      new AggregatorRegistry(); // installs prom-client's worker-side listener (idempotent)
      AggregatorRegistry.setRegistries([this.registry]);
    }
  }

  /** Gauges read at scrape time from their owners. */
  private watch(sources: TelemetrySources, registers: Registry[]): void {
    const { pool, redis, feedLag, signingKeys } = sources;
    const now = sources.now ?? Date.now;
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
    if (feedLag) {
      new Gauge({
        name: 'serika_invalidation_feed_lag_seconds',
        help: 'Seconds since this process last read the cache invalidation outbox (read every 0.1 s; past 1 s caches are bypassed).',
        registers,
        aggregator: 'max',
        collect() {
          this.set((feedLag() ?? 0) / 1000);
        },
      });
    }
    if (signingKeys) {
      new Gauge({
        name: 'serika_signing_key_age_seconds',
        help: 'Seconds since the ID token signing key that signs now was created, by algorithm.',
        labelNames: ['alg'],
        registers,
        aggregator: 'max',
        async collect() {
          this.reset();
          // The database away is /readyz's to report: the scrape answers without this gauge.
          const keys = await signingKeys().catch(() => []);
          for (const key of keys) this.set({ alg: key.alg }, Math.max(0, now() - key.createdAt) / 1000);
        },
      });
    }
  }

  upstream(endpoint: string, status: number, seconds: number): void {
    this.upstreamLatency.observe({ endpoint, status: String(status) }, seconds);
  }

  rateLimited(limiter: 'ip' | 'client' | 'client_auth_failures' | 'login' | 'password_reset' | 'register' | 'signup' | 'mail'): void {
    this.limited.inc({ limiter });
  }

  tokensIssued(grant: 'authorization_code' | 'refresh_token' | 'device_code' | 'token_exchange'): void {
    this.issued.inc({ grant });
  }

  tokensRevoked(reason: RevokeReason, count: number): void {
    if (count > 0) this.revoked.inc({ reason }, count);
  }

  /** What a generation call was charged (its usage row). */
  generated(model: string | null, charged: { promptTokens: number; completionTokens: number; images: number }): void {
    const { promptTokens, completionTokens, images } = charged;
    if (promptTokens + completionTokens + images <= 0) return; // refused and failed calls: nothing, and no label for their model
    const name = model ?? 'unknown';
    if (!this.models.has(name) && this.models.size < MAX_MODELS) this.models.add(name);
    const label = this.models.has(name) ? name : 'other';
    if (promptTokens > 0) this.generatedTokens.inc({ model: label, type: 'prompt' }, promptTokens);
    if (completionTokens > 0) this.generatedTokens.inc({ model: label, type: 'completion' }, completionTokens);
    if (images > 0) this.generatedImages.inc({ model: label }, images);
  }

  /** A stream relayed from now until it closes. */
  streamOpened(stream: Readable): void {
    this.streams.inc();
    stream.once('close', () => this.streams.dec());
  }

  tokenCacheLookup(result: CacheLookup): void {
    this.cacheLookups.inc(result);
  }

  loginFailed(reason: LoginFailure): void {
    this.loginFailures.inc({ reason });
  }

  pruned(at: number): void {
    this.lastPrune.set(Math.floor(at / 1000));
  }
}
