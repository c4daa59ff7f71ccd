import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { emptyStats, type LoopStats } from './loop-stats.js';
import { ActivityClock } from './activity-clock.js';
import { isDispatcherMessage, type DispatcherMessage } from './dispatcher-message.js';
import type { RegisteredConnection } from './registered-connection.js';

/** A unit of work run on the dispatcher's loop. */
export type Task = () => void;

/** Handler for a topic posted from another thread with `RemoteDispatcher.post()`. */
export type TopicHandler = (data: unknown) => void;

export interface DispatcherOptions {
  /** Seconds between idle sweeps (the seed's timer interval). */
  checkInterval: number;
  /** Seconds of silence after which a connection is closed; 0 disables the sweep. */
  idleTimeout: number;
  /** Where a task that throws is reported; the queue carries on. Defaults to a process warning. */
  onTaskError?: (error: unknown) => void;
}

/**
 * One event loop's coordinator, the seed's Dispatcher: its task queue (reachable from other
 * threads through {@link Dispatcher.createPort}), its idle-connection sweep, its connection
 * registry and its stats. The I/O multiplexing itself (epoll, kqueue, IOCP) is libuv's.
 *
 * Thread affinity: every method runs on the loop that created the dispatcher. Other threads
 * talk to it only through ports from `createPort()`.
 *
 * `C` is what the registry holds: anything with the few members a {@link RegisteredConnection}
 * names. A NetServer's dispatcher holds its `Connection`s.
 */
export class Dispatcher<C extends RegisteredConnection = RegisteredConnection> {
  readonly stats: LoopStats = emptyStats();
  /** What connections stamp their traffic with; refreshed while the dispatcher runs. */
  readonly clock: ActivityClock;
  private readonly registry = new Map<number, C>();
  private queue: Task[] = [];
  private drainHandle: NodeJS.Immediate | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly ports = new Set<MessagePort>();
  private readonly topics = new Map<string, TopicHandler>();
  private running = false;
  private emptyWaiters: (() => void)[] = [];

  private readonly options: DispatcherOptions;

  constructor(options: DispatcherOptions) {
    this.options = { ...options };
    this.clock = new ActivityClock(activityResolutionMs(options.checkInterval), Math.max(options.idleTimeout, options.checkInterval) * 1000);
  }

  /** Starts the idle sweep. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.clock.start();
    this.startSweep();
  }

  /**
   * A new idle timeout and check interval, for every connection from the next sweep on (the
   * first one check interval from now). An idle timeout of 0 stops the sweep.
   */
  setIdleTimeout(idleTimeout: number, checkInterval: number): void {
    this.options.idleTimeout = idleTimeout;
    this.options.checkInterval = checkInterval;
    this.clock.retime(activityResolutionMs(checkInterval), Math.max(idleTimeout, checkInterval) * 1000);
    if (!this.running) return;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.startSweep();
  }

  private startSweep(): void {
    const { idleTimeout, checkInterval } = this.options;
    if (idleTimeout > 0) {
      this.sweepTimer = setInterval(() => this.sweepIdle(), checkInterval * 1000);
      // The listener keeps the process alive while serving; the sweep must not outlive it.
      this.sweepTimer.unref();
    }
  }

  /**
   * Stops the sweep, closes the cross-thread ports and drops tasks not yet run.
   * Connections are the owner's to close; see {@link whenEmpty}.
   */
  stop(): void {
    this.running = false;
    this.clock.stop();
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    if (this.drainHandle !== null) clearImmediate(this.drainHandle);
    this.drainHandle = null;
    this.queue = [];
    for (const port of this.ports) port.close();
    this.ports.clear();
  }

  /** True between `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Queues `task` to run on this loop after the current I/O callbacks (the seed's EnQueue +
   * WakeUp). Tasks run in order; a task queued by a running task runs on the next turn, so a
   * task that keeps re-queueing itself cannot starve I/O.
   */
  enqueue(task: Task): void {
    this.queue.push(task);
    if (this.drainHandle === null) this.drainHandle = setImmediate(drainQueue, this);
  }

  /** Number of tasks waiting to run. */
  get pendingTasks(): number {
    return this.queue.length;
  }

  /** Registers the handler for messages posted on `topic` from other threads. */
  handle(topic: string, handler: TopicHandler): void {
    this.topics.set(topic, handler);
  }

  /**
   * A port another thread can use to reach this loop: transfer it to a worker
   * (`postMessage(port, [port])`) and wrap it in a `RemoteDispatcher` there. The port does not
   * keep this process alive and is closed by `stop()`.
   */
  createPort(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (message: unknown) => this.onPortMessage(message));
    port1.unref();
    this.ports.add(port1);
    port1.once('close', () => this.ports.delete(port1));
    return port2;
  }

  /** Adds a connection to this loop's registry. */
  register(conn: C): void {
    this.registry.set(conn.id, conn);
    this.stats.connections = this.registry.size;
    this.stats.accepted++;
  }

  /** Removes a closed connection from the registry. */
  unregister(conn: C): void {
    this.registry.delete(conn.id);
    this.stats.connections = this.registry.size;
    if (this.registry.size === 0 && this.emptyWaiters.length > 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** The open connection with this id, if it lives on this loop. */
  connection(id: number): C | undefined {
    return this.registry.get(id);
  }

  /** The connections registered on this loop. */
  connections(): IterableIterator<C> {
    return this.registry.values();
  }

  /** Connections registered on this loop. */
  get connectionCount(): number {
    return this.registry.size;
  }

  /** Resolves once the registry is empty. */
  whenEmpty(): Promise<void> {
    if (this.registry.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  /** Closes every connection silent for longer than the idle timeout. Runs on each check. */
  sweepIdle(now = performance.now()): void {
    // A stalled loop stamps traffic early (see ActivityClock): wait that much longer.
    const limitMs = this.options.idleTimeout * 1000 + this.clock.stallMarginMs();
    for (const conn of this.registry.values()) {
      const idleMs = now - conn.lastActiveAt;
      if (idleMs > limitMs) conn.expire(idleMs);
    }
  }

  /** @internal */
  runQueue(): void {
    this.drainHandle = null;
    // Swap first (as the seed does under its mutex): tasks queued from here wait a turn.
    const tasks = this.queue;
    this.queue = [];
    for (const task of tasks) {
      try {
        task();
      } catch (err) {
        this.reportTaskError(err);
      }
    }
  }

  private reportTaskError(err: unknown): void {
    if (this.options.onTaskError !== undefined) this.options.onTaskError(err);
    else process.emitWarning(`reactor-server: a dispatcher task threw: ${err instanceof Error ? err.stack : String(err)}`);
  }

  private onPortMessage(message: unknown): void {
    if (!isDispatcherMessage(message)) return;
    this.enqueue(() => this.apply(message));
  }

  private apply(message: DispatcherMessage): void {
    switch (message.kind) {
      case 'send':
        this.registry.get(message.connectionId)?.send(message.payload);
        break;
      case 'close':
        this.registry.get(message.connectionId)?.closeAfterWrite();
        break;
      case 'post': {
        const handler = this.topics.get(message.topic);
        if (handler === undefined) throw new Error(`no handler for topic "${message.topic}"`);
        handler(message.data);
        break;
      }
    }
  }
}

/**
 * A quarter of the check interval, between 1 ms and 250 ms: an idle close comes at most one and
 * a half of that later than the sweep alone would make it, for four to a thousand timer ticks
 * a second.
 */
function activityResolutionMs(checkInterval: number): number {
  return Math.min(250, Math.max(1, (checkInterval * 1000) / 4));
}

function drainQueue(dispatcher: Dispatcher<RegisteredConnection>): void {
  dispatcher.runQueue();
}
