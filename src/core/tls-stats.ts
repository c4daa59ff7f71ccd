/**
 * A TLS server's handshake counters, kept beside its LoopStats. The duration histogram is plain
 * counts per fixed bucket, so reactors' stats add up across threads and processes and a
 * scrape turns them into a Prometheus histogram.
 */

/** Upper bounds, in seconds, of the handshake duration buckets (a last bucket holds the rest). */
export const HANDSHAKE_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface TlsStats {
  /** Handshakes completed (each became a connection, or was refused for its client certificate). */
  handshakes: number;
  /** Handshakes that failed, by reason (`plaintext`, `timeout`, `no-shared-cipher`, `bad-certificate`, `closed`, `protocol`). */
  handshakeFailures: Record<string, number>;
  /** Completed handshakes by duration from TCP accept: `[i]` took at most HANDSHAKE_SECONDS_BUCKETS[i], the last entry longer. */
  handshakeBuckets: number[];
  /** Sum of the completed handshakes' durations, seconds. */
  handshakeSeconds: number;
}

export function emptyTlsStats(): TlsStats {
  return { handshakes: 0, handshakeFailures: {}, handshakeBuckets: new Array<number>(HANDSHAKE_SECONDS_BUCKETS.length + 1).fill(0), handshakeSeconds: 0 };
}

/** Counts a completed handshake that took `seconds`. */
export function recordHandshake(stats: TlsStats, seconds: number): void {
  stats.handshakes++;
  stats.handshakeSeconds += seconds;
  let bucket = 0;
  while (bucket < HANDSHAKE_SECONDS_BUCKETS.length && seconds > HANDSHAKE_SECONDS_BUCKETS[bucket]) bucket++;
  stats.handshakeBuckets[bucket]++;
}

/** Adds `stats` into `total`. */
export function addTlsStats(total: TlsStats, stats: TlsStats): void {
  total.handshakes += stats.handshakes;
  total.handshakeSeconds += stats.handshakeSeconds;
  for (const [reason, n] of Object.entries(stats.handshakeFailures)) total.handshakeFailures[reason] = (total.handshakeFailures[reason] ?? 0) + n;
  stats.handshakeBuckets.forEach((n, i) => (total.handshakeBuckets[i] += n));
}
