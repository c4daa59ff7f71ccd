import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  NetServer,
  RemoteDispatcher,
  ServerStateError,
  type CloseReason,
  type Connection,
} from '../../src/index.js';
import { activeResources, fdCount } from '../helpers/resources.js';
import { SeedClient } from '../helpers/seed-client.js';
import { EventLog } from '../helpers/wait.js';
import { nextTurn, startServer } from './support.js';

function isServerStateError(err: unknown): boolean {
  return err instanceof ServerStateError && err.code === 'ERR_SERVER_STATE';
}

describe('NetServer lifecycle', { timeout: 10000 }, () => {
  it('start() resolves with the bound address; a second start() rejects with ServerStateError', async () => {
    const server = new NetServer({ host: '127.0.0.1', port: 0 });
    assert.equal(server.isRunning, false);
    const address = await server.start();
    try {
      assert.equal(address.address, '127.0.0.1');
      assert.ok(address.port > 0);
      assert.deepEqual(server.address, address);
      assert.equal(server.isRunning, true);
      assert.equal(server.dispatcher.isRunning, true);
      await assert.rejects(server.start(), isServerStateError);
      assert.equal(server.isRunning, true, 'the rejected start must not disturb the running server');
    } finally {
      await server.stop();
    }
    assert.equal(server.isRunning, false);
    assert.equal(server.dispatcher.isRunning, false);
    assert.equal(server.address, null);
    await assert.rejects(server.start(), isServerStateError);
  });

  it('rejects a start() made while the first is still in flight', async () => {
    const server = new NetServer({ host: '127.0.0.1', port: 0 });
    const first = server.start();
    await assert.rejects(server.start(), isServerStateError);
    await first;
    await server.stop();
  });

  it('stop() is idempotent, returns one promise, and works before start()', async () => {
    const neverStarted = new NetServer({ port: 0 });
    await neverStarted.stop();
    await assert.rejects(neverStarted.start(), isServerStateError);

    const { server } = await startServer({});
    const a = server.stop();
    const b = server.stop();
    assert.equal(a, b);
    await a;
    await server.stop();
  });

  it('stop() called while start() is listening leaves nothing running', async () => {
    const server = new NetServer({ host: '127.0.0.1', port: 0 });
    const started = server.start();
    const stopped = server.stop();
    await started;
    await stopped;
    assert.equal(server.isRunning, false);
    assert.equal(server.address, null);
  });

  it('rejects with EADDRINUSE when the port is taken, and can still be stopped', async () => {
    const { server: holder, port } = await startServer({});
    const second = new NetServer({ host: '127.0.0.1', port });
    try {
      await assert.rejects(second.start(), (err: unknown) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE');
      assert.equal(second.isRunning, false);
      await second.stop();
      // The holder is unaffected.
      const client = await SeedClient.connect(port);
      await client.end();
    } finally {
      await holder.stop();
    }
  });

  it('stop() closes every connection with reason "server-stop" and resolves with none left', async () => {
    const closes = new EventLog<{ id: number; reason: CloseReason }>();
    const { server, port } = await startServer({
      onMessage: (conn, message) => {
        conn.send(message);
      },
      onClose: (conn, reason) => closes.push({ id: conn.id, reason }),
    });
    const clients = await Promise.all([0, 1, 2].map(() => SeedClient.connect(port)));
    await Promise.all(clients.map((client, i) => client.request(`hello ${i}`)));
    assert.equal(server.connectionCount, 3);

    await server.stop();
    assert.equal(server.connectionCount, 0);
    assert.equal(server.stats.connections, 0);
    assert.equal(closes.events.length, 3);
    assert.ok(closes.events.every((e) => e.reason === 'server-stop'));
    assert.equal(new Set(closes.events.map((e) => e.id)).size, 3);
    await Promise.all(clients.map((client) => client.closed));
    // A refused connect proves the listener is gone.
    const probe = net.connect({ host: '127.0.0.1', port });
    const [error] = (await once(probe, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'ECONNREFUSED');
    await once(probe, 'close');
  });

  /** Runs a server through traffic, a queued task and a port, then stops it once its clients are gone. */
  async function serveAndStop(): Promise<void> {
    const { server, port } = await startServer(
      {
        onMessage: (conn, message) => {
          conn.send(message);
        },
      },
      { idleTimeout: 5, checkInterval: 1 },
    );
    const remote = new RemoteDispatcher(server.dispatcher.createPort());
    const clients = await Promise.all([0, 1].map(() => SeedClient.connect(port)));
    await Promise.all(clients.map((client) => client.request('traffic')));
    server.dispatcher.enqueue(() => undefined);
    await Promise.all(clients.map((client) => client.end()));
    await server.stop();
    remote.close();
  }

  /** Active resources once handles closed by earlier tests have finished closing. */
  async function settledResources(): Promise<Map<string, number>> {
    // Two turns guarantee one pass through libuv's close phase, where closing handles finish.
    await nextTurn();
    await nextTurn();
    return activeResources();
  }

  it('leaves no active handle of its own once stop() resolves', async () => {
    const before = await settledResources();
    await serveAndStop();
    assert.deepEqual(activeResources(), before);
  });

  it('leaves nothing behind that outlives the closing listener handle (no leak)', async () => {
    const before = await settledResources();
    // Descriptors too: they are what shows a leak on Bun, whose process.getActiveResourcesInfo() lists nothing.
    const fdsBefore = fdCount(process.pid);
    await serveAndStop();
    assert.deepEqual(await settledResources(), before);
    assert.equal(fdCount(process.pid), fdsBefore, 'open descriptors');
  });
});

describe('NetServer connections', { timeout: 10000 }, () => {
  it('broadcast(payload, except) reaches every other open connection', async () => {
    const opened = new EventLog<Connection>();
    const counts: number[] = [];
    const { server, port } = await startServer({
      onConnection: (conn) => opened.push(conn),
      onMessage: (conn, message) => {
        counts.push(server.broadcast(message, conn));
        conn.send('ack');
      },
    });
    const clients = await Promise.all([0, 1, 2].map(() => SeedClient.connect(port)));
    try {
      await Promise.all(clients.map((c) => opened.waitFor((conn) => conn.remotePort === c.socket.localPort)));
      const [sender, ...others] = clients as [SeedClient, SeedClient, SeedClient];
      // The sender's next frame is its ack: it did not get its own broadcast.
      assert.deepEqual(await sender.request('news'), Buffer.from('ack'));
      for (const other of others) assert.deepEqual(await other.readFrame(), Buffer.from('news'));
      assert.deepEqual(counts, [2]);

      assert.equal(server.broadcast('to all'), 3);
      for (const client of clients) assert.deepEqual(await client.readFrame(), Buffer.from('to all'));
      assert.equal(sender.queuedFrames, 0);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await server.stop();
    }
  });

  it('does not count or reach connections that are closing', async () => {
    const opened = new EventLog<Connection>();
    const { server, port } = await startServer({ onConnection: (conn) => opened.push(conn) });
    const a = await SeedClient.connect(port);
    const b = await SeedClient.connect(port);
    try {
      const connA = await opened.waitFor((conn) => conn.remotePort === a.socket.localPort);
      await opened.waitFor((conn) => conn.remotePort === b.socket.localPort);
      connA.close();
      assert.equal(server.broadcast('only b'), 1);
      assert.deepEqual(await b.readFrame(), Buffer.from('only b'));
      await a.closed;
      assert.equal(a.queuedFrames, 0);
    } finally {
      await b.end();
      await server.stop();
    }
  });

  it('delivers a greeting sent from onConnection before any reply', async () => {
    const { server, port } = await startServer({
      onConnection: (conn) => {
        conn.send('welcome');
      },
      onMessage: (conn, message) => {
        conn.send(message);
      },
    });
    const client = await SeedClient.connect(port);
    try {
      assert.deepEqual(await client.readFrame(), Buffer.from('welcome'));
      assert.deepEqual(await client.request('hi'), Buffer.from('hi'));
    } finally {
      await client.end();
      await server.stop();
    }
  });

  it('counts messages, bytes and connections in stats', async () => {
    const { server, port } = await startServer({
      onMessage: (conn, message) => {
        conn.send(message);
        conn.send(message);
      },
    });
    const client = await SeedClient.connect(port);
    try {
      await client.request('12345');
      await client.readFrame();
      const stats = server.stats;
      assert.equal(stats.accepted, 1);
      assert.equal(stats.connections, 1);
      assert.equal(stats.messagesIn, 1);
      assert.equal(stats.bytesIn, 5);
      assert.equal(stats.messagesOut, 2);
      assert.equal(stats.bytesOut, 2 * (4 + 5));
      assert.equal(stats.errors, 0);
    } finally {
      await client.end();
      await server.stop();
    }
    assert.equal(server.stats.connections, 0);
  });
});
