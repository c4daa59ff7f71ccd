import { availableParallelism } from 'node:os';
import type { TransferListItem } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { lazyModule } from '../core/lazy-module.js';
import { InvalidOptionError, PoolStateError, PoolStoppedError, WorkerCrashError } from '../core/errors.js';
import { rejectUnknownOptions, requireNumber, requireOptionsObject } from '../core/option-checks.js';
import { moduleUrl } from './module-url.js';
import type { WorkerTask } from './pool-worker.js';
import { isTaskFailure } from './task-failure.js';

/** A task: a function exported by a module, named by URL (or file path) and export name. */
export interface TaskRef {
  /** `import.meta.url`-style URL, a URL object, or a file path (relative to the working directory). */
  module: string | URL;
  /** The export to call. Default `"default"`. */
  name?: string;
}

const piscina = lazyModule<typeof import('piscina')>('piscina');
const WORKER_ENTRY = new URL('./pool-worker-entry.cjs', import.meta.url).href;
const TRANSFER = Symbol('reactor-server.transfer');

/** Marks an argument to be moved to the worker instead of copied (see {@link ThreadPool.transfer}). */
export interface Transfer<T> {
  readonly [TRANSFER]: true;
  readonly value: T;
}

interface Job {
  task: WorkerTask;
  transferList: TransferListItem[];
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type PoolState = 'stopped' | 'running' | 'stopping';

/**
 * @throws InvalidOptionError for a bad `stop()` option (UnknownOptionError for a key that is
 *   none): a typo must not turn a bounded stop into an unbounded one
 */
function checkStopOptions(options: { timeout?: number }): void {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, ['timeout']);
  if (options.timeout !== undefined) requireNumber('timeout', options.timeout, 0, 2 ** 31 - 1, 'milliseconds');
}

/** Half the cores, at least one: the seed's default thread count. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.floor(availableParallelism() / 2));
}

/** Worker threads per core a pool may have: past that they only contend for the cores. */
export const POOL_THREADS_PER_CORE = 8;

/** The most workers a pool may have: 8 per core, so a mistyped size cannot start a million threads. */
export function maxPoolSize(): number {
  return POOL_THREADS_PER_CORE * availableParallelism();
}

/**
 * A pool of worker threads running tasks, the seed's thread_pool: `init(n)`, `start()`,
 * `run()` returning a promise of the result, `stop()`, and `start()` again.
 *
 * - Tasks waiting for a worker are held here, not in the workers, so `stop()` can reject
 *   them (`PoolStoppedError`) while the running ones finish. Running tasks see
 *   `isPoolStopping()` turn true and may return early; `stop()` waits for them.
 * - A task that throws rejects its promise with the worker's error (message and stack);
 *   a worker that crashes rejects its task with `WorkerCrashError` and is replaced.
 * - Worker lifecycle and crash replacement come from piscina; a task's error travels back as a
 *   result (task-failure.ts), since piscina reports a thrown error and a dead worker alike.
 *
 * Thread affinity: use a pool from the thread that created it.
 */
export class ThreadPool {
  private sizeValue: number;
  private state: PoolState = 'stopped';
  private workers: Piscina | null = null;
  private stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private queue: (Job | undefined)[] = [];
  private queueHead = 0;
  private running = 0;
  private stopping: Promise<void> | null = null;
  private idleWaiters: (() => void)[] = [];

  /** @param size number of worker threads (default: half the cores, at least 1) */
  constructor(size: number = defaultPoolSize()) {
    this.sizeValue = size;
  }

  /**
   * Moves `value` (an ArrayBuffer, or a view that covers its whole ArrayBuffer) to the worker
   * instead of copying it; the sender's copy becomes unusable.
   */
  static transfer<T extends ArrayBuffer | ArrayBufferView>(value: T): Transfer<T> {
    return { [TRANSFER]: true, value };
  }

  /** Sets the number of workers for the next `start()`. */
  init(size: number = defaultPoolSize()): this {
    if (this.state !== 'stopped') throw new PoolStateError(`init() called while the pool is ${this.state}`);
    this.sizeValue = size;
    return this;
  }

  /**
   * Starts the workers.
   * @throws InvalidOptionError when the size is not a positive integer
   * @throws PoolStateError when the pool is already running or still stopping
   */
  start(): this {
    if (this.state !== 'stopped') throw new PoolStateError(`start() called while the pool is ${this.state}`);
    if (!Number.isInteger(this.sizeValue) || this.sizeValue <= 0 || this.sizeValue > maxPoolSize()) {
      throw new InvalidOptionError('size', `a pool needs an integer number of workers from 1 to ${maxPoolSize()} (${POOL_THREADS_PER_CORE} per core), got ${this.sizeValue}`);
    }
    this.stopFlag = new Int32Array(new SharedArrayBuffer(4));
    this.workers = new (piscina().Piscina)({
      filename: WORKER_ENTRY,
      // Every worker of this start shares the flag; a restart makes a new pool and a new flag.
      workerData: this.stopFlag,
      minThreads: this.sizeValue,
      maxThreads: this.sizeValue,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      // Tasks may await timers or I/O; 'async' keeps an idle worker's event loop turning.
      atomics: 'async',
    });
    // A worker dying between tasks is replaced by piscina; nothing is waiting on it.
    this.workers.on('error', () => undefined);
    this.state = 'running';
    return this;
  }

  /**
   * Stops the pool: tasks still queued reject with `PoolStoppedError`, running tasks see
   * `isPoolStopping()` and are awaited, then the workers exit. Idempotent: every call returns
   * the same promise until the pool is started again.
   * @param options.timeout ms to wait for running tasks before terminating their workers
   *   (their promises then reject with `PoolStoppedError`); default: wait as long as they run
   * @rejects InvalidOptionError for a bad option, and stops nothing
   */
  stop(options: { timeout?: number } = {}): Promise<void> {
    try {
      checkStopOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.state === 'stopped') return Promise.resolve();
    if (this.stopping === null) this.stopping = this.shutdown(options.timeout);
    return this.stopping;
  }

  /**
   * Runs `task` on a worker with `args` (structured-cloned; wrap a buffer in
   * `ThreadPool.transfer()` to move it instead).
   * @returns the task's result (a returned Uint8Array/Buffer arrives as a Uint8Array)
   * @rejects PoolStoppedError if the pool is not running or stops before the task starts;
   *   the task's own error if it throws; WorkerCrashError if its worker dies
   */
  run<R = unknown>(task: TaskRef, ...args: unknown[]): Promise<R> {
    if (this.state !== 'running') return Promise.reject(new PoolStoppedError(`pool is ${this.state}`));
    const transferList: TransferListItem[] = [];
    const cloned = args.map((arg) => unwrapTransfer(arg, transferList));
    const module = moduleUrl(task.module);
    return new Promise<R>((resolve, reject) => {
      const job: Job = {
        task: { module, name: task.name ?? 'default', args: cloned },
        transferList,
        resolve: resolve as (value: unknown) => void,
        reject,
      };
      if (this.running < this.sizeValue) this.dispatch(job);
      else this.queue.push(job);
    });
  }

  /** Number of workers (configured, or running). */
  get size(): number {
    return this.sizeValue;
  }

  /** True between `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** Tasks waiting for a free worker. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Tasks running on a worker now. */
  get active(): number {
    return this.running;
  }

  /** The worker threads (for inspection: thread ids, resource usage). */
  get threads(): readonly { readonly threadId: number }[] {
    return this.workers?.threads ?? [];
  }

  private dispatch(job: Job): void {
    this.running++;
    (this.workers as Piscina)
      .run(job.task, { transferList: job.transferList })
      .then(
        (result: unknown) => {
          if (isTaskFailure(result)) job.reject(result.error);
          else job.resolve(result);
          this.finished();
        },
        // The task's own errors come back as results: a rejection means its worker died.
        (err: unknown) => {
          job.reject(this.state === 'stopping' ? new PoolStoppedError('pool stopped while the task ran') : new WorkerCrashError(err));
          this.finished();
        },
      );
  }

  private finished(): void {
    this.running--;
    if (this.state === 'running') {
      while (this.running < this.sizeValue && this.queueHead < this.queue.length) {
        const job = this.queue[this.queueHead] as Job;
        this.queue[this.queueHead++] = undefined;
        this.dispatch(job);
      }
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
    }
    if (this.running === 0 && this.idleWaiters.length > 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async shutdown(timeout: number | undefined): Promise<void> {
    this.state = 'stopping';
    Atomics.store(this.stopFlag, 0, 1);
    const waiting = this.queue.slice(this.queueHead) as Job[];
    this.queue = [];
    this.queueHead = 0;
    for (const job of waiting) job.reject(new PoolStoppedError('pool stopped before the task started'));
    const allSettled = new Promise<void>((resolve) => {
      if (this.running === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut =
      timeout === undefined ? null : new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)));
    await (timedOut === null ? allSettled : Promise.race([allSettled, timedOut]));
    clearTimeout(timer);
    // destroy() terminates the workers; tasks still running (past the timeout) reject.
    await (this.workers as Piscina).destroy();
    await allSettled;
    this.workers = null;
    this.state = 'stopped';
    this.stopping = null;
  }
}

function unwrapTransfer(arg: unknown, transferList: TransferListItem[]): unknown {
  const marked = typeof arg === 'object' && arg !== null && TRANSFER in arg;
  const value = marked ? (arg as Transfer<ArrayBuffer | ArrayBufferView>).value : arg;
  if (ArrayBuffer.isView(value) && !(value.byteOffset === 0 && value.byteLength === value.buffer.byteLength)) {
    // Cloning or moving a view takes its whole ArrayBuffer (a pool slab, a socket read, the
    // rest of a bigger buffer): copy just its bytes instead, and move the copy.
    const copy = new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
    transferList.push(copy.buffer);
    return copy;
  }
  if (marked) transferList.push((ArrayBuffer.isView(value) ? value.buffer : value) as TransferListItem);
  return value;
}
