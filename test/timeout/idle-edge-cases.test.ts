import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { HandlerError, NetServer, type CloseReason, type Connection, type ServerCallbacks } from '../../src/index.js';
import { SeedClient } from '../helpers/seed-client.js';

/** Callback events per connection id, plus a promise per connection for its onClose. */
class Recorder {
  readonly events = new Map<number, string[]>();
  readonly errors: Error[] = [];
  private readonly closes = new Map<number, { promise: Promise<CloseReason>; resolve: (reason: CloseReason) => void }>();

  closed(id: number): Promise<CloseReason> {
    return this.slot(id).promise;
  }

  eventsOf(id: number): string[] {
    return this.events.get(id) ?? [];
  }

  /** The callbacks to merge into a server's; `extra` runs first for each one it defines. */
  callbacks(extra: ServerCallbacks = {}): ServerCallbacks {
    return {
      ...extra,
      onTimeout: (conn, idleMs) => {
        this.push(conn, 'timeout');
        extra.onTimeout?.(conn, idleMs);
      },
      onError: (conn, error) => {
        this.push(conn, 'error');
        this.errors.push(error);
        extra.onError?.(conn, error);
      },
      onClose: (conn, reason) => {
        this.push(conn, `close:${reason}`);
        extra.onClose?.(conn, reason);
        this.slot(conn.id).resolve(reason);
      },
    };
  }

  private push(conn: Connection, event: string): void {
    const list = this.events.get(conn.id) ?? [];
    list.push(event);
    this.events.set(conn.id, list);
  }

  private slot(id: number): { promise: Promise<CloseReason>; resolve: (reason: CloseReason) => void } {
    let slot = this.closes.get(id);
    if (slot === undefined) {
      let resolve: (reason: CloseReason) => void = () => undefined;
      const promise = new Promise<CloseReason>((r) => (resolve = r));
      slot = { promise, resolve };
      this.closes.set(id, slot);
    }
    return slot;
  }
}

function portOf(server: NetServer): number {
  const address = server.address;
  if (address === null) throw new Error('server is not listening');
  return address.port;
}

function connectionOf(server: NetServer, client: SeedClient): Connection {
  for (const conn of server.connections()) {
    if (conn.remotePort === client.socket.localPort) return conn;
  }
  throw new Error('no server connection for this client');
}

describe('timeout: what counts as traffic, and how the sweep closes', () => {
  it('counts server-initiated sends as traffic: a client that only receives pushes is kept', { timeout: 15_000 }, async () => {
    const recorder = new Recorder();
    const pushers = new Map<number, NodeJS.Timeout>();
    const server = new NetServer({
      port: 0,
      idleTimeout: 0.5,
      checkInterval: 0.1,
      callbacks: recorder.callbacks({
        onMessage: (conn, message) => {
          if (message.toString() !== 'subscribe') return;
          let n = 0;
          // The server pushes every 100 ms on its own; the client never writes again.
          pushers.set(conn.id, setInterval(() => conn.send(`push ${n++}`), 100));
        },
        onClose: (conn) => {
          clearInterval(pushers.get(conn.id));
          pushers.delete(conn.id);
        },
      }),
    });
    await server.start();
    try {
      const client = await SeedClient.connect(portOf(server));
      client.send('subscribe');
      assert.equal((await client.readFrame()).toString(), 'push 0');
      const conn = connectionOf(server, client);
      // Read pushes for 1.5 s (3x the timeout) without the client sending anything.
      const start = performance.now();
      let expected = 1;
      while (performance.now() - start < 1500) {
        assert.equal((await client.readFrame()).toString(), `push ${expected}`);
        expected++;
      }
      assert.ok(expected >= 10, `only ${expected} pushes in 1.5 s`);
      assert.equal(conn.isOpen, true, 'a connection with outbound traffic every 100 ms was closed as idle');
      assert.deepEqual(recorder.eventsOf(conn.id), []);
      await client.end();
      assert.equal(await recorder.closed(conn.id), 'peer-closed');
    } finally {
      for (const timer of pushers.values()) clearInterval(timer);
      await server.stop();
    }
  });

  it('does not close a connection whose large reply is still flowing to a slow reader', { timeout: 30_000 }, async () => {
    const recorder = new Recorder();
    const REPLY_BYTES = 64 * 1024 * 1024;
    const requested = deferred<Connection>();
    const server = new NetServer({
      port: 0,
      idleTimeout: 0.5,
      checkInterval: 0.1,
      // The 64 MiB reply is meant to sit in the output: lift the cap that would refuse it.
      maxPendingOutput: 128 * 1024 * 1024,
      // One request, then one large reply that takes the slow client many seconds to read.
      callbacks: recorder.callbacks({
        onMessage: (conn) => {
          conn.send(Buffer.alloc(REPLY_BYTES, 0x61));
          requested.resolve(conn);
        },
      }),
    });
    await server.start();
    const client = await SeedClient.connect(portOf(server));
    const throttles = new Set<NodeJS.Timeout>();
    try {
      // A raw reader, throttled to about 6 MB/s: paused 10 ms per 64 KiB read. By bytes, not
      // by reads: Node.js reads at most 64 KiB at a time, Bun much more.
      client.socket.removeAllListeners('data');
      let received = 0;
      client.socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        client.socket.pause();
        const timer = setTimeout(() => {
          throttles.delete(timer);
          client.socket.resume();
        }, 10 * Math.ceil(chunk.length / (64 * 1024)));
        throttles.add(timer);
      });
      client.send('download');
      const conn = await requested.promise;

      // Bytes keep flowing to the client for 2 s (4x the timeout): the connection is not idle.
      const samples: number[] = [];
      for (let i = 0; i < 10; i++) {
        // Sampling the download every 200 ms: the elapsed transfer time is what is tested.
        await delay(200);
        samples.push(received);
      }
      assert.ok(received < REPLY_BYTES + 4, 'the reply finished too soon for this test to mean anything');
      const stalls = samples.filter((n, i) => i > 0 && n === samples[i - 1]).length;
      assert.deepEqual(recorder.eventsOf(conn.id), [], `closed as idle while the reply was flowing (bytes read every 200 ms: ${samples.join(', ')})`);
      assert.equal(stalls, 0, `the download stalled: ${samples.join(', ')}`);
      assert.equal(conn.isOpen, true);
    } finally {
      for (const timer of throttles) clearTimeout(timer);
      client.destroy();
      await server.stop();
    }
  });

  it('reaps a connection stuck flushing after the peer half-closed, reporting idle-timeout', { timeout: 15_000 }, async () => {
    const recorder = new Recorder();
    const requested = deferred<Connection>();
    const stateAtTimeout: string[] = [];
    const server = new NetServer({
      port: 0,
      idleTimeout: 0.5,
      checkInterval: 0.1,
      maxPendingOutput: 128 * 1024 * 1024,
      callbacks: recorder.callbacks({
        // The reply is far larger than the socket buffers, and the client never reads it.
        onMessage: (conn) => {
          conn.send(Buffer.alloc(64 * 1024 * 1024));
          requested.resolve(conn);
        },
        onTimeout: (conn) => void stateAtTimeout.push(conn.state),
      }),
    });
    await server.start();
    const client = await SeedClient.connect(portOf(server));
    try {
      client.socket.pause();
      client.send('download');
      const conn = await requested.promise;
      assert.ok(conn.pendingOutputBytes > 0, 'the reply did not back up');
      // Half-close: the server answers with closeAfterWrite, which can never finish.
      client.socket.end();
      const reason = await recorder.closed(conn.id);
      assert.deepEqual(stateAtTimeout, ['closing'], 'the sweep should find the connection mid graceful close');
      assert.deepEqual(recorder.eventsOf(conn.id), ['timeout', `close:${reason}`]);
      assert.equal(server.stats.idleClosed, 1);
      // The reply was discarded, not flushed: 'peer-closed' would claim it was delivered.
      assert.equal(reason, 'idle-timeout', 'onTimeout fired but onClose reported another reason');
    } finally {
      client.destroy();
      await server.stop();
    }
  });

  it('still closes (reason idle-timeout) when onTimeout throws, reporting a HandlerError', { timeout: 10_000 }, async () => {
    const recorder = new Recorder();
    const server = new NetServer({
      port: 0,
      idleTimeout: 0.3,
      checkInterval: 0.05,
      callbacks: recorder.callbacks({
        onMessage: (conn, message) => void conn.send(message),
        onTimeout: () => {
          throw new Error('boom in onTimeout');
        },
      }),
    });
    await server.start();
    try {
      const client = await SeedClient.connect(portOf(server));
      assert.equal((await client.request('x')).toString(), 'x');
      const conn = connectionOf(server, client);
      // The client now stays silent: idleness is what is tested.
      assert.equal(await recorder.closed(conn.id), 'idle-timeout');
      assert.equal(await client.closed, false);
      assert.deepEqual(recorder.eventsOf(conn.id), ['timeout', 'error', 'close:idle-timeout']);
      const error = recorder.errors[0];
      assert.ok(error instanceof HandlerError, `expected a HandlerError, got ${String(error)}`);
      assert.equal(error.callback, 'onTimeout');
      // The server survived and serves the next client.
      const next = await SeedClient.connect(portOf(server));
      assert.equal((await next.request('y')).toString(), 'y');
      await next.end();
    } finally {
      await server.stop();
    }
  });
});

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
