import type { WirePayload } from '../server/broker-link.js';

/**
 * What travels between instances, by kind: `broadcast` (every connection), `topic` (a topic's
 * members), `direct` (one connection). The metrics count each class apart.
 */
export type MessageClass = 'broadcast' | 'topic' | 'direct';
export const MESSAGE_CLASSES: readonly MessageClass[] = ['broadcast', 'topic', 'direct'];

/**
 * Why a message between instances was dropped:
 * - `outbox-full`: the bus was unreachable or backed up and the outbox was full (the oldest
 *   message waiting is dropped for the newest);
 * - `failed`: it was on its way when the connection broke (it may or may not have arrived: at
 *   most once, it is never sent again);
 * - `too-large`: it came from another instance larger than this one's `maxMessageBytes`.
 */
export type DropReason = 'outbox-full' | 'failed' | 'too-large';
export const DROP_REASONS: readonly DropReason[] = ['outbox-full', 'failed', 'too-large'];

/**
 * Where the connection to the bus stands: `connecting` (the first attempt), `up` (publishing
 * and subscribed), `down` (lost or never reached: retrying), `stopped`.
 */
export type BusState = 'connecting' | 'up' | 'down' | 'stopped';

/** The round-trip buckets, in seconds: a probe published to this instance and received back. */
export const ROUND_TRIP_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A bus's counters: plain numbers, read at scrape time. */
export interface BusStats {
  state: BusState;
  /** Messages handed to the bus and acknowledged, by class. */
  published: Record<MessageClass, number>;
  /** Messages from other instances delivered to this one, by class. */
  received: Record<MessageClass, number>;
  /** Messages lost, by class and reason. */
  dropped: Record<MessageClass, Record<DropReason, number>>;
  /** What waits in the outbox now, and its bound. */
  outboxMessages: number;
  outboxBytes: number;
  outboxLimitBytes: number;
  /** Round trips measured so far: counts per bucket of ROUND_TRIP_SECONDS_BUCKETS (the last is +Inf), their sum, the latest. */
  roundTripBuckets: number[];
  roundTripSeconds: number;
  lastRoundTripSeconds: number | null;
  /** Times the bus came up (the first connection included). */
  connects: number;
}

export function emptyBusStats(outboxLimitBytes: number): BusStats {
  const perClass = <V>(make: () => V): Record<MessageClass, V> => ({ broadcast: make(), topic: make(), direct: make() });
  return {
    state: 'connecting',
    published: perClass(() => 0),
    received: perClass(() => 0),
    dropped: perClass(() => ({ 'outbox-full': 0, failed: 0, 'too-large': 0 })),
    outboxMessages: 0,
    outboxBytes: 0,
    outboxLimitBytes,
    roundTripBuckets: new Array<number>(ROUND_TRIP_SECONDS_BUCKETS.length + 1).fill(0),
    roundTripSeconds: 0,
    lastRoundTripSeconds: null,
    connects: 0,
  };
}

/** Counts one round trip into its bucket. */
export function recordRoundTrip(stats: BusStats, seconds: number): void {
  let bucket = ROUND_TRIP_SECONDS_BUCKETS.findIndex((bound) => seconds <= bound);
  if (bucket < 0) bucket = ROUND_TRIP_SECONDS_BUCKETS.length;
  stats.roundTripBuckets[bucket]!++;
  stats.roundTripSeconds += seconds;
  stats.lastRoundTripSeconds = seconds;
}

/** What a bus delivers to this instance, from the others. Payloads own their bytes. */
export interface BusHandler {
  broadcast(payload: Uint8Array): void;
  publish(topic: string, payload: Uint8Array): void;
  sendTo(connectionId: number, payload: Uint8Array): void;
  /** The bus went up, down, or stopped; `error` says why it is down. */
  stateChanged(state: BusState, error?: Error): void;
}

/**
 * The shared channel between instances: every instance publishes to it and hears from it. One
 * per instance (a group's supervisor, or the process of a one-reactor server). Delivery is at
 * most once, in order per publishing instance.
 */
export interface Bus {
  readonly kind: string;
  /** Starts connecting; never throws for an unreachable bus (it retries, and says so). */
  start(handler: BusHandler): void;
  publishBroadcast(payload: WirePayload): void;
  publishTopic(topic: string, payload: WirePayload): void;
  publishDirect(instanceId: string, connectionId: number, payload: WirePayload): void;
  /** This instance has members of `topic` now / has none any more. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  stats(): BusStats;
  /** Sends what it can of the outbox, then disconnects. */
  stop(): Promise<void>;
}
