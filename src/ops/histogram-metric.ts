/**
 * A Prometheus histogram whose bucket counts are already kept elsewhere (each reactor counts
 * its own, in plain numbers, and they are summed at scrape time). prom-client's Histogram only
 * takes single observations, so this is a metric object of its own that the registry prints
 * like any other.
 */
import type { Registry } from 'prom-client';

/** One labelled series: counts per bucket (non-cumulative, a last one above every bound) and the sum. */
export interface HistogramSeries {
  labels: Record<string, string>;
  counts: readonly number[];
  sum: number;
}

export interface PrecountedHistogramOptions {
  name: string;
  help: string;
  /** Upper bounds of the buckets, ascending. */
  buckets: readonly number[];
  registry: Registry;
  collect(): Promise<HistogramSeries[]>;
}

export function registerPrecountedHistogram(options: PrecountedHistogramOptions): void {
  const { name, help, buckets, registry, collect } = options;
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    async get() {
      const values = [];
      for (const { labels, counts, sum } of await collect()) {
        let cumulative = 0;
        for (let i = 0; i < buckets.length; i++) {
          cumulative += counts[i] ?? 0;
          values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(buckets[i]) }, value: cumulative });
        }
        cumulative += counts[buckets.length] ?? 0;
        values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
        values.push({ metricName: `${name}_sum`, labels, value: sum });
        values.push({ metricName: `${name}_count`, labels, value: cumulative });
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset() {},
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}
