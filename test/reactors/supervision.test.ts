/**
 * How the group supervises its reactors: a reactor that dies of an uncaught exception is
 * reported with that error (message and stack), and a slot whose replacements cannot start is
 * retried with growing waits, not in a loop, is shown as down meanwhile, and serves again once
 * its application loads; the other reactor serves throughout.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReactorGroup, type ReactorExit, type ReactorInfo } from '../../src/index.js';
import { SeedClient } from '../helpers/seed-client.js';
import { waitUntil } from '../helpers/wait.js';
import { assertEchoes, closeAll, connectMany, identify, MODES } from './helpers.js';
import { CRASH, CRASH_MESSAGE, LOAD_FAILURE } from '../fixtures/fragile-app.js';

const FRAGILE_APP = new URL('../fixtures/fragile-app.js', import.meta.url);
const TIMEOUT = { timeout: 60_000 };
const BACKOFF = { initialMs: 100, maxMs: 800 };

interface Exit {
  reactor: ReactorInfo;
  exit: ReactorExit;
  /** performance.now() when onReactorExit was called. */
  at: number;
}

/** Records every onReactorExit call and lets a test await the n-th. */
class ExitLog {
  readonly exits: Exit[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  readonly onReactorExit = (reactor: ReactorInfo, exit: ReactorExit): void => {
    this.exits.push({ reactor, exit, at: performance.now() });
    for (const waiter of this.waiters.filter((w) => this.exits.length >= w.count)) waiter.resolve();
  };

  /** Resolves once `count` exits have been reported. */
  reached(count: number): Promise<void> {
    if (this.exits.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

/** Sends `crash` on a connection served by reactor slot `index`; that reactor then dies. */
async function crashReactor(group: ReactorGroup, port: number, index: number, opened: SeedClient[]): Promise<void> {
  const target = group.reactors[index]!.id;
  const clients = await connectMany(port, 20);
  opened.push(...clients);
  const identities = await identify(clients);
  const victim = clients[identities.findIndex((identity) => identity.reactor === target)];
  assert.ok(victim !== undefined, `none of 20 clients reached reactor ${index}`);
  victim.send(CRASH);
}

for (const { mode, skip } of MODES) {
  describe(`reactors: ${mode}, supervision`, () => {
    it('a reactor that dies of an uncaught exception is reported with its message and stack, and replaced at once', { skip, ...TIMEOUT }, async () => {
      const log = new ExitLog();
      const group = new ReactorGroup({ workers: 2, reactorMode: mode, port: 0, app: FRAGILE_APP, onReactorExit: log.onReactorExit });
      const opened: SeedClient[] = [];
      try {
        const { port } = await group.start();
        const victim = group.reactors[1]!;
        await crashReactor(group, port, 1, opened);
        await log.reached(1);
        const [{ reactor, exit }] = log.exits as [Exit];
        assert.deepEqual(reactor, victim);
        assert.equal(exit.code, 1);
        assert.ok(exit.error !== undefined, 'the error that killed the reactor is reported');
        assert.equal(exit.error.message, CRASH_MESSAGE);
        assert.match(exit.error.stack ?? '', /fragile-app\.js/, 'the stack points into the application');
        assert.equal(exit.failures, 1);
        assert.equal(exit.restartInMs, 0, 'a reactor that had been serving is replaced at once');
        await waitUntil(() => group.status()[1]?.state === 'serving', 'the replacement', 10_000, 25);
        const fresh = await connectMany(port, 10);
        opened.push(...fresh);
        await assertEchoes(fresh);
      } finally {
        await closeAll(opened);
        await group.stop();
      }
    });

    it('a slot whose replacement cannot load is retried with growing waits, shown down, and serves again once it loads', { skip, ...TIMEOUT }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fragile-'));
      const marker = join(dir, 'refuse-to-load');
      process.env.FRAGILE_APP_MARKER = marker;
      const log = new ExitLog();
      const group = new ReactorGroup({ workers: 2, reactorMode: mode, port: 0, app: FRAGILE_APP, restartBackoff: BACKOFF, onReactorExit: log.onReactorExit });
      const opened: SeedClient[] = [];
      try {
        const { port } = await group.start();
        const survivor = group.reactors[0]!;
        writeFileSync(marker, '');
        await crashReactor(group, port, 1, opened);

        // The crash, then five failed replacements.
        await log.reached(6);
        const exits = log.exits.slice(0, 6);
        assert.ok(exits.every(({ reactor }) => reactor.index === 1), 'only slot 1 failed');
        assert.equal(exits[0]!.exit.error?.message, CRASH_MESSAGE);
        exits.slice(1).forEach(({ exit }, i) => assert.match(exit.error?.message ?? '', new RegExp(LOAD_FAILURE), `attempt ${i + 1} names why it failed`));
        assert.deepEqual(exits.map(({ exit }) => exit.failures), [1, 2, 3, 4, 5, 6]);
        exits.forEach(({ exit }) => {
          const ceiling = exit.failures === 1 ? 0 : Math.min(BACKOFF.maxMs, BACKOFF.initialMs * 2 ** (exit.failures - 2));
          assert.ok(exit.restartInMs >= ceiling / 2 && exit.restartInMs <= ceiling, `wait ${exit.restartInMs} ms after failure ${exit.failures}: expected ${ceiling / 2}..${ceiling}`);
        });
        for (let i = 1; i < exits.length; i++) {
          const waited = exits[i]!.at - exits[i - 1]!.at;
          assert.ok(waited >= exits[i - 1]!.exit.restartInMs, `attempt ${i} came ${waited.toFixed(0)} ms after failure ${i}, before its wait of ${exits[i - 1]!.exit.restartInMs} ms`);
        }

        const [first, second] = group.status();
        assert.equal(first?.state, 'serving');
        assert.notEqual(second?.state, 'serving');
        assert.ok((second?.failures ?? 0) >= 6);
        assert.match(second?.lastError?.message ?? '', new RegExp(LOAD_FAILURE));

        // Meanwhile the other reactor takes every new client.
        const meanwhile = await connectMany(port, 20);
        opened.push(...meanwhile);
        await assertEchoes(meanwhile);
        assert.deepEqual(new Set((await identify(meanwhile)).map((identity) => identity.reactor)), new Set([survivor.id]));

        rmSync(marker);
        await waitUntil(() => group.status()[1]?.state === 'serving', 'slot 1 serving again', 10_000, 25);
        const recovered = group.reactors[1]!;
        const after = await connectMany(port, 20);
        opened.push(...after);
        await assertEchoes(after, 1);
        assert.ok((await identify(after)).some((identity) => identity.reactor === recovered.id), 'the recovered reactor takes new clients');
        assert.equal((await group.stats()).reactors.length, 2);
      } finally {
        delete process.env.FRAGILE_APP_MARKER;
        await closeAll(opened);
        await group.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
