/**
 * Shared pieces for the unit tests. No tests here: `node --test build/test/` also loads this
 * module as a test file, so it must have no side effects on import.
 */
import { NetServer, type MessageSink, type NetServerOptions, type ServerCallbacks } from '../../src/index.js';

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

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

/** A NetServer on 127.0.0.1 and a free port, started. */
export async function startServer<T = unknown>(
  callbacks: ServerCallbacks<T>,
  options: Omit<NetServerOptions<T>, 'callbacks'> = {},
): Promise<{ server: NetServer<T>; port: number }> {
  const server = new NetServer<T>({ host: '127.0.0.1', port: 0, ...options, callbacks });
  const { port } = await server.start();
  return { server, port };
}

/** How many of each kind of libuv resource keep the process alive right now. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** One macrotask turn: lets queued immediates (and what they queue for the same turn) run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A decoder sink that keeps what it is given. */
export class RecordingSink implements MessageSink {
  readonly messages: Buffer[] = [];
  readonly failures: Error[] = [];
  deliver(message: Buffer): void {
    this.messages.push(message);
  }
  fail(error: Error): void {
    this.failures.push(error);
  }
  get texts(): string[] {
    return this.messages.map((m) => m.toString());
  }
}
