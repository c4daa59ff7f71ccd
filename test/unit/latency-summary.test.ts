import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as hdr from 'hdr-histogram-js';
import { summarizeLatency, type LatencySummary } from '../../src/load/latency.js';

/** A histogram as the load driver builds it, holding `values`. */
function histogramOf(values: readonly number[]): hdr.Histogram {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  for (const value of values) histogram.recordValue(value);
  return histogram;
}

function assertOrdered(summary: LatencySummary, what: string): void {
  const { p50, p90, p99, p999, max, mean } = summary;
  assert.ok(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max, `${what}: percentiles out of order: ${JSON.stringify(summary)}`);
  assert.ok(mean <= max, `${what}: mean above max: ${JSON.stringify(summary)}`);
}

describe('bench latency summary', () => {
  it('never reports a percentile or the mean above the largest value recorded', () => {
    // 99,968 and 100,001 share a bucket whose highest value is 100,031 and midpoint 100,000.
    for (const values of [[100_001], [99_968], [120, 130, 99_968], [5, 100_001, 100_001]]) {
      const histogram = histogramOf(values);
      const max = Math.max(...values);
      // What the summary must correct: the raw answers go past the maximum.
      assert.ok(histogram.getValueAtPercentile(99.9) > max || histogram.mean > max, `${JSON.stringify(values)} does not show the overshoot`);
      const summary = summarizeLatency(histogram);
      assert.equal(summary.max, max);
      assert.equal(summary.p999, max, JSON.stringify(values));
      assertOrdered(summary, JSON.stringify(values));
    }
  });

  it('keeps the percentiles that are already below the maximum, in order', () => {
    const values = Array.from({ length: 10_000 }, (_, i) => 50 + ((i * 7919) % 10_000));
    values.push(2_345_678);
    const histogram = histogramOf(values);
    const summary = summarizeLatency(histogram);
    assert.equal(summary.p50, histogram.getValueAtPercentile(50));
    assert.equal(summary.p99, histogram.getValueAtPercentile(99));
    assert.equal(summary.max, 2_345_678);
    assertOrdered(summary, 'spread');
  });

  it('an empty histogram summarizes to zeros (a run that measured nothing)', () => {
    assert.deepEqual(summarizeLatency(histogramOf([])), { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
  });
});
