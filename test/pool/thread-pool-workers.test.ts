import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ThreadPool, WorkerCrashError } from '../../src/index.js';
import { task, TASKS, withPool } from './helpers.js';
import { runsOnBun } from '../helpers/runtime.js';

interface BytesSeen {
  kind: string;
  byteLength: number;
  backingByteLength: number;
  bytes: number[];
}

function isWorkerCrash(err: unknown): err is WorkerCrashError {
  return err instanceof WorkerCrashError && err.code === 'ERR_WORKER_CRASHED';
}

describe('ThreadPool: worker crashes', { timeout: 20000 }, () => {
  it('a task calling process.exit(3) rejects with WorkerCrashError; the worker is replaced', async () => {
    await withPool(1, async (pool) => {
      const before = await pool.run<{ threadId: number }>(task('whereAmI'));
      await assert.rejects(pool.run(task('exitTask'), 3), (err: unknown) => {
        assert.ok(isWorkerCrash(err), `expected WorkerCrashError, got ${String(err)}`);
        assert.match(err.message, /code: 3/, 'the exit code is reported');
        assert.ok(err.cause instanceof Error);
        return true;
      });
      const after = await pool.run<{ threadId: number }>(task('whereAmI'));
      assert.notEqual(after.threadId, before.threadId, 'a fresh worker took its place');
      const sums = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.run<number>(task('add'), i, i)));
      assert.deepEqual(
        sums,
        Array.from({ length: 20 }, (_, i) => 2 * i),
      );
      assert.equal(pool.threads.length, 1, 'still exactly size workers');
    });
  });

  it('a crash does not take down the tasks running on other workers', async () => {
    await withPool(2, async (pool) => {
      const outcomes = await Promise.allSettled([pool.run(task('exitTask'), 7), ...Array.from({ length: 30 }, (_, i) => pool.run<number>(task('add'), i, 1))]);
      assert.equal(outcomes[0]?.status, 'rejected');
      assert.ok(isWorkerCrash((outcomes[0] as PromiseRejectedResult).reason));
      outcomes.slice(1).forEach((o, i) => assert.deepEqual(o, { status: 'fulfilled', value: i + 1 }));
    });
  });

  it('a task whose timer throws (uncaught in the worker) rejects with WorkerCrashError; the pool keeps working', async () => {
    await withPool(1, async (pool) => {
      await assert.rejects(pool.run(task('uncaughtThrowTask'), 'thrown from a timer'), (err: unknown) => {
        assert.ok(err instanceof Error, `expected an Error, got ${String(err)}`);
        assert.match(err.message, /thrown from a timer/, 'the original message is kept');
        // errors.ts: WorkerCrashError is "A pool worker died (uncaught error or process.exit)".
        assert.ok(isWorkerCrash(err), `an uncaught error kills the worker: expected WorkerCrashError, got ${err.constructor.name}`);
        return true;
      });
      assert.equal(await pool.run<number>(task('add'), 40, 2), 42);
    });
  });

  it('the worker that crashed is replaced even when nothing waits on it; later tasks run', async () => {
    await withPool(1, async (pool) => {
      // Rejects (whatever the class), then more work must still run on a live worker.
      await assert.rejects(pool.run(task('uncaughtThrowTask'), 'first'));
      await assert.rejects(pool.run(task('exitTask'), 1));
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.run<number>(task('add'), i, 100)));
      assert.deepEqual(
        results,
        Array.from({ length: 10 }, (_, i) => i + 100),
      );
    });
  });
});

describe('ThreadPool: high concurrency', { timeout: 60000 }, () => {
  it('10,000 tasks: every one resolves with its own index, none lost, none duplicated', async () => {
    await withPool(4, async (pool) => {
      const n = 10_000;
      const promises = Array.from({ length: n }, (_, i) => pool.run<number>({ module: TASKS }, i));
      assert.equal(pool.active + pool.queued, n);
      const results = await Promise.all(promises);
      assert.equal(results.length, n);
      results.forEach((value, i) => assert.equal(value, i));
      const distinct = new Set(results);
      assert.equal(distinct.size, n, 'no duplicates');
      for (let i = 0; i < n; i++) assert.ok(distinct.has(i), `result ${i} missing`);
      assert.equal(pool.active, 0);
      assert.equal(pool.queued, 0);
    });
  });
});

describe('ThreadPool.transfer', { timeout: 20000 }, () => {
  it('moves an owned Uint8Array: the sender copy is detached and the worker sees the bytes', async () => {
    await withPool(1, async (pool) => {
      const bytes = new Uint8Array([1, 2, 3, 250, 0, 7]);
      const seen = await pool.run<BytesSeen>(task('inspectBytes'), ThreadPool.transfer(bytes));
      assert.deepEqual(seen, { kind: 'Uint8Array', byteLength: 6, backingByteLength: 6, bytes: [1, 2, 3, 250, 0, 7] });
      assert.equal(bytes.byteLength, 0, 'the sender copy is detached');
      assert.equal(bytes.buffer.byteLength, 0);
    });
  });

  it('moves an ArrayBuffer', async () => {
    await withPool(1, async (pool) => {
      const buffer = new Uint8Array([9, 8, 7]).buffer;
      const seen = await pool.run<BytesSeen>(task('inspectBytes'), ThreadPool.transfer(buffer));
      assert.deepEqual(seen, { kind: 'ArrayBuffer', byteLength: 3, backingByteLength: 3, bytes: [9, 8, 7] });
      assert.equal(buffer.byteLength, 0, 'the sender copy is detached');
    });
  });

  it('moves a Buffer that owns its memory (Buffer.alloc)', async () => {
    await withPool(1, async (pool) => {
      const owned = Buffer.alloc(32 * 1024, 0x5a);
      const seen = await pool.run<BytesSeen>(task('inspectBytes'), ThreadPool.transfer(owned));
      assert.equal(seen.byteLength, 32 * 1024);
      assert.ok(seen.bytes.every((b) => b === 0x5a));
      assert.equal(owned.byteLength, 0, 'the sender copy is detached');
    });
  });

  it('copies a pooled Buffer passed to transfer(): the sender keeps it, the worker gets just its bytes', async () => {
    await withPool(1, async (pool) => {
      let neighbour = Buffer.from('a neighbour on the same slab');
      let slice = Buffer.from('pooled slice');
      if (runsOnBun) {
        // Bun gives every Buffer.from() its own memory (no shared pool): lay the two out on
        // one 8 KiB slab by hand, as Node.js's pool does.
        const slab = Buffer.alloc(8192);
        neighbour = slab.subarray(0, slab.write('a neighbour on the same slab', 0));
        slice = slab.subarray(64, 64 + slab.write('pooled slice', 64));
      }
      assert.notEqual(slice.buffer.byteLength, slice.byteLength, 'precondition: the slice shares its ArrayBuffer (a pool slab)');
      const seen = await pool.run<BytesSeen>(task('inspectBytes'), ThreadPool.transfer(slice));
      assert.deepEqual(Buffer.from(seen.bytes), Buffer.from('pooled slice'));
      assert.equal(slice.toString(), 'pooled slice', 'the sender copy is intact');
      assert.equal(neighbour.toString(), 'a neighbour on the same slab');
      assert.equal(seen.backingByteLength, seen.byteLength, 'the worker must not receive the rest of the 8 KiB slab');
    });
  });

  it('copies a slice of a larger buffer passed to transfer(): the rest of the sender buffer stays intact', async () => {
    await withPool(1, async (pool) => {
      const whole = Buffer.alloc(64);
      for (let i = 0; i < whole.length; i++) whole[i] = i;
      const slice = whole.subarray(8, 24);
      const seen = await pool.run<BytesSeen>(task('inspectBytes'), ThreadPool.transfer(slice));
      assert.deepEqual(
        seen.bytes,
        Array.from({ length: 16 }, (_, i) => i + 8),
      );
      assert.equal(whole.byteLength, 64, 'the larger buffer the slice lives in must not be detached');
      assert.equal(whole[63], 63);
      assert.equal(slice.byteLength, 16);
      assert.equal(seen.backingByteLength, 16, 'only the slice crosses over');
    });
  });

  it('without transfer(), a Buffer slice is copied (just its bytes) and the sender keeps it', async () => {
    await withPool(1, async (pool) => {
      const slice = Buffer.from('plain argument');
      const whole = Buffer.alloc(4096, 1);
      const part = whole.subarray(100, 110);
      const [seenSlice, seenPart] = await Promise.all([pool.run<BytesSeen>(task('inspectBytes'), slice), pool.run<BytesSeen>(task('inspectBytes'), part)]);
      assert.deepEqual(Buffer.from(seenSlice.bytes), Buffer.from('plain argument'));
      assert.equal(seenSlice.backingByteLength, seenSlice.byteLength);
      assert.equal(seenPart.backingByteLength, 10);
      assert.equal(slice.toString(), 'plain argument');
      assert.equal(whole.byteLength, 4096);
      const owned = new Uint8Array([1, 2, 3]);
      const seenOwned = await pool.run<BytesSeen>(task('inspectBytes'), owned);
      assert.deepEqual(seenOwned.bytes, [1, 2, 3]);
      assert.equal(owned.byteLength, 3, 'a plain argument is copied, never moved');
    });
  });
});
