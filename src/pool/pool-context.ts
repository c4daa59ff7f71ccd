/**
 * What task code running inside a pool worker can ask of its pool. Import from the package
 * root inside the task module: `import { isPoolStopping } from 'reactor-server'`.
 */

/** Where the worker entry leaves the pool's stop flag (an Int32Array on shared memory). */
export const STOP_FLAG_KEY = Symbol.for('reactor-server.pool.stop-flag');

type FlagHolder = { [STOP_FLAG_KEY]?: Int32Array };

/**
 * True once `stop()` has been called on the pool this task runs in: a long task should check
 * it now and then and return early (cooperative cancellation, as the seed's atomic flag).
 * Always false outside a pool worker.
 */
export function isPoolStopping(): boolean {
  const flag = (globalThis as FlagHolder)[STOP_FLAG_KEY];
  return flag !== undefined && Atomics.load(flag, 0) === 1;
}

/** @internal Called by the worker entry before each task. */
export function setStopFlag(flag: Int32Array): void {
  (globalThis as FlagHolder)[STOP_FLAG_KEY] = flag;
}
