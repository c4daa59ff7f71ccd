import { afterEach, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Dispatcher, type CloseReason, type Connection } from '../../src/index.js';
import { activeResources, watchTimers } from '../helpers/resources.js';
import { SeedClient } from '../helpers/seed-client.js';
import { deferred, EventLog } from '../helpers/wait.js';
import { nextTurn, startServer } from './support.js';

function newDispatcher(onTaskError?: (error: unknown) => void): Dispatcher {
  return new Dispatcher({ checkInterval: 60, idleTimeout: 0, ...(onTaskError === undefined ? {} : { onTaskError }) });
}

/** Resolves with the first process warning whose message contains `text`. */
function warningContaining(text: string): Promise<Error> {
  return new Promise((resolve) => {
    const listener = (warning: Error): void => {
      if (!warning.message.includes(text)) return;
      process.off('warning', listener);
      resolve(warning);
    };
    process.on('warning', listener);
  });
}

describe('Dispatcher', { timeout: 10000 }, () => {
  describe('task queue', () => {
    it('runs tasks in FIFO order after the current callback and its microtasks, never synchronously', async () => {
      const dispatcher = newDispatcher();
      const order: string[] = [];
      const done = deferred();
      dispatcher.enqueue(() => order.push('a'));
      dispatcher.enqueue(() => order.push('b'));
      dispatcher.enqueue(() => {
        order.push('c');
        done.resolve();
      });
      queueMicrotask(() => order.push('microtask'));
      order.push('sync');
      assert.equal(dispatcher.pendingTasks, 3);
      await done.promise;
      assert.deepEqual(order, ['sync', 'microtask', 'a', 'b', 'c']);
      assert.equal(dispatcher.pendingTasks, 0);
    });

    it('runs a task queued by a task on a later turn, after callbacks already waiting', async () => {
      const dispatcher = newDispatcher();
      let turns = 0;
      const finished = deferred();
      const probe = deferred<number>();
      const again = (): void => {
        turns++;
        if (turns < 1000) dispatcher.enqueue(again);
        else finished.resolve();
      };
      dispatcher.enqueue(again);
      // Queued after the first drain: it must run before the re-queued task's turn.
      setImmediate(() => probe.resolve(turns));
      assert.equal(await probe.promise, 1);
      await finished.promise;
      assert.equal(turns, 1000);
    });

    it('does not starve I/O while a task keeps re-queueing itself', async () => {
      const dispatcher = newDispatcher();
      const cap = 1_000_000;
      let turns = 0;
      let ioDone = false;
      const stopped = deferred<number>();
      const spin = (): void => {
        turns++;
        if (ioDone || turns >= cap) stopped.resolve(turns);
        else dispatcher.enqueue(spin);
      };
      dispatcher.enqueue(spin);
      stat(process.execPath, () => {
        ioDone = true;
      });
      const at = await stopped.promise;
      assert.ok(ioDone, `the I/O callback never ran during ${at} turns`);
      assert.ok(at < cap);
    });

    it('reports a throwing task through onTaskError and runs the tasks after it', async () => {
      const errors: unknown[] = [];
      const dispatcher = newDispatcher((error) => errors.push(error));
      const boom = new Error('task failed');
      const ran: string[] = [];
      const done = deferred();
      dispatcher.enqueue(() => ran.push('before'));
      dispatcher.enqueue(() => {
        throw boom;
      });
      dispatcher.enqueue(() => ran.push('after'));
      await nextTurn();
      assert.deepEqual(errors, [boom]);
      assert.deepEqual(ran, ['before', 'after']);
      dispatcher.enqueue(() => done.resolve());
      await done.promise;
    });

    it('without onTaskError, turns a throwing task into a process warning', async () => {
      const dispatcher = newDispatcher();
      const warned = warningContaining('dispatcher task threw');
      dispatcher.enqueue(() => {
        throw new Error('unreported boom');
      });
      const warning = await warned;
      assert.match(warning.message, /unreported boom/);
    });

    it('stop() drops queued tasks and cancels the pending drain', async () => {
      const dispatcher = newDispatcher();
      // Watched through the globals, not process.getActiveResourcesInfo(): Bun's lists nothing.
      const timers = watchTimers();
      let ran = 0;
      try {
        for (let i = 0; i < 3; i++) dispatcher.enqueue(() => ran++);
        assert.equal(timers.pendingImmediates(), 1);
        dispatcher.stop();
        assert.equal(dispatcher.pendingTasks, 0);
        assert.equal(timers.pendingImmediates(), 0);
      } finally {
        timers.restore();
      }
      await nextTurn();
      await nextTurn();
      assert.equal(ran, 0);
    });
  });

  describe('sweep timer', () => {
    afterEach(() => mock.timers.reset());

    it('sweeps every checkInterval while running and never after stop()', () => {
      mock.timers.enable({ apis: ['setInterval'] });
      const dispatcher = new Dispatcher({ checkInterval: 2, idleTimeout: 1 });
      const sweep = mock.method(dispatcher, 'sweepIdle', () => undefined);
      dispatcher.start();
      assert.equal(dispatcher.isRunning, true);
      mock.timers.tick(1999);
      assert.equal(sweep.mock.callCount(), 0);
      mock.timers.tick(1);
      assert.equal(sweep.mock.callCount(), 1);
      mock.timers.tick(4000);
      assert.equal(sweep.mock.callCount(), 3);
      dispatcher.stop();
      assert.equal(dispatcher.isRunning, false);
      mock.timers.tick(60_000);
      assert.equal(sweep.mock.callCount(), 3);
    });

    it('accepts a fractional checkInterval', () => {
      mock.timers.enable({ apis: ['setInterval'] });
      const dispatcher = new Dispatcher({ checkInterval: 0.25, idleTimeout: 1 });
      const sweep = mock.method(dispatcher, 'sweepIdle', () => undefined);
      dispatcher.start();
      mock.timers.tick(1000);
      dispatcher.stop();
      assert.equal(sweep.mock.callCount(), 4);
    });

    it('starts no sweep when idleTimeout is 0', () => {
      mock.timers.enable({ apis: ['setInterval'] });
      const dispatcher = new Dispatcher({ checkInterval: 1, idleTimeout: 0 });
      const sweep = mock.method(dispatcher, 'sweepIdle', () => undefined);
      dispatcher.start();
      mock.timers.tick(10_000);
      dispatcher.stop();
      assert.equal(sweep.mock.callCount(), 0);
    });

    it('neither keeps the process alive while running nor leaves a timer after stop()', () => {
      const before = activeResources();
      // Also watched through the globals: Bun's process.getActiveResourcesInfo() lists nothing.
      const timers = watchTimers();
      try {
        const dispatcher = new Dispatcher({ checkInterval: 1, idleTimeout: 5 });
        dispatcher.start();
        assert.deepEqual(activeResources(), before);
        assert.ok(timers.liveTimers() > 0, 'the sweep (and the activity clock) run on timers');
        assert.equal(timers.refedTimers(), 0, 'a timer keeps the process alive');
        dispatcher.enqueue(() => undefined);
        dispatcher.stop();
        assert.deepEqual(activeResources(), before);
        assert.equal(timers.pendingImmediates(), 0);
        assert.equal(timers.liveTimers(), 0, 'a timer outlived stop()');
      } finally {
        timers.restore();
      }
    });
  });

  describe('sweepIdle', () => {
    type Event = { kind: 'open'; conn: Connection } | { kind: 'timeout'; id: number; idleMs: number } | { kind: 'close'; id: number; reason: CloseReason };

    it('closes only connections idle for longer than idleTimeout', async () => {
      const log = new EventLog<Event>();
      const { server, port } = await startServer(
        {
          onConnection: (conn) => log.push({ kind: 'open', conn }),
          onMessage: (conn, message) => {
            conn.send(message);
          },
          onTimeout: (conn, idleMs) => log.push({ kind: 'timeout', id: conn.id, idleMs }),
          onClose: (conn, reason) => log.push({ kind: 'close', id: conn.id, reason }),
        },
        // The real sweep must stay out of the way: this test drives sweepIdle by hand.
        { idleTimeout: 10, checkInterval: 3600 },
      );
      const idle = await SeedClient.connect(port);
      const busy = await SeedClient.connect(port);
      try {
        const connOf = async (client: SeedClient): Promise<Connection> => {
          const event = await log.waitFor((e): e is Extract<Event, { kind: 'open' }> => e.kind === 'open' && e.conn.remotePort === client.socket.localPort);
          return event.conn;
        };
        const idleConn = await connOf(idle);
        const busyConn = await connOf(busy);

        const now = performance.now();
        server.dispatcher.sweepIdle(now + 9_000);
        assert.equal(server.connectionCount, 2, 'nothing has been idle for 10 s yet');

        idleConn.lastActiveAt = now - 1;
        busyConn.lastActiveAt = now; // idle exactly the timeout: not longer than it
        server.dispatcher.sweepIdle(now + 10_000);

        const timeout = await log.waitFor((e): e is Extract<Event, { kind: 'timeout' }> => e.kind === 'timeout');
        assert.equal(timeout.id, idleConn.id);
        assert.ok(Math.abs(timeout.idleMs - 10_001) < 1e-6, `idleMs ${timeout.idleMs}`);
        const closed = await log.waitFor((e) => e.kind === 'close');
        assert.deepEqual(closed, { kind: 'close', id: idleConn.id, reason: 'idle-timeout' });
        await idle.closed;
        assert.equal(server.stats.idleClosed, 1);
        assert.deepEqual(await busy.request('still here'), Buffer.from('still here'));
        assert.equal(log.filter((e) => e.kind === 'close').length, 1);
      } finally {
        idle.destroy();
        busy.destroy();
        await server.stop();
      }
    });

    it('counts traffic as activity: a message or a send refreshes lastActiveAt', async () => {
      const opened = deferred<Connection>();
      const { server, port } = await startServer(
        {
          onConnection: (conn) => opened.resolve(conn),
          onMessage: (conn, message) => {
            conn.send(message);
          },
        },
        { idleTimeout: 10, checkInterval: 3600 },
      );
      const client = await SeedClient.connect(port);
      try {
        const conn = await opened.promise;
        conn.lastActiveAt = 0;
        await client.request('ping');
        const afterMessage = conn.lastActiveAt;
        assert.ok(afterMessage > 0);
        conn.lastActiveAt = 0;
        conn.send('pushed');
        assert.ok(conn.lastActiveAt > 0);
        await client.readFrame();
        server.dispatcher.sweepIdle(afterMessage + 5_000);
        assert.equal(conn.isOpen, true);
      } finally {
        await client.end();
        await server.stop();
      }
    });
  });
});
