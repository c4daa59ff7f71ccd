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
  /** Called once when the thread or process has gone, with its exit code. */
  onExit(handler: (code: number | null) => void): void;
  /** Resolves when the thread or process has gone. */
  readonly exited: Promise<void>;
  /** Ends it at once (its connections are lost). */
  terminate(): void;
}

/** A sub-reactor on a worker thread, with its own event loop and its own (reusePort) listener. */
export function spawnThread(): ReactorLink {
  const worker = new Worker(ENTRY);
  // The exit event reports the end; an uncaught error arrives first and must not crash us.
  worker.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    kind: 'thread',
    id: worker.threadId,
    exited,
    send: (message) => worker.postMessage(message),
    onMessage: (handler) => worker.on('message', handler),
    onExit: (handler) => worker.once('exit', handler),
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
  worker.on('error', () => undefined);
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    kind: 'process',
    id: worker.process.pid ?? 0,
    exited,
    // A worker that has just died cannot be written to; its exit is reported separately.
    send: (message) => {
      if (worker.isConnected()) worker.send(message);
    },
    onMessage: (handler) => worker.on('message', handler),
    onExit: (handler) => worker.once('exit', (code: number | null) => handler(code)),
    terminate: () => void worker.process.kill('SIGKILL'),
  };
}
