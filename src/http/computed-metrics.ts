import type { Registry } from 'prom-client';

/** One sample of a metric as prom-client's registry reads it. */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * Registers a metric whose samples are computed at scrape time from plain
 * numbers its owner keeps (the registry calls get()), summed across workers.
 * A prom-client Counter validates and hashes its label object on every call
 * (bench/NOTES.md); the hot paths count into a field instead.
 */
export function registerComputed(registry: Registry, name: string, help: string, type: 'counter' | 'histogram', values: () => Sample[], reset: () => void): void {
  // registerMetric wants prom-client's own classes in its types; it reads only these fields.
  const register = registry.registerMetric.bind(registry) as (m: unknown) => void;
  register({ name, help, type, aggregator: 'sum', get: async () => ({ name, help, type, aggregator: 'sum', values: values() }), reset });
}

/** A counter by one label whose values are known up front, each a plain number: an increment is one property write. */
export class PlainCounter<V extends string> {
  private readonly counts: Record<V, number>;

  constructor(registry: Registry, name: string, help: string, label: string, values: readonly V[]) {
    this.counts = Object.fromEntries(values.map((v) => [v, 0])) as Record<V, number>;
    const samples = () => values.map((v) => ({ labels: { [label]: v }, value: this.counts[v] }));
    registerComputed(registry, name, help, 'counter', samples, () => values.forEach((v) => (this.counts[v] = 0)));
  }

  inc(value: V): void {
    this.counts[value]++;
  }
}
