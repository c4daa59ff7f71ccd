/**
 * Waiting without sleeping: a bounded poll for state nothing can be awaited for, a time limit
 * on a promise, a promise settled from outside, and a log of events to await. No tests here
 * and no side effects on import: `node --test build/test/` also loads this module.
 */

/** node:test gives hooks no time limit, not even their suite's: a hung hook would hang the file. */
export const HOOK_TIMEOUT_MS = 10_000;

/** What a probe answers while it waits: nothing yet, or the value to resolve with. */
type Pending = false | undefined | null;

/**
 * Resolves with the first answer of `probe` that is not false, undefined or null. The probe
 * runs on every turn of the event loop (so sockets keep being served while it waits), or every
 * `intervalMs` for a costly one (reading /proc, scraping another process); rejects with
 * `what` (or what it returns) when `timeoutMs` passes first. Only for state that nothing can
 * be awaited for: another process, the OS, a counter with no event.
 */
export async function waitUntil<T>(
  probe: () => T | Pending | Promise<T | Pending>,
  what: string | (() => string),
  timeoutMs = 5000,
  intervalMs = 0,
): Promise<Exclude<T, Pending>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false && value !== undefined && value !== null) return value as Exclude<T, Pending>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${typeof what === 'string' ? what : what()}`);
    await new Promise<void>((resolve) => (intervalMs > 0 ? setTimeout(resolve, intervalMs) : setImmediate(resolve)));
  }
}

/** Resolves or rejects as `promise` does; rejects naming `what` when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A promise and the functions that settle it. */
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * An append-only list of events that tests can await: `waitFor` resolves with the first
 * event (already recorded or still to come) that matches, so no test has to poll or sleep.
 */
export class EventLog<E> {
  readonly events: E[] = [];
  private waiters: { match: (event: E) => boolean; resolve: (event: E) => void }[] = [];

  push(event: E): void {
    this.events.push(event);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(event)) return true;
      waiter.resolve(event);
      return false;
    });
  }

  waitFor<S extends E>(match: (event: E) => event is S): Promise<S>;
  waitFor(match: (event: E) => boolean): Promise<E>;
  waitFor(match: (event: E) => boolean): Promise<E> {
    const found = this.events.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  filter<S extends E>(match: (event: E) => event is S): S[];
  filter(match: (event: E) => boolean): E[];
  filter(match: (event: E) => boolean): E[] {
    return this.events.filter(match);
  }
}
