import type { Logger } from 'pino';
import { takeEarlySignal } from './early-signals.js';

/**
 * SIGINT and SIGTERM for the CLI, from the moment it starts: the first signal stops everything
 * started so far (and anything started after it, at once), in the order they started, then exits 0; 1 if a
 * stop failed. During start-up the exit waits until start-up has given up; afterwards it
 * follows the stops directly.
 */
export class Shutdown {
  private signal: NodeJS.Signals | null = null;
  private readonly stops: (() => Promise<void>)[] = [];
  private readonly pending: Promise<void>[] = [];
  private running = false;

  constructor(
    private readonly logger: Logger,
    private readonly drainTimeout: number,
  ) {
    // Installed before anything starts: stdout to a pipe is written synchronously, so whoever
    // waits for the ready line may signal us before the next statement runs, and a signal
    // during start-up must not take the default action (death, children left behind).
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
    const early = takeEarlySignal();
    if (early !== null) this.onSignal(early);
  }

  /** True once a signal asked us to stop. */
  get requested(): boolean {
    return this.signal !== null;
  }

  /** Registers something to stop on a signal; stopped at once if the signal has come. */
  add(stop: () => Promise<void>): void {
    if (this.signal !== null) this.pending.push(stop());
    else this.stops.push(stop);
  }

  /** Start-up is over and the server serves: a signal now exits as soon as everything stopped. */
  started(): void {
    this.running = true;
  }

  /** For start-up cut short by a signal: waits for every stop, then exits. */
  async exitWhenStopped(): Promise<never> {
    const results = await Promise.allSettled(this.pending);
    const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed !== undefined) {
      this.logger.error({ err: failed.reason }, 'stop failed');
      process.exit(1);
    }
    this.logger.info('stopped');
    process.exit(0);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.signal = signal;
    this.logger.info({ signal, drainTimeout: this.drainTimeout }, this.running ? 'stopping: draining connections' : 'stopping during start-up');
    // One after the other: the metrics endpoint, started last, outlives the server it reports on.
    const stopped = this.stops.reduce((previous, stop) => previous.then(stop), Promise.resolve());
    this.pending.push(stopped);
    if (this.running) void this.exitWhenStopped();
  };
}
