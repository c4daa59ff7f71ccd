import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ReactorServer } from '../../src/index.js';
import { startCli, type CliServer } from '../helpers/cli-process.js';
import { connectionsDrained } from '../helpers/connection-ledger.js';
import { fdCount, leakChecked, releaseLeftoverSockets } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { deferred, EventLog, waitUntil, within } from '../helpers/wait.js';
import { destroySocket } from '../helpers/reply-stream.js';
import { frameRequest, WireClient, type Wire } from '../helpers/wire-client.js';
import { faultScenario } from './support.js';

/** /proc/PID/fd is read every this many ms, not every loop turn: the server needs the CPU. */
const FD_POLL_MS = 10;
const LENGTH: Wire = { codec: 'length' };

/** This process's soft limit on open files. */
function ownFdLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match === null || match[1] === 'unlimited' ? 1 << 20 : Number(match[1]);
}

interface StormResult {
  attempts: number;
  connected: number;
  /** Connections the server closed (or refused) while we held them: the shedding under EMFILE. */
  closedByServer: number;
  peakOpen: number;
}

/**
 * Opens connections as fast as it can for `durationMs` (at most `maxAttempts` in all): at most
 * `maxOpen + window` sockets at once, connecting or connected; past `maxOpen` connected, the
 * oldest tenth is closed. A quarter of them send a request. Then closes all and resolves once
 * every socket it made is closed.
 */
async function storm(port: number, durationMs: number, maxOpen: number, window = 200, maxAttempts = 20_000): Promise<StormResult> {
  const result: StormResult = { attempts: 0, connected: 0, closedByServer: 0, peakOpen: 0 };
  const all = new Set<net.Socket>();
  const open = new Set<net.Socket>();
  const closedByUs = new WeakSet<net.Socket>();
  const request = frameRequest(LENGTH, 'storm');
  const deadline = Date.now() + durationMs;
  const allClosed = deferred();
  let stopping = false;

  const close = (socket: net.Socket, i: number): void => {
    closedByUs.add(socket);
    open.delete(socket);
    destroySocket(socket, i % 10 !== 0);
  };
  const launch = (): void => {
    // The attempt cap keeps TIME_WAIT entries (the server closes first when it sheds) well
    // below the ephemeral port range, so the fresh clients afterwards still find a port.
    if (stopping || Date.now() >= deadline || all.size >= maxOpen + window || result.attempts >= maxAttempts) return;
    result.attempts++;
    const socket = net.connect({ port, host: '127.0.0.1' });
    all.add(socket);
    socket.on('error', () => {
      // Resets and refusals are what a storm provokes; 'close' follows and is counted.
    });
    socket.once('connect', () => {
      result.connected++;
      open.add(socket);
      result.peakOpen = Math.max(result.peakOpen, open.size);
      socket.resume();
      if (result.connected % 4 === 0) socket.write(request);
      if (open.size >= maxOpen) {
        let i = 0;
        for (const victim of open) {
          if (i >= maxOpen / 10) break;
          close(victim, i++);
        }
      }
      launch();
    });
    socket.once('close', () => {
      all.delete(socket);
      if (open.delete(socket) && !closedByUs.has(socket)) result.closedByServer++;
      if (!socket.connecting && !closedByUs.has(socket) && !stopping) launch();
      if (stopping && all.size === 0) allClosed.resolve();
    });
  };
  // A connect that never completes (its SYN dropped by a full backlog) must not stall the window.
  const ticker = setInterval(() => {
    for (let n = all.size; n < maxOpen + window && !stopping && Date.now() < deadline; n++) launch();
  }, 50);
  for (let i = 0; i < window; i++) launch();
  await new Promise<void>((resolve) => setTimeout(resolve, durationMs)); // the storm's duration: the behaviour under test
  stopping = true;
  clearInterval(ticker);
  let i = 0;
  for (const socket of all) {
    closedByUs.add(socket);
    destroySocket(socket, i++ % 10 !== 0);
  }
  if (all.size === 0) allClosed.resolve();
  await within(allClosed.promise, 10_000, `the storm's ${all.size} sockets to close`);
  return result;
}

/** `clients` fresh clients at once, each doing `requests` round trips, all byte-exact. */
async function freshClientsServed(port: number, clients: number, requests: number): Promise<number> {
  let answered = 0;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const client = await WireClient.connect(port, LENGTH);
      try {
        for (let r = 0; r < requests; r++) {
          const message = `fresh client ${c} request ${r}`;
          const reply = await within(client.request(message), 5000, `reply to ${message}`);
          assert.deepEqual(reply, expectedReply(message));
          answered++;
        }
        assert.deepEqual(await client.end(), { hadError: false, sawEnd: true, error: null });
      } finally {
        client.destroy();
      }
    }),
  );
  return answered;
}

describe('faults: connect storm against a server with 512 file descriptors', { timeout: 60_000 }, () => {
  it('survives EMFILE during a 5 s storm and serves 100 fresh clients byte-exact afterwards', { timeout: 45_000 }, async (t) => {
    const FD_LIMIT = 512;
    let server: CliServer | undefined;
    await leakChecked(
      async () => {
        server = await startCli(['--host', '127.0.0.1', '--codec', 'length', '--log-level', 'fatal', '--idle-timeout', '0'], { fdLimit: FD_LIMIT });
        const { pid, port } = server;
        const serverBaseline = fdCount(pid);
        let now = 0;
        // A warm-up client; the server closes its descriptor a moment after we see its FIN.
        assert.equal(await freshClientsServed(port, 1, 1), 1);
        await waitUntil(() => (now = fdCount(pid)) === serverBaseline, () => `server holds ${now} fds after one client, started with ${serverBaseline}`, 5000, FD_POLL_MS);
        let serverPeak = serverBaseline;
        const sampler = setInterval(() => {
          serverPeak = Math.max(serverPeak, fdCount(pid));
        }, 50);
        let result: StormResult;
        try {
          result = await storm(port, 5000, Math.min(3000, ownFdLimit() - 500));
        } finally {
          clearInterval(sampler);
        }
        t.diagnostic(
          `storm: ${result.attempts} connects, ${result.connected} established, ${result.closedByServer} closed by the server, ` +
            `${result.peakOpen} held at once; server fds ${serverBaseline} -> peak ${serverPeak} (limit ${FD_LIMIT})`,
        );
        // The storm really hit the limit: the server ran out of descriptors and shed connections.
        assert.ok(serverPeak >= FD_LIMIT - 16, `the server peaked at ${serverPeak} fds, never near its limit of ${FD_LIMIT}`);
        // And the storm asked for more than the server could hold: connections were shed, either
        // after their client saw them connect (closed by the server) or before (a connect that
        // never completed or was reset). How many clients see themselves connected at once,
        // past the limit, depends on how fast the server sheds and on the runtime (from 491 to
        // 1,275 in runs here; Bun's node:net resets them before they connect): reported above,
        // not asserted.
        assert.ok(result.attempts > FD_LIMIT, `only ${result.attempts} connects`);
        const shed = result.attempts - result.connected + result.closedByServer;
        assert.ok(shed > 0, `all ${result.attempts} connects got in and none was closed by the server`);

        // Every storm connection gone, the server is back to the descriptors it started with.
        await waitUntil(() => (now = fdCount(pid)) === serverBaseline, () => `server holds ${now} fds, started with ${serverBaseline}`, 15_000, FD_POLL_MS);
        // And serves as before: 100 fresh clients at once, every request answered byte-exact.
        assert.equal(await freshClientsServed(port, 100, 5), 500);
        await waitUntil(() => (now = fdCount(pid)) === serverBaseline, () => `server holds ${now} fds after the fresh clients, started with ${serverBaseline}`, 5000, FD_POLL_MS);

        server.kill('SIGTERM');
        const exit = await within(server.exited, 5000, 'the server to exit on SIGTERM');
        assert.deepEqual(exit, { code: 0, signal: null }, server.output());
      },
      async () => {
        server?.kill('SIGKILL');
        await server?.exited;
      },
    );
  });
});

describe('faults: maxConnections', { timeout: 30_000 }, () => {
  it('closes the 51st connection at once (onConnectionRejected, stats.rejected) and serves again when others leave', { timeout: 10_000 }, async () => {
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length', maxConnections: 50 });
    const rejected = new EventLog<{ port: number; reason: string }>();
    app.server.setCallbacks({ onConnectionRejected: (peer, reason) => rejected.push({ port: peer.port, reason }) });
    await faultScenario(app, async ({ port, ledger, connect, onCleanup }) => {
      const first = await Promise.all(Array.from({ length: 50 }, () => connect(LENGTH)));
      // Each one answered: each one accepted and counted.
      await Promise.all(first.map(async (client, i) => assert.deepEqual(await client.request(`member ${i}`), expectedReply(`member ${i}`))));
      assert.equal(app.server.connectionCount, 50);

      const extra = net.connect({ port, host: '127.0.0.1' });
      onCleanup(() => extra.destroy());
      const extraError = new Promise<string>((resolve) => {
        extra.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
        extra.once('close', () => resolve('closed without error'));
      });
      let extraPort = -1;
      extra.once('connect', () => {
        extraPort = extra.localPort ?? -1;
        extra.write(frameRequest(LENGTH, 'let me in'));
      });
      let extraBytes = 0;
      extra.on('data', (chunk: Buffer) => (extraBytes += chunk.length));
      const rejection = await within(rejected.waitFor(() => true), 1000, 'onConnectionRejected');
      assert.equal(rejection.reason, 'max-connections');
      await within(new Promise((resolve) => extra.once('close', resolve)), 1000, 'the 51st connection to be closed at once');
      // Reset at once, never served.
      assert.equal(await extraError, 'ECONNRESET');
      // The rejected peer is the newcomer (its 'connect' may not even have been seen: the reset
      // can overtake it), never one of the members.
      if (extraPort !== -1) assert.equal(rejection.port, extraPort);
      assert.ok(!first.some((client) => client.socket.localPort === rejection.port));
      assert.equal(extraBytes, 0);
      assert.equal(app.server.stats.rejected, 1);
      assert.equal(app.server.connectionCount, 50);

      // Ten leave; once the server has closed its side of them, ten newcomers get in.
      await Promise.all(first.slice(0, 10).map((client) => client.end()));
      await connectionsDrained(app.server, 40);
      const newcomers = await Promise.all(Array.from({ length: 10 }, () => connect(LENGTH)));
      await Promise.all(newcomers.map(async (client, i) => assert.deepEqual(await client.request(`newcomer ${i}`), expectedReply(`newcomer ${i}`))));
      assert.equal(app.server.stats.rejected, 1);
      // The members kept their connections all along.
      await Promise.all(first.slice(10).map(async (client, i) => assert.deepEqual(await client.request(`still ${i}`), expectedReply(`still ${i}`))));

      await Promise.all([...first.slice(10), ...newcomers].map((client) => client.end()));
      await ledger.assertSettledCleanly();
      assert.equal(ledger.accepted, 60);
    });
  });

  it('--max-connections 50 on the CLI: the 51st is closed at once, and service resumes when others leave', { timeout: 15_000 }, async () => {
    let server: CliServer | undefined;
    const clients: WireClient[] = [];
    const raw: net.Socket[] = [];
    await leakChecked(
      async () => {
        server = await startCli(['--host', '127.0.0.1', '--codec', 'length', '--max-connections', '50', '--log-level', 'fatal']);
        const { port } = server;
        const members = await Promise.all(Array.from({ length: 50 }, () => WireClient.connect(port, LENGTH)));
        clients.push(...members);
        await Promise.all(members.map(async (client, i) => assert.deepEqual(await client.request(`member ${i}`), expectedReply(`member ${i}`))));

        // The 51st: reset at once, never served (the reset may even beat the connect's completion).
        const extra = net.connect({ port, host: '127.0.0.1', noDelay: true });
        raw.push(extra);
        let extraBytes = 0;
        extra.on('data', (chunk: Buffer) => (extraBytes += chunk.length));
        extra.once('connect', () => extra.write(frameRequest(LENGTH, 'let me in')));
        const extraError = await within(
          new Promise<string>((resolve) => {
            extra.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
            extra.once('close', () => resolve('closed without error'));
          }),
          1000,
          'the 51st connection to be closed at once',
        );
        assert.equal(extraError, 'ECONNRESET');
        assert.equal(extraBytes, 0);

        await Promise.all(members.slice(0, 5).map((client) => client.end()));
        // The server's FIN reached us a moment before it unregistered the connection: a newcomer
        // racing that moment is turned away at once, so it may take a retry or two.
        let newcomer: WireClient | undefined;
        let attempts = 0;
        while (newcomer === undefined && attempts < 20) {
          attempts++;
          let candidate: WireClient | undefined;
          try {
            candidate = await WireClient.connect(port, LENGTH);
            clients.push(candidate);
            assert.deepEqual(await within(candidate.request('newcomer'), 1000, 'a reply to the newcomer'), expectedReply('newcomer'));
            newcomer = candidate;
          } catch (err) {
            // A wrong reply is a failure, not a refusal.
            if (err instanceof assert.AssertionError) throw err;
            // Turned away (reset during or right after the connect): try again.
            candidate?.destroy();
            await candidate?.closed;
          }
        }
        assert.ok(newcomer !== undefined, 'no newcomer was served after 5 members left');
        assert.ok(attempts <= 3, `a newcomer needed ${attempts} attempts`);
        await Promise.all([...members.slice(5), newcomer].map((client) => client.end()));

        server.kill('SIGTERM');
        assert.deepEqual(await within(server.exited, 5000, 'the server to exit'), { code: 0, signal: null });
      },
      async () => {
        for (const client of clients) client.destroy();
        for (const socket of raw) socket.destroy();
        server?.kill('SIGKILL');
        await server?.exited;
      },
    );
  });
});

// A failed test may leave sockets open: unref them so the file still ends (after a clean run there are none).
after(() => void releaseLeftoverSockets());
