import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { NetServer, REPLY_PREFIX, type CloseReason, type Connection } from '../../src/index.js';
import { startCli, type CliServer } from '../helpers/cli-process.js';
import { leakChecked, releaseLeftoverSockets } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { deferred, EventLog, waitUntil, within } from '../helpers/wait.js';
import { WireClient, type Wire } from '../helpers/wire-client.js';
import { faultScenario, MiB } from './support.js';

const PREFIX = Buffer.from(REPLY_PREFIX);
const LENGTH: Wire = { codec: 'length' };

describe('faults: shutdown with work in flight', { timeout: 40_000 }, () => {
  it('SIGTERM mid-transfer: every request sent before it is answered byte-exact to slow readers, then FIN, then exit 0', { timeout: 20_000 }, async (t) => {
    const CLIENTS = 4;
    // 8 MiB of requests per client: more than the kernel buffers (up to 4 MB each way here),
    // so replies really are pending in the server, and requests unread, when the signal comes.
    const REQUESTS = 512;
    const SIZE = 16 * 1024;
    let server: CliServer | undefined;
    const clients: WireClient[] = [];
    await leakChecked(
      async () => {
        // A low high-water mark: the server stops reading these slow readers early, so requests
        // are still unread in the kernel, and replies pending, when the signal comes.
        server = await startCli(['--host', '127.0.0.1', '--codec', 'length', '--drain-timeout', '10', '--high-water-mark', '64K', '--low-water-mark', '16K']);
        const child = server;
        const quarter = deferred();
        let repliesSoFar = 0;
        const runs = Array.from({ length: CLIENTS }, async (_, c) => {
          const client = await WireClient.connect(child.port, LENGTH);
          clients.push(client);
          // Deliberately slow reader (the behaviour under test): after every chunk it stops
          // reading for 10 ms, and after every 8th for 60 ms, so replies back up in the kernel
          // and in the server, and the connection goes quiet for longer than a drain sweep
          // while replies are still due.
          let chunks = 0;
          client.socket.on('data', () => {
            client.socket.pause();
            setTimeout(() => client.socket.resume(), ++chunks % 8 === 0 ? 60 : 10);
          });
          const messages = Array.from({ length: REQUESTS }, () => randomBytes(SIZE));
          // Every request is handed to the socket now, before the signal is sent.
          for (const message of messages) client.send(message);
          for (let i = 0; i < REQUESTS; i++) {
            const reply = await client.read();
            assert.ok(reply.equals(expectedReply(messages[i] as Buffer)), `client ${c}: reply ${i} differs from its request`);
            if (++repliesSoFar === (CLIENTS * REQUESTS) / 4) quarter.resolve();
          }
          const closed = await within(client.closed, 10_000, `client ${c} to be closed after its last reply`);
          return { closed, received: client.received, closedAt: performance.now() };
        });
        // Fails the quarter wait at once if a client fails before a quarter is in.
        const all = Promise.all(runs);
        all.catch(() => quarter.resolve());
        await within(quarter.promise, 10_000, 'a quarter of the replies');
        const inFlightAtSignal = clients.map((client) => REQUESTS - client.received);
        child.kill('SIGTERM');
        const signalledAt = performance.now();

        const results = await within(all, 12_000, 'every client to get its replies and its close');
        const { code, signal } = await within(child.exited, 12_000, 'the server to exit');
        const exitedAt = performance.now();
        t.diagnostic(`replies still due per client at SIGTERM: ${inFlightAtSignal.join(', ')}; exit ${(exitedAt - signalledAt).toFixed(0)} ms after it`);

        // The signal really arrived mid-transfer.
        assert.ok(inFlightAtSignal.every((n) => n > 0), `a client had all its replies before the signal: ${inFlightAtSignal.join(', ')}`);
        for (const [c, { closed, received }] of results.entries()) {
          assert.equal(received, REQUESTS, `client ${c} got ${received} replies to ${REQUESTS} requests`);
          // A clean close: the server's FIN after the last reply, no reset.
          assert.deepEqual(closed, { hadError: false, sawEnd: true, error: null }, `client ${c}`);
        }
        assert.equal(signal, null);
        assert.equal(code, 0, `server exit code ${code}; output: ${child.output()}`);
        // It stopped because the work was done, not at the 10 s drain deadline.
        assert.ok(exitedAt - signalledAt < 8000, `exited ${(exitedAt - signalledAt).toFixed(0)} ms after SIGTERM`);
      },
      async () => {
        for (const client of clients) client.destroy();
        server?.kill('SIGKILL');
        await server?.exited;
      },
    );
  });

  it('stop({ drainTimeout: 0.5 }) closes a client that never reads at the deadline, and resolves in time', { timeout: 10_000 }, async () => {
    const closes = new EventLog<{ id: number; reason: CloseReason; at: number }>();
    const server = new NetServer({
      host: '127.0.0.1',
      port: 0,
      codec: 'length',
      callbacks: {
        // 8 MiB per request: far more than the kernel takes for a peer that does not read.
        onMessage: (conn) => void conn.send(Buffer.alloc(8 * MiB, 0x72)),
        onClose: (conn, reason) => closes.push({ id: conn.id, reason, at: performance.now() }),
      },
    });
    await faultScenario(server, async ({ ledger, connect }) => {
      const stuck = await connect(LENGTH);
      stuck.socket.pause(); // never reads
      stuck.send('give me a lot');
      await waitUntil(() => stuck.connectionOn(server) !== undefined && server.stats.messagesIn === 1, () => 'request not read yet', 2000);
      const conn = stuck.connectionOn(server) as Connection;
      assert.ok(conn.pendingOutputBytes > 1 * MiB, `only ${conn.pendingOutputBytes} bytes pending`);

      const startedAt = performance.now();
      await within(server.stop({ drainTimeout: 0.5 }), 2000, 'stop() with a 0.5 s drain');
      const stoppedAt = performance.now();
      const close = await closes.waitFor((e) => e.id === conn.id);
      assert.equal(close.reason, 'server-stop');
      // Held open for the whole drain window (it never became quiescent), closed at its end.
      assert.ok(close.at - startedAt >= 450, `closed ${(close.at - startedAt).toFixed(0)} ms into a 500 ms drain`);
      assert.ok(stoppedAt - startedAt < 1000, `stop() took ${(stoppedAt - startedAt).toFixed(0)} ms`);
      assert.equal(server.connectionCount, 0);
      assert.equal(server.state, 'stopped');
      stuck.destroy();
      await stuck.closed;
      await ledger.assertSettledCleanly();
    });
  });

  it('stop() closes idle connections promptly and lets a request in flight on an async handler finish first', { timeout: 10_000 }, async () => {
    const closes = new EventLog<{ id: number; reason: CloseReason; at: number }>();
    const started = new EventLog<number>();
    const release = deferred();
    const server = new NetServer({
      host: '127.0.0.1',
      port: 0,
      codec: 'length',
      drainTimeout: 10,
      callbacks: {
        onMessage: async (conn, message) => {
          if (message.toString() === 'slow') {
            started.push(conn.id);
            await release.promise;
          }
          conn.send([PREFIX, message]);
        },
        onClose: (conn, reason) => closes.push({ id: conn.id, reason, at: performance.now() }),
      },
    });
    await faultScenario(server, async ({ port, ledger, connect, onCleanup }) => {
      // A failed body must not leave the slow handler waiting for ever.
      onCleanup(() => release.resolve());
      const idle = await Promise.all(Array.from({ length: 5 }, () => connect(LENGTH)));
      for (const [i, client] of idle.entries()) assert.deepEqual(await client.request(`idle ${i}`), expectedReply(`idle ${i}`));
      const busy = await connect(LENGTH);
      busy.send('slow');
      const busyId = await started.waitFor(() => true);

      const startedAt = performance.now();
      const stopping = server.stop();
      // The idle ones go as soon as the drain sees them quiet, far from the 10 s deadline.
      const idleIds = idle.map((client) => (client.connectionOn(server) as Connection).id);
      const idleCloses = await within(Promise.all(idleIds.map((id) => closes.waitFor((e) => e.id === id))), 2000, 'the idle connections to close');
      for (const close of idleCloses) {
        assert.equal(close.reason, 'server-stop');
        assert.ok(close.at - startedAt < 1000, `an idle connection took ${(close.at - startedAt).toFixed(0)} ms to close`);
      }
      for (const client of idle) assert.deepEqual(await client.closed, { hadError: false, sawEnd: true, error: null });

      // Meanwhile the listener is closed: nobody new gets in.
      const late = net.connect({ port, host: '127.0.0.1' });
      const refused = await new Promise<string>((resolve) => {
        late.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
        late.once('connect', () => resolve('connected'));
      });
      late.destroy();
      assert.equal(refused, 'ECONNREFUSED');

      // The drain has swept several times by now (it closed the idle ones); the busy one is
      // still open, its handler in flight. Let it finish: the reply comes, then the close.
      const busyConn = busy.connectionOn(server);
      assert.ok(busyConn !== undefined && busyConn.isOpen, 'the connection with a request in flight was closed');
      assert.equal(busyConn.inFlightWork, 1);
      assert.equal(busyConn.id, busyId);
      release.resolve();
      assert.deepEqual(await within(busy.read(), 2000, 'the in-flight reply'), expectedReply('slow'));
      assert.deepEqual(await within(busy.closed, 2000, 'the close after the reply'), { hadError: false, sawEnd: true, error: null });
      assert.equal((await closes.waitFor((e) => e.id === busyId)).reason, 'server-stop');
      await within(stopping, 2000, 'stop() to resolve');
      assert.ok(performance.now() - startedAt < 3000);
      await ledger.assertSettledCleanly();
      assert.deepEqual(ledger.errors.map(String), []);
    });
  });
});

// A failed test may leave sockets open: unref them so the file still ends (after a clean run there are none).
after(() => void releaseLeftoverSockets());
