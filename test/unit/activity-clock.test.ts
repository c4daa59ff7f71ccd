import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { ActivityClock } from '../../src/core/activity-clock.js';
import { Dispatcher } from '../../src/core/dispatcher.js';

describe('ActivityClock', () => {
  it('reads ahead of the real clock by at most one resolution after a refresh', () => {
    const clock = new ActivityClock(40);
    const before = performance.now();
    clock.refresh();
    const after = performance.now();
    assert.ok(clock.now >= after, `stamp ${clock.now} is earlier than the time it was taken (${after})`);
    assert.ok(clock.now - before <= 40 + (after - before), `stamp ${clock.now} is more than one resolution ahead of ${after}`);
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

  it('is sized by the dispatcher: a quarter of the check interval, within 1 to 250 ms', () => {
    assert.equal(new Dispatcher({ checkInterval: 0.1, idleTimeout: 1 }).clock.resolutionMs, 25);
    assert.equal(new Dispatcher({ checkInterval: 60, idleTimeout: 300 }).clock.resolutionMs, 250);
    assert.equal(new Dispatcher({ checkInterval: 0.001, idleTimeout: 1 }).clock.resolutionMs, 1);
  });
});
