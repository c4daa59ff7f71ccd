/** Latency percentiles of a bench run, in microseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** What the summary reads from an HdrHistogram (hdr-histogram-js's `Histogram` has it). */
export interface LatencyHistogram {
  getValueAtPercentile(percentile: number): number;
  readonly maxValue: number;
  readonly mean: number;
  readonly totalCount: number;
}

/**
 * The summary of a histogram. HdrHistogram answers a percentile with the highest value its
 * bucket could hold and the mean from bucket midpoints, either of which can lie above the
 * largest value recorded; the exact maximum caps them, so p50 <= p90 <= p99 <= p99.9 <= max.
 * An empty histogram gives zeros.
 */
export function summarizeLatency(histogram: LatencyHistogram): LatencySummary {
  if (histogram.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 };
  const max = histogram.maxValue;
  const at = (percentile: number): number => Math.min(histogram.getValueAtPercentile(percentile), max);
  return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max, mean: Math.min(histogram.mean, max) };
}
