import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { PoolStoppedError, ThreadPool, type TaskRef } from '../../src/index.js';
import { activeResources, extraResources, osThreadCount } from '../helpers/resources.js';
import { waitUntil } from '../helpers/wait.js';
import type { CooperativeResult } from './fixtures/tasks.js';
import { settleStopped, sharedCounter, task, waitForCount } from './helpers.js';

function isPoolStopped(err: unknown): boolean {
  return err instanceof PoolStoppedError && err.code === 'ERR_POOL_STOPPED';
}

describe('ThreadPool.stop(): pending and running tasks', { timeout: 30000 }, () => {
  it('rejects queued tasks with PoolStoppedError; the running one sees isPoolStopping() and stop() waits for it', async () => {
    const pool = new ThreadPool(1).start();
    const started = sharedCounter();
    const queuedRan = sharedCounter();
    const order: string[] = [];
    const running = pool.run<CooperativeResult>(task('cooperativeSpin'), started, 20000);
    running.then(() => order.push('running task settled'), () => order.push('running task failed'));
    await waitForCount(started, 1);
    const queued = Array.from({ length: 5 }, () => pool.run(task('stubbornSpin'), queuedRan, 0));
    const queuedOutcomes = queued.map((p) => p.then(() => 'resolved', (err: unknown) => (isPoolStopped(err) ? 'stopped' : `other: ${String(err)}`)));
    assert.equal(pool.active, 1);
    assert.equal(pool.queued, 5);

    const t0 = performance.now();
    await pool.stop().then(() => order.push('stop resolved'));
    const elapsed = performance.now() - t0;

    assert.deepEqual(await Promise.all(queuedOutcomes), ['stopped', 'stopped', 'stopped', 'stopped', 'stopped']);
    assert.equal(Atomics.load(queuedRan, 0), 0, 'no queued task ever ran');
    const result = await running;
    assert.equal(result.observedStop, true, 'the running task saw the stop flag');
    assert.ok(result.ranMs < 10000, `it returned early (${result.ranMs} ms)`);
    assert.deepEqual(order, ['running task settled', 'stop resolved'], 'stop() resolves only after the running task');
    assert.ok(elapsed < 5000, `stop took ${elapsed} ms`);
    assert.equal(pool.queued, 0);
    assert.equal(pool.active, 0);
    assert.equal(pool.threads.length, 0);
  });

  it('several running tasks (sync and async) all observe the stop and return early', async () => {
    const pool = new ThreadPool(4).start();
    const started = sharedCounter();
    const tasks = [
      pool.run<CooperativeResult>(task('cooperativeSpin'), started, 20000),
      pool.run<CooperativeResult>(task('cooperativeSleep'), started, 20000),
      pool.run<CooperativeResult>(task('cooperativeSleep'), started, 20000),
      pool.run<CooperativeResult>(task('cooperativeSpin'), started, 20000),
    ];
    await waitForCount(started, 4);
    assert.equal(pool.active, 4);
    const t0 = performance.now();
    await pool.stop();
    const elapsed = performance.now() - t0;
    const results = await Promise.all(tasks);
    assert.ok(
      results.every((r) => r.observedStop),
      JSON.stringify(results),
    );
    assert.equal(new Set(results.map((r) => r.threadId)).size, 4, 'they really ran side by side');
    assert.ok(elapsed < 5000, `stop took ${elapsed} ms`);
  });

  it('stop({ timeout }) rejects a task that ignores the flag with PoolStoppedError after the timeout', async () => {
    const pool = new ThreadPool(2).start();
    const started = sharedCounter();
    const stubborn = settleStopped(pool.run<number>(task('stubbornSpin'), started, 3000));
    const polite = pool.run<CooperativeResult>(task('cooperativeSleep'), started, 20000);
    await waitForCount(started, 2);
    const t0 = performance.now();
    await pool.stop({ timeout: 300 });
    const elapsed = performance.now() - t0;
    assert.deepEqual(await stubborn, { ok: false }, 'the stubborn task rejects with PoolStoppedError');
    assert.equal((await polite).observedStop, true, 'the cooperative one still returned its result');
    assert.ok(elapsed >= 250, `stop waited for the timeout (${elapsed} ms)`);
    assert.ok(elapsed < 2500, `stop did not wait for the stubborn task (${elapsed} ms)`);
    assert.equal(pool.threads.length, 0);
    // The terminated worker does not spoil the next run.
    pool.start();
    try {
      assert.equal(await pool.run<number>(task('add'), 4, 5), 9);
    } finally {
      await pool.stop();
    }
  });

  it('stop({ timeout }) does not wait out the timeout when the tasks finish sooner', async () => {
    const pool = new ThreadPool(1).start();
    const started = sharedCounter();
    const polite = pool.run<CooperativeResult>(task('cooperativeSleep'), started, 20000);
    await waitForCount(started, 1);
    const t0 = performance.now();
    await pool.stop({ timeout: 20000 });
    assert.ok(performance.now() - t0 < 5000);
    assert.equal((await polite).observedStop, true);
  });
});

describe('ThreadPool.stop(): idle pools and idempotence', { timeout: 20000 }, () => {
  it('resolves promptly with idle workers', async () => {
    const pool = new ThreadPool(4).start();
    await Promise.all([1, 2, 3, 4].map((n) => pool.run(task('add'), n, n)));
    const t0 = performance.now();
    await pool.stop();
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 1000, `idle stop took ${elapsed} ms`);
    assert.equal(pool.threads.length, 0);
  });

  it('resolves promptly right after start(), workers still booting', async () => {
    const pool = new ThreadPool(3).start();
    const t0 = performance.now();
    await pool.stop();
    assert.ok(performance.now() - t0 < 2000);
  });

  it('is idempotent: concurrent calls share one promise; later calls resolve too', async () => {
    const never = new ThreadPool(1);
    await never.stop();
    await never.stop();

    const pool = new ThreadPool(2).start();
    const started = sharedCounter();
    const running = pool.run<CooperativeResult>(task('cooperativeSleep'), started, 20000);
    await waitForCount(started, 1);
    const a = pool.stop();
    const b = pool.stop();
    const c = pool.stop({ timeout: 1 });
    assert.equal(a, b, 'a second stop() returns the same promise');
    assert.equal(a, c, 'options of a later call do not start a second shutdown');
    await Promise.all([a, b, c]);
    assert.equal((await running).observedStop, true);
    await pool.stop();
    assert.equal(pool.isRunning, false);
  });
});

describe('ThreadPool.stop(): no lost wake-up', { timeout: 30000 }, () => {
  it('every promise settles when stop() races with submissions (20 rounds)', async () => {
    for (let round = 0; round < 20; round++) {
      const pool = new ThreadPool(2).start();
      const outcomes: Promise<{ ok: true; value: number } | { ok: false }>[] = [];
      const submitted: number[] = [];
      const submit = (i: number): void => {
        submitted.push(i);
        const outcome = settleStopped(pool.run<number>({ module: new URL('./fixtures/tasks.js', import.meta.url) }, i));
        outcomes.push(outcome);
        // Completions submit more work, racing the pool's own bookkeeping when the stop lands.
        void outcome.then((r) => {
          if (r.ok && i % 7 === 0) submit(i + 100_000);
        });
      };
      const stopAt = round * 37; // from "right away" to "after hundreds of tasks"
      let stopping: Promise<void> | null = null;
      for (let i = 0; i < 800; i++) {
        if (i === stopAt) stopping = pool.stop();
        submit(i);
        if (i % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      if (stopping === null) stopping = pool.stop();
      await stopping;
      // Completions may still be submitting: keep waiting until the set stops growing.
      let seen = -1;
      while (seen !== outcomes.length) {
        seen = outcomes.length;
        await Promise.all(outcomes);
      }
      const results = await Promise.all(outcomes);
      results.forEach((r, k) => {
        if (r.ok) assert.equal(r.value, submitted[k], `round ${round}: task ${submitted[k]} got someone else's result`);
      });
      const ok = results.filter((r) => r.ok).length;
      if (stopAt === 0) assert.equal(ok, 0, 'nothing runs once stop() was called');
      assert.equal(pool.active, 0);
      assert.equal(pool.queued, 0);
      assert.equal(pool.isRunning, false);
    }
  });

  it('stop() called from a task completion, with the queue full, settles everything', async () => {
    const pool = new ThreadPool(2).start();
    let stopping: Promise<void> | null = null;
    const outcomes = Array.from({ length: 500 }, (_, i) => {
      const p = pool.run<number>(task('add'), i, 0);
      if (i === 10) void p.then(() => (stopping = pool.stop()));
      return settleStopped(p);
    });
    const results = await Promise.all(outcomes);
    assert.ok(stopping !== null);
    await stopping;
    const done = results.filter((r) => r.ok).length;
    assert.ok(done >= 11 && done < 500, `${done} ran before the stop`);
    results.forEach((r, i) => {
      if (r.ok) assert.equal(r.value, i);
    });
  });
});

describe('ThreadPool: rapid start/stop', { timeout: 60000 }, () => {
  it('100 start/run/stop cycles leak no worker threads or handles', async () => {
    const light = (name: string): TaskRef => ({ module: new URL('./fixtures/light.js', import.meta.url), name });
    const pool = new ThreadPool(1);
    // Warm up once, so lazily created process-wide threads (libuv's pool) are in the baseline.
    pool.start();
    await pool.run(light('add'), 0, 0);
    await pool.stop();
    const resourcesBefore = activeResources();
    const threadsBefore = osThreadCount();

    const t0 = performance.now();
    const seenThreadIds = new Set<number>();
    for (let cycle = 0; cycle < 100; cycle++) {
      pool.start();
      const where = await pool.run<{ threadId: number }>(light('whereAmI'));
      seenThreadIds.add(where.threadId);
      assert.equal(await pool.run<number>(light('add'), cycle, 1), cycle + 1);
      await pool.stop();
      assert.equal(pool.threads.length, 0);
    }
    const elapsed = performance.now() - t0;
    assert.equal(seenThreadIds.size, 100, 'each cycle ran on a fresh worker');

    await waitUntil(() => extraResources(resourcesBefore).size === 0, () => `resources left behind: ${JSON.stringify([...extraResources(resourcesBefore)])}`, 2000, 10);
    if (threadsBefore !== null) {
      // OS threads join a moment after their workers exit, with no event to await.
      await waitUntil(() => (osThreadCount() as number) <= threadsBefore, () => `OS threads: ${threadsBefore} before, ${osThreadCount()} after 100 cycles`, 2000, 10);
    }
    assert.ok(elapsed < 25000, `100 cycles took ${elapsed} ms`);
  });
});
