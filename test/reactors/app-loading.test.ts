/**
 * What a group runs and how it refuses what it cannot run: a ReactorServer subclass, a factory
 * and a callbacks object each run on every reactor, with connection ids unique across the
 * group; a module without the export fails start(); bad options throw before anything starts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import {
  InvalidOptionError,
  LengthCodec,
  ReactorGroup,
  ReactorStartError,
  UnknownOptionError,
  UnsupportedError,
  defaultReactorCount,
  maxPoolSize,
  maxReactorCount,
  supportsReusePort,
  type ReactorGroupOptions,
  type ReactorMode,
} from '../../src/index.js';
import type { SeedClient } from '../helpers/seed-client.js';
import { assertEchoes, assertReactorsGone, closeAll, connectMany, identify, KIND, MODES, REACTOR_COUNTS, THREADS_SKIP, withGroup, workerHandleCount, type Identity } from './helpers.js';

const CLIENTS = 100;
const TIMEOUT = { timeout: 30_000 };

interface AppFixture {
  readonly kind: string;
  readonly app: URL;
  readonly appExport?: string;
  /** What the fixture says it is in its `whoami` answer. */
  readonly tag: string;
}

const FIXTURES: readonly AppFixture[] = [
  { kind: 'a ReactorServer subclass', app: new URL('./fixtures/subclass-app.js', import.meta.url), tag: 'subclass' },
  { kind: 'a factory returning a NetServer', app: new URL('./fixtures/factory-app.js', import.meta.url), tag: 'factory' },
  { kind: 'a callbacks object', app: new URL('./fixtures/callbacks-app.js', import.meta.url), tag: 'callbacks' },
];

/**
 * Every client asks who serves it. Checks that every reactor of the group answered, that no
 * two connections share an id, and that each id is one its reactor hands out (reactor i of n
 * gives i+1, i+1+n, ...).
 */
async function assertServedByEveryReactor(group: ReactorGroup, clients: readonly SeedClient[], tag: string): Promise<Identity[]> {
  const answers = await identify(clients);
  const reactors = group.reactors;
  for (const answer of answers) assert.equal(answer.tag, tag, 'the fixture answered, not the default echo');
  const serving = new Set(answers.map((answer) => answer.reactor));
  assert.deepEqual(
    [...serving].sort((a, b) => a - b),
    reactors.map((reactor) => reactor.id).sort((a, b) => a - b),
    'the app answered from every reactor of the group, and only from them',
  );
  const ids = answers.map((answer) => answer.id);
  assert.equal(new Set(ids).size, ids.length, `connection ids must be unique across reactors: ${ids.join(', ')}`);
  for (const answer of answers) {
    const index = reactors.findIndex((reactor) => reactor.id === answer.reactor);
    assert.equal((answer.id - 1) % reactors.length, index, `connection ${answer.id} was given by reactor ${index} of ${reactors.length}`);
  }
  return answers;
}

for (const { mode, skip } of MODES) {
  describe(`reactors: ${mode}, app modules`, () => {
    for (const fixture of FIXTURES) {
      for (const count of REACTOR_COUNTS) {
        it(`runs ${fixture.kind} on each of ${count} reactor${count === 1 ? '' : 's'}, connection ids unique across them`, { skip, ...TIMEOUT }, () =>
          withGroup({ workers: count, reactorMode: mode, app: fixture.app }, async (group, port) => {
            const clients = await connectMany(port, CLIENTS);
            try {
              await assertServedByEveryReactor(group, clients, fixture.tag);
              await assertEchoes(clients);
              const stats = await group.stats();
              assert.equal(stats.total.accepted, CLIENTS);
              assert.equal(stats.total.messagesIn, 2 * CLIENTS);
            } finally {
              await closeAll(clients);
            }
          }),
        );
      }
    }

    it('runs the export named by appExport (an async factory returning a ReactorServer) on 2 reactors', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, app: new URL('./fixtures/factory-app.js', import.meta.url), appExport: 'asyncReactorServer' }, async (group, port) => {
        const clients = await connectMany(port, 40);
        try {
          await assertServedByEveryReactor(group, clients, 'async-factory');
          await assertEchoes(clients);
        } finally {
          await closeAll(clients);
        }
      }),
    );

    for (const [what, options] of [
      ['a module without a default export', { app: new URL('./fixtures/no-default-app.js', import.meta.url) }],
      ['an appExport the module lacks', { app: new URL('./fixtures/callbacks-app.js', import.meta.url), appExport: 'noSuchExport' }],
    ] as const) {
      it(`start() rejects with ReactorStartError for ${what}, and no reactor is left running`, { skip, ...TIMEOUT }, async () => {
        const baseline = workerHandleCount();
        const group = new ReactorGroup({ workers: 2, reactorMode: mode, port: 0, ...options });
        try {
          await assert.rejects(group.start(), (err: unknown) => {
            assert.ok(err instanceof ReactorStartError, `expected a ReactorStartError, got ${String(err)}`);
            assert.equal(err.code, 'ERR_REACTOR_START');
            assert.match(err.message, /has no export "(default|noSuchExport)"/);
            return true;
          });
          const reactors = group.reactors;
          assertReactorsGone(mode, reactors, baseline);
          assert.deepEqual((await group.stats()).reactors, [], 'no reactor answers');
        } finally {
          await group.stop();
        }
      });
    }
  });
}

describe('reactors: options', () => {
  for (const workers of [0, 1.5, 'x', -1, Number.NaN]) {
    it(`workers: ${typeof workers === 'string' ? `'${workers}'` : String(workers)} throws InvalidOptionError`, { timeout: 5_000 }, () => {
      assert.throws(
        () => new ReactorGroup({ workers: workers as number, port: 0 }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === 'workers' && err.code === 'ERR_INVALID_OPTION',
      );
    });
  }

  it("workers: 'auto' is half the cores, at least one", { timeout: 5_000 }, () => {
    assert.equal(new ReactorGroup({ port: 0 }).size, defaultReactorCount());
    assert.equal(new ReactorGroup({ workers: 'auto', port: 0 }).size, defaultReactorCount());
    assert.ok(defaultReactorCount() >= 1);
  });

  it("reactorMode 'auto' (the default) picks threads exactly where SO_REUSEPORT is supported", { timeout: 30_000 }, async () => {
    const expected: ReactorMode = supportsReusePort() ? 'threads' : 'processes';
    assert.equal(new ReactorGroup({ workers: 1, port: 0 }).mode, expected);
    assert.equal(new ReactorGroup({ workers: 1, port: 0, reactorMode: 'auto' }).mode, expected);
    assert.equal(new ReactorGroup({ workers: 1, port: 0, reactorMode: 'processes' }).mode, 'processes');
    // And it really runs its reactors that way.
    await withGroup({ workers: 1, reactorMode: 'auto' }, async (group, port) => {
      assert.equal(group.mode, expected);
      assert.equal(group.reactors[0]?.kind, KIND[expected]);
      const clients = await connectMany(port, 1);
      await assertEchoes(clients);
      await closeAll(clients);
    });
  });

  it("reactorMode 'threads' throws UnsupportedError on a runtime without SO_REUSEPORT", { skip: supportsReusePort() ? 'this runtime supports SO_REUSEPORT' : false, timeout: 5_000 }, () => {
    assert.throws(
      () => new ReactorGroup({ workers: 2, port: 0, reactorMode: 'threads' } satisfies ReactorGroupOptions),
      (err: unknown) => err instanceof UnsupportedError && err.code === 'ERR_UNSUPPORTED',
    );
  });

  it("reactorMode 'threads' is accepted on a runtime with SO_REUSEPORT", { skip: supportsReusePort() ? false : THREADS_SKIP, timeout: 5_000 }, () => {
    assert.equal(new ReactorGroup({ workers: 2, port: 0, reactorMode: 'threads' }).mode, 'threads');
  });

  it('reactorMode is the mode the group runs in, on every runtime', { timeout: 30_000 }, async () => {
    // Not the default where threads are supported: a group that ignored the option would run threads.
    await withGroup({ workers: 1, reactorMode: 'processes' }, async (group) => {
      assert.equal(group.mode, 'processes');
      assert.equal(group.reactors[0]?.kind, 'process');
    });
    // Not the default elsewhere: a group that ignored the option would run processes.
    if (supportsReusePort()) assert.equal(new ReactorGroup({ workers: 2, port: 0, reactorMode: 'threads' }).mode, 'threads');
    else assert.throws(() => new ReactorGroup({ workers: 2, port: 0, reactorMode: 'threads' }), (err: unknown) => err instanceof UnsupportedError && err.option === 'reactorMode');
  });

  it("the library's old name mode, and a reactorMode that is none, are refused", { timeout: 5_000 }, () => {
    assert.throws(
      () => new ReactorGroup({ workers: 1, port: 0, mode: 'processes' } as ReactorGroupOptions),
      (err: unknown) => err instanceof UnknownOptionError && err.message === 'unknown option mode (did you mean reactorMode?)',
    );
    assert.throws(
      () => new ReactorGroup({ workers: 1, port: 0, reactorMode: 'bogus' as ReactorMode }),
      (err: unknown) =>
        err instanceof InvalidOptionError && err.message === 'invalid option reactorMode: must be one of auto, threads, processes, got string "bogus"',
    );
  });

  it(`workers above ${maxReactorCount()} (8 per core) throws InvalidOptionError naming the bound, and starts nothing`, { timeout: 5_000 }, () => {
    const baseline = workerHandleCount();
    const clusterWorkers = (): number => Object.keys(cluster.workers ?? {}).length;
    const baselineProcesses = clusterWorkers();
    assert.equal(maxReactorCount(), 8 * availableParallelism());
    for (const workers of [maxReactorCount() + 1, 1_000_000]) {
      assert.throws(
        () => new ReactorGroup({ workers, port: 0 }),
        (err: unknown) =>
          err instanceof InvalidOptionError &&
          err.option === 'workers' &&
          err.message.includes(`from 1 to ${maxReactorCount()} (8 per core`) &&
          err.message.endsWith(`got ${workers}`),
      );
    }
    assert.equal(workerHandleCount(), baseline, 'no worker thread was started');
    assert.equal(clusterWorkers(), baselineProcesses, 'no process was started');
    // The bound itself is allowed (nothing starts before start()).
    assert.equal(new ReactorGroup({ workers: maxReactorCount(), port: 0 }).size, maxReactorCount());
  });

  it('every other option is checked when the group is made, not when a reactor starts', { timeout: 5_000 }, () => {
    const refused = (options: Record<string, unknown>, message: string): void => {
      assert.throws(
        () => new ReactorGroup({ workers: 1, port: 0, ...options } as ReactorGroupOptions),
        (err: unknown) => err instanceof InvalidOptionError && err.message === message,
        JSON.stringify(options),
      );
    };
    refused({ idleTimout: 5 }, 'unknown option idleTimout (did you mean idleTimeout?)');
    refused({ port: '20070' }, 'invalid option port: must be an integer from 0 to 65535, got string "20070"');
    refused({ highWaterMark: 1024, lowWaterMark: 2048 }, 'invalid option lowWaterMark: must be an integer from 0 to 1024, got 2048');
    refused({ taskWorkers: -1 }, `invalid option taskWorkers: must be an integer from 0 to ${maxPoolSize()}, got -1`);
    refused({ restartBackoff: { initialMs: -1 } }, 'invalid option restartBackoff.initialMs: must be a number of milliseconds from 0 to 2147483647, got -1');
    refused({ restartBackoff: { maxMS: 10 } }, 'unknown option restartBackoff.maxMS (did you mean maxMs?)');
    refused({ restartBackoff: { initialMs: 500, maxMs: 100 } }, 'invalid option restartBackoff.maxMs: must be >= initialMs (500), got 100');
    refused({ logLevel: 'loud' }, 'invalid option logLevel: must be one of fatal, error, warn, info, debug, trace, silent, got string "loud"');
    refused({ onReactorExit: 'log' }, 'invalid option onReactorExit: must be a function, got string "log"');
    refused({ app: 42 }, 'invalid option app: must be a module path or URL, got 42');
    // The group hands out connection ids and sets reusePort itself.
    assert.throws(() => new ReactorGroup({ workers: 1, port: 0, idStart: 5 } as ReactorGroupOptions), (err: unknown) => err instanceof UnknownOptionError && err.option === 'idStart');
    // A Codec object cannot reach another thread or process: only a name can.
    refused({ codec: new LengthCodec(1024, 'little') }, 'invalid option codec: must be one of seed, length, line, got an object (LengthCodec)');
  });
});
