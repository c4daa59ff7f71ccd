import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import {
  DEFAULT_OPTIONS,
  ReactorServer,
  type CloseReason,
  type Connection,
  type ServerOptions,
} from '../../src/index.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';

/** What the server's callbacks saw for one connection, in order. */
interface ConnRecord {
  /** 'timeout' and `close:<reason>` entries, in the order the callbacks fired. */
  readonly events: string[];
  /** idleMs of every onTimeout call. */
  readonly idleMs: number[];
  /** Whether the connection was still open when onTimeout ran ("about to close"). */
  readonly openAtTimeout: boolean[];
  /** Resolves with the reason when onClose fires. */
  readonly closed: Promise<CloseReason>;
}

/** The default echo application, recording its timeout and close callbacks per connection. */
class RecordingServer extends ReactorServer {
  readonly records = new Map<number, ConnRecord>();
  private readonly resolvers = new Map<number, (reason: CloseReason) => void>();

  constructor(options: Partial<ServerOptions>) {
    super({ port: 0, ...options });
  }

  get port(): number {
    const address = this.server.address;
    if (address === null) throw new Error('server is not listening');
    return address.port;
  }

  /** The server side of `client`, matched on the client's local port. */
  connectionOf(client: SeedClient): Connection {
    for (const conn of this.server.connections()) {
      if (conn.remotePort === client.socket.localPort) return conn;
    }
    throw new Error(`no server connection for client port ${String(client.socket.localPort)}`);
  }

  recordOf(client: SeedClient): ConnRecord {
    const record = this.records.get(this.connectionOf(client).id);
    if (record === undefined) throw new Error('connection was not recorded');
    return record;
  }

  protected override onConnection(conn: Connection): void {
    let resolve: (reason: CloseReason) => void = () => undefined;
    const closed = new Promise<CloseReason>((r) => (resolve = r));
    this.resolvers.set(conn.id, resolve);
    this.records.set(conn.id, { events: [], idleMs: [], openAtTimeout: [], closed });
  }

  protected override onTimeout(conn: Connection, idleMs: number): void {
    const record = this.records.get(conn.id);
    record?.events.push('timeout');
    record?.idleMs.push(idleMs);
    record?.openAtTimeout.push(conn.isOpen);
  }

  protected override onClose(conn: Connection, reason: CloseReason): void {
    this.records.get(conn.id)?.events.push(`close:${reason}`);
    this.resolvers.get(conn.id)?.(reason);
  }
}

/** Connects and completes one request, so the server has accepted and registered the client. */
async function connectAndGreet(port: number, greeting: string): Promise<SeedClient> {
  const client = await SeedClient.connect(port);
  assert.deepEqual(await client.request(greeting), expectedReply(greeting));
  return client;
}

describe('timeout: idle connections are closed by the sweep', () => {
  it('honours a custom idleTimeout (0.5 s) and checkInterval (0.1 s)', { timeout: 10_000 }, async () => {
    const TIMEOUT_MS = 500;
    const INTERVAL_MS = 100;
    const app = new RecordingServer({ idleTimeout: TIMEOUT_MS / 1000, checkInterval: INTERVAL_MS / 1000 });
    await app.start();
    try {
      assert.equal(app.server.options.idleTimeout, 0.5);
      assert.equal(app.server.options.checkInterval, 0.1);

      const client = await SeedClient.connect(app.port);
      // The server's idle clock restarts when it reads this request, which is after sentAt:
      // so sentAt is a safe origin for the lower bound. The reply is the client's last traffic.
      const sentAt = performance.now();
      assert.deepEqual(await client.request('last words'), expectedReply('last words'));
      const lastTrafficAt = performance.now();
      const record = app.recordOf(client);

      // From here the client stays silent: that idleness is the behaviour under test.
      const hadError = await client.closed;
      const closedAt = performance.now();

      assert.equal(hadError, false, 'the idle close should be a clean close, not an error');
      assert.ok(closedAt - sentAt >= TIMEOUT_MS, `closed ${(closedAt - sentAt).toFixed(1)} ms after the last request: before the timeout`);
      const bound = TIMEOUT_MS + 3 * INTERVAL_MS + 400;
      assert.ok(closedAt - lastTrafficAt < bound, `closed ${(closedAt - lastTrafficAt).toFixed(1)} ms after the last traffic, expected < ${bound}`);

      assert.equal(await record.closed, 'idle-timeout');
      assert.deepEqual(record.events, ['timeout', 'close:idle-timeout'], 'onTimeout then onClose, once each');
      assert.equal(record.idleMs.length, 1);
      const idleMs = record.idleMs[0] as number;
      assert.ok(idleMs > TIMEOUT_MS, `onTimeout idleMs ${idleMs} should exceed ${TIMEOUT_MS}`);
      assert.ok(idleMs < bound, `onTimeout idleMs ${idleMs} should be < ${bound}`);
      assert.deepEqual(record.openAtTimeout, [true], 'onTimeout runs while the connection is still open');
      assert.equal(app.server.stats.idleClosed, 1);
      assert.equal(app.server.connectionCount, 0);
    } finally {
      await app.stop();
    }
  });

  it('never closes an active connection (3x the timeout) while its idle neighbour is closed', { timeout: 15_000 }, async () => {
    const app = new RecordingServer({ idleTimeout: 0.5, checkInterval: 0.1 });
    await app.start();
    try {
      const idle = await connectAndGreet(app.port, 'idle neighbour');
      const idleRecord = app.recordOf(idle);
      let idleClosedAt = Number.POSITIVE_INFINITY;
      void idle.closed.then(() => (idleClosedAt = performance.now()));

      const active = await connectAndGreet(app.port, 'active');
      const activeConn = app.connectionOf(active);
      const activeRecord = app.recordOf(active);

      const start = performance.now();
      const ACTIVE_FOR_MS = 1500;
      let requests = 0;
      while (performance.now() - start < ACTIVE_FOR_MS) {
        const message = Buffer.concat([Buffer.from(`tick ${requests} `), randomBytes(24)]);
        const reply = await active.request(message);
        assert.deepEqual(reply, expectedReply(message), `reply ${requests} is not byte-exact`);
        requests++;
        // One request every 100 ms: this steady activity is the behaviour under test.
        await delay(100);
      }
      const activeEnd = performance.now();

      assert.ok(requests >= 8, `only ${requests} requests were made in ${ACTIVE_FOR_MS} ms`);
      assert.equal(activeConn.isOpen, true, 'the active connection was closed');
      assert.deepEqual(activeRecord.events, [], 'the active connection saw onTimeout or onClose');

      // The idle neighbour was closed during the active period, once, for idleness.
      assert.equal(await idleRecord.closed, 'idle-timeout');
      await idle.closed;
      assert.ok(idleClosedAt < activeEnd, 'the idle neighbour was not closed while the other connection was active');
      assert.deepEqual(idleRecord.events, ['timeout', 'close:idle-timeout'], 'the neighbour was timed out more than once or out of order');

      // Still serving after all that.
      assert.deepEqual(await active.request('after'), expectedReply('after'));
      await active.end();
      assert.equal(await activeRecord.closed, 'peer-closed');
      assert.deepEqual(activeRecord.events, ['close:peer-closed']);
      assert.equal(app.server.stats.idleClosed, 1);
    } finally {
      await app.stop();
    }
  });

  it('does not interfere on the defaults (300 s / 60 s): a connection idle for 1 s still answers', { timeout: 10_000 }, async () => {
    const app = new RecordingServer({});
    assert.equal(app.server.options.idleTimeout, 300);
    assert.equal(app.server.options.checkInterval, 60);
    assert.equal(app.server.options.idleTimeout, DEFAULT_OPTIONS.idleTimeout);
    assert.equal(app.server.options.checkInterval, DEFAULT_OPTIONS.checkInterval);
    await app.start();
    try {
      const client = await connectAndGreet(app.port, 'hello');
      const conn = app.connectionOf(client);
      // Deliberately idle for 1 s: idleness well short of the default timeout is what is tested.
      await delay(1000);
      assert.equal(conn.isOpen, true);
      // An idle check right now (as the 60 s timer would run it) must leave a 1 s-idle connection alone.
      app.server.dispatcher.sweepIdle();
      assert.equal(conn.isOpen, true, 'a check closed a connection idle for 1 s with a 300 s timeout');
      assert.deepEqual(await client.request('still there?'), expectedReply('still there?'));
      assert.deepEqual(app.recordOf(client).events, []);
      assert.equal(app.server.stats.idleClosed, 0);
      await client.end();
    } finally {
      await app.stop();
    }
  });

  it('uses 300 s as the default threshold: a check 299 s later keeps the connection, 301 s later closes it', { timeout: 10_000 }, async () => {
    const app = new RecordingServer({});
    await app.start();
    try {
      const client = await connectAndGreet(app.port, 'hello');
      const conn = app.connectionOf(client);
      const record = app.recordOf(client);
      // A check run on a clock moved forward, instead of waiting five minutes.
      app.server.dispatcher.sweepIdle(conn.lastActiveAt + 299_000);
      assert.equal(conn.isOpen, true, 'closed after 299 s with a 300 s timeout');
      app.server.dispatcher.sweepIdle(conn.lastActiveAt + 301_000);
      assert.equal(await record.closed, 'idle-timeout');
      assert.equal(await client.closed, false);
      assert.deepEqual(record.events, ['timeout', 'close:idle-timeout']);
      assert.ok(Math.abs((record.idleMs[0] as number) - 301_000) < 1, `idleMs ${String(record.idleMs[0])}`);
    } finally {
      await app.stop();
    }
  });

  it('never closes an idle connection when idleTimeout is 0', { timeout: 10_000 }, async () => {
    const app = new RecordingServer({ idleTimeout: 0, checkInterval: 0.05 });
    assert.equal(app.server.options.idleTimeout, 0);
    await app.start();
    try {
      const client = await connectAndGreet(app.port, 'hello');
      const conn = app.connectionOf(client);
      // Deliberately idle for 800 ms, 16 check intervals: were the sweep running with a 0 s
      // timeout (or any timeout under 800 ms) the connection would be closed by now.
      await delay(800);
      assert.equal(conn.isOpen, true, 'idleTimeout 0 closed an idle connection');
      assert.deepEqual(await client.request('still there?'), expectedReply('still there?'));
      assert.deepEqual(app.recordOf(client).events, []);
      assert.equal(app.server.stats.idleClosed, 0);
      await client.end();
    } finally {
      await app.stop();
    }
  });
});
