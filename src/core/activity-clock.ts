import { performance } from 'node:perf_hooks';

/**
 * The clock connections stamp their traffic with, read on every message.
 *
 * Reading the real clock per message is not free: on a virtual machine a cache-cold
 * `performance.now()` measured 1.7 % of echo throughput (docs/benchmarks.md). Idle timeouts
 * are counted in seconds, so a value refreshed by a timer serves as well, the way nginx caches
 * its time once per loop turn.
 *
 * `now` is rounded up past the next refresh (by one resolution plus half a resolution of
 * slack for timer jitter), so a stamp taken from it is not earlier than the traffic it records
 * while the loop keeps time. When the loop stalls (a handler computing for a second, say), the
 * refresh runs late and stamps taken meanwhile are early by up to that delay: the clock keeps
 * the worst such delay of the last two windows, and the idle sweep waits that much longer
 * ({@link stallMarginMs}). Events outside a read callback (a send from a timer, a task or
 * another connection, a write backing up, `'drain'`) call {@link refresh} and stamp from the
 * real time.
 */
export class ActivityClock {
  /**
   * A time (whole ms, `performance.now()` clock) not before now, barring a stall. Whole, so a
   * connection stores it as a small integer: no heap number, no write barrier per message.
   */
  now: number;
  private timer: NodeJS.Timeout | null = null;
  private leadMs: number;
  private lastRefreshAt: number;
  private windowStart: number;
  private stallCurrent = 0;
  private stallPrevious = 0;

  /**
   * @param resolutionMs how often the value is refreshed (so how late an idle close can be)
   * @param windowMs how long a stall is remembered in each of the two windows (the idle timeout)
   */
  constructor(
    private resolution: number,
    private windowMs: number = 60_000,
  ) {
    this.leadMs = resolution * 1.5;
    this.lastRefreshAt = performance.now();
    this.windowStart = this.lastRefreshAt;
    this.now = Math.ceil(this.lastRefreshAt + this.leadMs);
  }

  /** How often the value is refreshed, in ms. */
  get resolutionMs(): number {
    return this.resolution;
  }

  /** Starts refreshing. The timer never keeps the process alive. */
  start(): void {
    if (this.timer !== null) return;
    this.refresh();
    this.timer = setInterval(refresh, this.resolution, this);
    this.timer.unref();
  }

  /**
   * A new resolution and stall window (the idle timeout changed while running). The lead grows
   * at once and shrinks only from the next refresh, so no stamp taken under the old lead is
   * later than the new one allows.
   */
  retime(resolutionMs: number, windowMs: number): void {
    this.resolution = resolutionMs;
    this.windowMs = windowMs;
    this.leadMs = resolutionMs * 1.5;
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    this.start();
  }

  /** Stops refreshing; `now` keeps its last value. */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Reads the real clock now; returns the new value of {@link now}. */
  refresh(): number {
    const at = performance.now();
    this.noteStall(at);
    this.lastRefreshAt = at;
    this.now = Math.ceil(at + this.leadMs);
    return this.now;
  }

  /**
   * How much earlier than its traffic a stamp may be, because the loop stalled past a refresh
   * in the last two windows (or is stalled right now, as seen from `at`). 0 while it keeps time.
   */
  stallMarginMs(at = performance.now()): number {
    return Math.max(this.stallCurrent, this.stallPrevious, at - this.lastRefreshAt - this.leadMs);
  }

  private noteStall(at: number): void {
    if (at - this.windowStart >= this.windowMs) {
      this.stallPrevious = this.stallCurrent;
      this.stallCurrent = 0;
      this.windowStart = at;
    }
    // Stamps taken since the last refresh read `lastRefreshAt + leadMs`; traffic up to `at`.
    const early = at - this.lastRefreshAt - this.leadMs;
    if (early > this.stallCurrent) this.stallCurrent = early;
  }
}

function refresh(clock: ActivityClock): void {
  clock.refresh();
}
