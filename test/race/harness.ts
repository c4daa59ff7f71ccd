/**
 * What only the race suite needs: raw sockets for connect/close races, and one scenario
 * runner with everything a scenario must leave behind. The shared pieces (waiting, the
 * ledger, handle snapshots) come from test/helpers/. No tests here and no side effects on
 * import: `node --test build/test/` also loads this module.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import type { NetServer } from '../../src/index.js';
import type { ConnectionLedger } from '../helpers/connection-ledger.js';
import { snapshotHandles, waitForHandles } from '../helpers/resources.js';
import { assertServesFreshClient } from '../helpers/seed-client.js';

/**
 * A raw client socket with an error handler attached before anything can go wrong, and a
 * promise for its close; `connected` settles with whether the connect succeeded.
 */
export function rawSocket(port: number): { socket: net.Socket; connected: Promise<boolean>; closed: Promise<void> } {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => {
    // Resets and refusals are what these scenarios provoke; the close promise still settles.
  });
  // Not events.once(): that would reject on the 'error' the scenario provoked.
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const connected = new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  return { socket, connected, closed };
}

/**
 * Runs one scenario against a running server and then checks what every scenario must leave
 * behind: a fresh client served byte-exact, every accepted connection closed exactly once,
 * the registry empty, and this process holding the handles and descriptors it held before.
 */
export async function runScenario(
  server: NetServer,
  ledger: ConnectionLedger,
  label: string,
  body: () => Promise<void>,
): Promise<{ accepted: number }> {
  const port = (server.address ?? assert.fail('server is not listening')).port;
  assert.equal(server.connectionCount, 0, 'the scenario must start with no connection open');
  const baseline = snapshotHandles();
  const before = ledger.mark();

  await body();
  // The fresh client also proves the accept queue was drained: connections a scenario dropped
  // while still queued in the kernel are accepted before it.
  await assertServesFreshClient(port, label);
  await ledger.settled();
  await waitForHandles(baseline);

  assert.equal(server.connectionCount, 0);
  ledger.assertClosedExactlyOnce();
  return { accepted: ledger.accepted - before.accepted };
}
