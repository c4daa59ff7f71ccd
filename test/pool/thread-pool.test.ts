import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { isMainThread, threadId as mainThreadId } from 'node:worker_threads';
import {
  InvalidOptionError,
  PoolStateError,
  PoolStoppedError,
  ThreadPool,
  defaultPoolSize,
  isPoolStopping,
} from '../../src/index.js';
import { sharedCounter, task, TASKS, withPool } from './helpers.js';

function isPoolStopped(err: unknown): boolean {
  return err instanceof PoolStoppedError && err.code === 'ERR_POOL_STOPPED';
}

function isPoolState(err: unknown): boolean {
  return err instanceof PoolStateError && err.code === 'ERR_POOL_STATE';
}

function isInvalidSize(err: unknown): boolean {
  return err instanceof InvalidOptionError && err.code === 'ERR_INVALID_OPTION' && err.option === 'size';
}

describe('ThreadPool: execution and results', { timeout: 20000 }, () => {
  it('runs tasks off the main thread and returns numbers, strings and objects', async () => {
    await withPool(2, async (pool) => {
      assert.equal(await pool.run<number>(task('add'), 2, 40), 42);
      assert.equal(await pool.run<string>(task('shout'), 'hello'), 'HELLO!');
      assert.equal(await pool.run<null>({ module: TASKS }, null), null, 'the default export is called when no name is given');
      assert.deepEqual(await pool.run({ module: TASKS.href, name: 'describeObject' }, { name: 'x', tags: ['a', 'b', 'c'], nested: { n: 21 } }), {
        name: 'x',
        tagCount: 3,
        doubled: 42,
        when: new Date(0),
        map: new Map([['a', 1]]),
      });
      const where = await pool.run<{ threadId: number; isMainThread: boolean }>(task('whereAmI'));
      assert.equal(isMainThread, true);
      assert.equal(where.isMainThread, false);
      assert.notEqual(where.threadId, mainThreadId);
      assert.ok(
        pool.threads.some((t) => t.threadId === where.threadId),
        'the task ran on one of the pool threads',
      );
    });
  });

  it('returns a Buffer as a Uint8Array with the same bytes and no more memory', async () => {
    await withPool(1, async (pool) => {
      const pooled = await pool.run<Uint8Array>(task('pooledBuffer'), 'bytes from a pooled Buffer');
      assert.equal(pooled.constructor, Uint8Array);
      assert.deepEqual(Buffer.from(pooled), Buffer.from('bytes from a pooled Buffer'));
      // A pooled Buffer is a view on an 8 KiB slab: only its own bytes may cross over.
      assert.equal(pooled.buffer.byteLength, pooled.byteLength);

      const owned = await pool.run<Uint8Array>(task('ownedBuffer'), 100_000, 0xab);
      assert.equal(owned.constructor, Uint8Array);
      assert.equal(owned.byteLength, 100_000);
      assert.ok(owned.every((b) => b === 0xab));

      const binary = Buffer.from([0, 0xff, 0x80, 0x7f, 0, 1]);
      const back = await pool.run<Uint8Array>({ module: TASKS }, binary);
      assert.deepEqual(Buffer.from(back), binary);
    });
  });

  it('defaults to half the cores, at least one', async () => {
    assert.equal(defaultPoolSize(), Math.max(1, Math.floor(availableParallelism() / 2)));
    assert.ok(defaultPoolSize() >= 1);
    const pool = new ThreadPool();
    assert.equal(pool.size, defaultPoolSize());
    assert.equal(pool.init().size, defaultPoolSize(), 'init() without a size resets to the default');
    assert.equal(pool.init(3).size, 3);
    await withPool(pool, async () => {
      assert.equal(pool.threads.length, 3, 'start() creates exactly size workers');
      assert.equal(pool.isRunning, true);
    });
    assert.equal(pool.isRunning, false);
    assert.equal(pool.threads.length, 0);
  });

  it('isPoolStopping() is false outside a pool and in a running pool', async () => {
    assert.equal(isPoolStopping(), false);
    await withPool(1, async (pool) => {
      assert.equal(await pool.run<boolean>(task('stoppingNow')), false);
    });
  });
});

describe('ThreadPool: exception propagation', { timeout: 20000 }, () => {
  it('rejects with the task error (message and stack naming the task); the worker keeps serving', async () => {
    await withPool(1, async (pool) => {
      const before = await pool.run<{ threadId: number }>(task('whereAmI'));
      await assert.rejects(pool.run(task('failingTask'), 'task exploded: 42'), (err: unknown) => {
        assert.ok(err instanceof Error, 'an Error, not a bare value');
        assert.equal(err.message, 'task exploded: 42');
        assert.match(err.stack ?? '', /failingTask/, 'the stack mentions the task function');
        assert.match(err.stack ?? '', /fixtures[\\/]tasks\.js/, 'the stack points into the task module');
        return true;
      });
      await assert.rejects(pool.run(task('failingAsyncTask'), 'async rejection'), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.name, 'RangeError');
        assert.equal(err.message, 'async rejection');
        assert.match(err.stack ?? '', /failingAsyncTask/);
        return true;
      });
      assert.equal(await pool.run<number>(task('add'), 1, 1), 2);
      const after = await pool.run<{ threadId: number }>(task('whereAmI'));
      assert.equal(after.threadId, before.threadId, 'a throwing task does not cost the worker its life');
    });
  });

  it('rejects (does not throw) for a missing export or module, and keeps working', async () => {
    await withPool(1, async (pool) => {
      await assert.rejects(pool.run(task('noSuchExport')), (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.match(err.message, /noSuchExport/);
        return true;
      });
      await assert.rejects(pool.run({ module: new URL('./fixtures/does-not-exist.js', import.meta.url) }), (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.match(err.message, /does-not-exist/);
        return true;
      });
      assert.equal(await pool.run<number>(task('add'), 20, 22), 42);
    });
  });

  it('many failures interleaved with successes all land on the right promise', async () => {
    await withPool(2, async (pool) => {
      const results = await Promise.allSettled(
        Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? pool.run(task('failingTask'), `fail ${i}`) : pool.run<number>(task('add'), i, 0))),
      );
      results.forEach((result, i) => {
        if (i % 3 === 0) {
          assert.equal(result.status, 'rejected');
          assert.equal((result as PromiseRejectedResult).reason instanceof Error && (result as PromiseRejectedResult).reason.message, `fail ${i}`);
        } else {
          assert.deepEqual(result, { status: 'fulfilled', value: i });
        }
      });
    });
  });
});

describe('ThreadPool: lifecycle', { timeout: 30000 }, () => {
  it('start() validates the size: 0, -1, 1.5, NaN throw InvalidOptionError and leave the pool stopped', async () => {
    for (const size of [0, -1, 1.5, Number.NaN, Infinity]) {
      const pool = new ThreadPool(2);
      pool.init(size);
      assert.throws(() => pool.start(), isInvalidSize, `size ${size}`);
      assert.equal(pool.isRunning, false);
      assert.equal(pool.threads.length, 0);
      await assert.rejects(pool.run(task('add'), 1, 2), isPoolStopped);
      await pool.stop(); // a no-op on a stopped pool
    }
    assert.throws(() => new ThreadPool(0).start(), isInvalidSize, 'the constructor size is validated too');
    // A failed start() leaves the pool usable once the size is fixed.
    const pool = new ThreadPool(0);
    assert.throws(() => pool.start(), isInvalidSize);
    await withPool(pool.init(1), async () => {
      assert.equal(await pool.run<number>(task('add'), 1, 2), 3);
    });
  });

  it('a second start() throws PoolStateError and leaves the running pool alone', async () => {
    await withPool(1, async (pool) => {
      const threads = pool.threads.map((t) => t.threadId);
      assert.throws(() => pool.start(), isPoolState);
      assert.deepEqual(
        pool.threads.map((t) => t.threadId),
        threads,
      );
      assert.equal(await pool.run<number>(task('add'), 2, 3), 5);
    });
  });

  it('run() before start() and after stop() rejects with PoolStoppedError, never throws', async () => {
    const pool = new ThreadPool(1);
    let pending: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      pending = pool.run(task('add'), 1, 1);
    });
    await assert.rejects(pending as Promise<unknown>, isPoolStopped);
    pool.start();
    assert.equal(await pool.run<number>(task('add'), 1, 1), 2);
    await pool.stop();
    await assert.rejects(pool.run(task('add'), 1, 1), isPoolStopped);
  });

  it('restarts after stop(); init(n) changes the size between runs', async () => {
    await withPool(1, async (pool) => {
      // Size 1: two tasks that wait for each other cannot meet.
      const pair = sharedCounter();
      const lonely = await Promise.all([pool.run<{ allArrived: boolean }>(task('barrier'), pair, 2, 300), pool.run<{ allArrived: boolean }>(task('barrier'), pair, 2, 300)]);
      assert.equal(lonely[0].allArrived, false, 'with one worker the first task ran alone');
      await pool.stop();
      assert.equal(pool.isRunning, false);

      pool.init(3).start();
      assert.equal(pool.size, 3);
      assert.equal(pool.threads.length, 3);
      const trio = sharedCounter();
      const met = await Promise.all([0, 1, 2].map(() => pool.run<{ allArrived: boolean; threadId: number }>(task('barrier'), trio, 3, 3000)));
      assert.ok(
        met.every((r) => r.allArrived),
        'three tasks ran at the same time',
      );
      assert.equal(new Set(met.map((r) => r.threadId)).size, 3, 'on three distinct threads');
      await pool.stop();

      pool.init(2).start();
      assert.equal(pool.threads.length, 2);
      assert.equal(await pool.run<string>(task('shout'), 'again'), 'AGAIN!');
    });
  });

  it('init() while running or stopping throws PoolStateError; so does start() while stopping', async () => {
    const pool = new ThreadPool(1).start();
    assert.throws(() => pool.init(4), isPoolState);
    assert.equal(pool.size, 1, 'a refused init() changes nothing');
    const started = sharedCounter();
    const running = pool.run(task('cooperativeSleep'), started, 10000);
    const stopping = pool.stop();
    assert.throws(() => pool.init(2), isPoolState);
    assert.throws(() => pool.start(), isPoolState);
    await stopping;
    await running;
    pool.init(2); // fine once stopped
    assert.equal(pool.size, 2);
  });
});
