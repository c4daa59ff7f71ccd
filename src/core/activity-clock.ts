import { performance } from 'node:perf_hooks';

/**
 * The clock connections stamp their traffic with, read on every message.
 *
 * Reading the real clock per message is not free: on a virtual machine a cache-cold
 * `performance.now()` measured 1.7 % of echo throughput (docs/benchmarks.md). Idle timeouts
 * are counted in seconds, so a value refreshed every `resolutionMs` by a timer serves as well,
 * as nginx caches its time once per loop turn.
 *
 * `now` is rounded up to the next refresh: a stamp taken from it is never earlier than the
 * traffic it records, so an idle sweep using the real clock can close late (by at most one
 * resolution) but never early.
 */
export class ActivityClock {
  /** `performance.now()` at the next refresh, in ms. */
  now: number;
  private timer: NodeJS.Timeout | null = null;

  /** @param resolutionMs how often the value is refreshed (and so how late a close can be) */
  constructor(readonly resolutionMs: number) {
    this.now = performance.now() + resolutionMs;
  }

  /** Starts refreshing. The timer never keeps the process alive. */
  start(): void {
    if (this.timer !== null) return;
    this.refresh();
    this.timer = setInterval(refresh, this.resolutionMs, this);
    this.timer.unref();
  }

  /** Stops refreshing; `now` keeps its last value. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the real clock now (for a stamp that must not wait for the next refresh). */
  refresh(): void {
    this.now = performance.now() + this.resolutionMs;
  }
}

function refresh(clock: ActivityClock): void {
  clock.refresh();
}
