import type { Registry } from 'prom-client';
import { registerComputed, type Sample } from './computed-metrics.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

type Labels = { method: string; route: string; status: string };

interface Slot {
  labels: Labels;
  /** Per bucket, not cumulative (the export adds them up). */
  buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * `serika_http_requests_total` and `serika_http_request_duration_seconds`,
 * kept per method × route × status in one map of plain counters and read by
 * prom-client's registry at scrape time (computed-metrics.ts): a request
 * costs one map lookup and a bucket search.
 */
export class RequestMetrics {
  private readonly slots = new Map<string, Slot>();

  constructor(registry: Registry) {
    const reset = () => this.slots.clear();
    registerComputed(registry, 'serika_http_requests_total', 'HTTP requests served, by method, route pattern and status code.', 'counter', () => this.counts(), reset);
    registerComputed(registry, 'serika_http_request_duration_seconds', 'HTTP request latency in seconds, by method, route pattern and status code.', 'histogram', () => this.histogram(), reset);
  }

  observe(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { labels: { method, route, status: String(status) }, buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
      this.slots.set(key, slot);
    }
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      if (seconds <= LATENCY_BUCKETS[i]!) {
        slot.buckets[i]!++;
        break;
      }
    }
    slot.sum += seconds;
    slot.count++;
  }

  private counts(): Sample[] {
    return [...this.slots.values()].map((slot) => ({ labels: { ...slot.labels }, value: slot.count }));
  }

  private histogram(): Sample[] {
    const name = 'serika_http_request_duration_seconds';
    const samples: Sample[] = [];
    for (const slot of this.slots.values()) {
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        cumulative += slot.buckets[i]!;
        samples.push({ labels: { le, ...slot.labels }, value: cumulative, metricName: `${name}_bucket` });
      });
      samples.push({ labels: { le: '+Inf', ...slot.labels }, value: slot.count, metricName: `${name}_bucket` });
      samples.push({ labels: { ...slot.labels }, value: slot.sum, metricName: `${name}_sum` });
      samples.push({ labels: { ...slot.labels }, value: slot.count, metricName: `${name}_count` });
    }
    return samples;
  }
}
