import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FromReactor, ToReactor } from './messages.js';

const ENTRY = new URL('./sub-reactor-main.js', import.meta.url);

/** The supervisor's handle on one running sub-reactor, whatever it runs in. */
export interface ReactorLink {
  readonly kind: 'thread' | 'process';
  /** Thread id or process id. */
  readonly id: number;
  send(message: ToReactor): void;
  onMessage(handler: (message: FromReactor) => void): void;
  /**
   * Called once when the thread or process has gone, with its exit code and, when it died of
   * an uncaught exception, that error (message and stack as the reactor saw them).
   */
  onExit(handler: (code: number | null, error: Error | undefined) => void): void;
  /** Resolves when the thread or process has gone. */
  readonly exited: Promise<void>;
  /** Ends it at once (its connections are lost). */
  terminate(): void;
}

/** A sub-reactor on a worker thread, with its own event loop and its own (reusePort) listener. */
export function spawnThread(): ReactorLink {
  const worker = new Worker(ENTRY);
  // An uncaught error arrives just before the exit event: kept for it, and it must not crash us.
  let fatal: Error | undefined;
  worker.on('error', (error) => (fatal = asError(error)));
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    kind: 'thread',
    id: worker.threadId,
    exited,
    send: (message) => worker.postMessage(message),
    onMessage: (handler) => worker.on('message', handler),
    // A thread that died of an uncaught error exits 1 on Node.js but 0 on Bun: the error is
    // what tells, and the code reported is 1 on both.
    onExit: (handler) => worker.once('exit', (code) => handler(fatal !== undefined && code === 0 ? 1 : code, fatal)),
    terminate: () => void worker.terminate(),
  };
}

let clusterReady = false;

/**
 * A sub-reactor in a cluster worker process. The primary owns the listening socket and hands
 * each new connection to a worker in turn (round-robin), as the seed's acceptor does.
 */
export function spawnProcess(): ReactorLink {
  if (!clusterReady) {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // 'advanced' serialization carries Uint8Array payloads without a detour through JSON.
    cluster.setupPrimary({ exec: fileURLToPath(ENTRY), args: [], serialization: 'advanced' });
    clusterReady = true;
  }
  const worker: ClusterWorker = cluster.fork();
  // Writing to a worker that is dying fails with EPIPE; its exit is reported separately.
  worker.on('error', () => undefined);
  // A process cannot hand over its Error object: the reactor sends what it was before it exits.
  let fatal: Error | undefined;
  worker.on('message', (message: FromReactor) => {
    if (message.t === 'fatal') fatal = revive(message.name, message.message, message.stack);
  });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    kind: 'process',
    id: worker.process.pid ?? 0,
    exited,
    send: (message) => {
      if (worker.isConnected()) worker.send(message, undefined, ignore);
    },
    onMessage: (handler) => worker.on('message', handler),
    onExit: (handler) => worker.once('exit', (code: number | null) => handler(code, fatal)),
    terminate: () => void worker.process.kill('SIGKILL'),
  };
}

function ignore(): void {}

/** A thrown value as an Error (a worker may throw anything). */
function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** The error a reactor process reported, rebuilt with its own name, message and stack. */
function revive(name: string, message: string, stack: string | undefined): Error {
  const error = new Error(message);
  error.name = name;
  if (stack !== undefined) error.stack = stack;
  return error;
}
