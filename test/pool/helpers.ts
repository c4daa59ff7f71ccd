/**
 * Shared pieces of the pool tests (no tests here; the runner only loads *.test.js).
 */
import { performance } from 'node:perf_hooks';
import { PoolStoppedError, ThreadPool, type TaskRef } from '../../src/index.js';

/** The compiled task fixture module. */
export const TASKS = new URL('./fixtures/tasks.js', import.meta.url);

/** The handler fixture module for ReactorServer. */
export const HANDLERS = new URL('./fixtures/handlers.js', import.meta.url);

export function task(name: string): TaskRef {
  return { module: TASKS, name };
}

/** A fresh shared counter for tasks to `arrive` at. */
export function sharedCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number, t?: number): WaitAsyncResult }).waitAsync;

/** Resolves once `counter[0] >= n` (tasks on workers arrived), without polling; rejects after `timeoutMs`. */
export async function waitForCount(counter: Int32Array, n: number, timeoutMs = 10000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const seen = Atomics.load(counter, 0);
    if (seen >= n) return;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`only ${seen} of ${n} tasks arrived within ${timeoutMs} ms`);
    const result = waitAsync(counter, 0, seen, left);
    if (result.async) await result.value;
  }
}

/** 'stopped' for a PoolStoppedError, the value otherwise; any other error propagates. */
export function settleStopped<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false }> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (err: unknown) => {
      if (err instanceof PoolStoppedError && err.code === 'ERR_POOL_STOPPED') return { ok: false as const };
      throw err;
    },
  );
}

/**
 * Runs `body` with a started pool (a new one of `sizeOrPool` workers, or the one given, not yet
 * started) and
 * always stops the pool afterwards, whatever `body` did.
 */
export async function withPool<T>(sizeOrPool: number | ThreadPool, body: (pool: ThreadPool) => Promise<T>): Promise<T> {
  const pool = typeof sizeOrPool === 'number' ? new ThreadPool(sizeOrPool) : sizeOrPool;
  pool.start();
  try {
    return await body(pool);
  } finally {
    await pool.stop();
  }
}
