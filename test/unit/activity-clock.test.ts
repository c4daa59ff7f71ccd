import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ActivityClock } from '../../src/core/activity-clock.js';
import { Dispatcher } from '../../src/core/dispatcher.js';

describe('ActivityClock', () => {
  it('reads ahead of the real clock by one and a half resolutions after a refresh', () => {
    const clock = new ActivityClock(40);
    const before = performance.now();
    const returned = clock.refresh();
    const after = performance.now();
    assert.equal(returned, clock.now);
    assert.ok(clock.now >= after + 40, `stamp ${clock.now} is less than a resolution ahead of ${after}`);
    // Whole milliseconds, rounded up: at most 1.5 resolutions and 1 ms ahead.
    assert.ok(Number.isInteger(clock.now), `stamp ${clock.now} is not a whole number of ms`);
    assert.ok(clock.now <= after + 61, `stamp ${clock.now} is more than 1.5 resolutions ahead of ${before}`);
  });

  it('remembers a stall of the loop as the margin an idle sweep must add, for two windows', async () => {
    const clock = new ActivityClock(5, 300);
    clock.start();
    try {
      assert.ok(clock.stallMarginMs() < 50, `margin ${clock.stallMarginMs()} before any stall`);
      // The loop stalls for 150 ms: the timer cannot refresh, stamps taken now would be early.
      const stalledAt = performance.now();
      while (performance.now() - stalledAt < 150);
      assert.ok(clock.stallMarginMs() >= 140, `margin ${clock.stallMarginMs()} during a 150 ms stall`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(clock.stallMarginMs() >= 140, 'the stall was forgotten once the timer ran again');
      // Two windows of 300 ms later, with the loop keeping time, the margin is gone.
      const since = performance.now();
      while (performance.now() - since < 700) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.ok(clock.stallMarginMs() < 140, `margin ${clock.stallMarginMs()} two windows after the stall`);
    } finally {
      clock.stop();
    }
  });

  it('moves forward on its own while started, and holds still once stopped', async () => {
    const clock = new ActivityClock(5);
    clock.start();
    try {
      const first = clock.now;
      // Timer turns until the value moves, for at most a second (two hundred resolutions).
      while (clock.now === first && performance.now() < first + 1000) await new Promise((resolve) => setTimeout(resolve, 1));
      assert.ok(clock.now > first, 'the clock did not refresh while started');
    } finally {
      clock.stop();
    }
    const frozen = clock.now;
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(clock.now, frozen);
  });

  it('never keeps the process alive', async () => {
    const { spawn } = await import('node:child_process');
    const url = new URL('../../src/core/activity-clock.js', import.meta.url).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { ActivityClock } from '${url}'; new ActivityClock(10).start();`], { stdio: 'ignore' });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  });

  it('makes the idle sweep wait out a stall: a connection is not closed early for stale stamps', async () => {
    const dispatcher = new Dispatcher({ checkInterval: 0.02, idleTimeout: 0.1 });
    const expired: number[] = [];
    const conn = { lastActiveAt: 0, expire: (ms: number) => expired.push(ms) };
    dispatcher.register(conn as never);
    dispatcher.clock.start();
    try {
      const stalledAt = performance.now();
      conn.lastActiveAt = dispatcher.clock.now; // stamped at the start of a 300 ms stall
      while (performance.now() - stalledAt < 300);
      // 300 ms after a stale stamp, but the traffic may have come at the end of the stall.
      dispatcher.sweepIdle();
      assert.deepEqual(expired, []);
    } finally {
      dispatcher.clock.stop();
    }
  });

  it('is sized by the dispatcher: a quarter of the check interval, within 1 to 250 ms', () => {
    assert.equal(new Dispatcher({ checkInterval: 0.1, idleTimeout: 1 }).clock.resolutionMs, 25);
    assert.equal(new Dispatcher({ checkInterval: 60, idleTimeout: 300 }).clock.resolutionMs, 250);
    assert.equal(new Dispatcher({ checkInterval: 0.001, idleTimeout: 1 }).clock.resolutionMs, 1);
  });
});
