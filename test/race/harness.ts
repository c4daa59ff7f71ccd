import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { type CloseReason, type Connection, type NetServer } from '../../src/index.js';
import { SeedClient, expectedReply } from '../helpers/seed-client.js';
export { expectedReply };

/** node:test gives hooks no time limit, not even their suite's: a hung hook would hang the file. */
export const HOOK_TIMEOUT_MS = 10_000;

/**
 * Resolves once `condition()` holds, checking on every turn of the event loop (so sockets keep
 * being served while it waits), or every `pollMs` for a costly condition (one that reads
 * /proc, say, competing with the server for the CPU); rejects with `describe()` when
 * `timeoutMs` passes first.
 */
export async function waitUntil(condition: () => boolean, describe: () => string, timeoutMs = 5000, pollMs = 0): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise<void>((resolve) => (pollMs > 0 ? setTimeout(resolve, pollMs) : setImmediate(resolve)));
  }
}

// Resources a leaked socket, listener, connect/shutdown request or timer shows up as. Unref'd
// timers (the idle sweep, the test runner's own timeout) are not listed by Node at all.
const TRACKED_RESOURCES = new Set(['TCPSocketWrap', 'TCPServerWrap', 'TCPConnectWrap', 'ConnectWrap', 'ShutdownWrap', 'SimpleShutdownWrap', 'Timeout', 'Immediate']);

export interface HandleSnapshot {
  /** Tracked resource name -> count. */
  readonly resources: ReadonlyMap<string, number>;
  /** Open file descriptors of this process, or -1 where /proc is missing. */
  readonly fds: number;
}

export function snapshotHandles(): HandleSnapshot {
  const resources = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) {
    if (TRACKED_RESOURCES.has(name)) resources.set(name, (resources.get(name) ?? 0) + 1);
  }
  let fds = -1;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {
    // Not Linux: the resource list alone has to do.
  }
  return { resources, fds };
}

function formatSnapshot(snapshot: HandleSnapshot): string {
  const resources = [...snapshot.resources].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${name}=${n}`);
  return `{${resources.join(', ')}} fds=${snapshot.fds}`;
}

function sameHandles(a: HandleSnapshot, b: HandleSnapshot): boolean {
  if (a.fds !== b.fds || a.resources.size !== b.resources.size) return false;
  for (const [name, n] of a.resources) if (b.resources.get(name) !== n) return false;
  return true;
}

/** Waits (bounded) until the process holds exactly the handles and descriptors of `baseline`. */
export async function waitForHandles(baseline: HandleSnapshot, timeoutMs = 5000): Promise<void> {
  let current = snapshotHandles();
  await waitUntil(
    () => sameHandles((current = snapshotHandles()), baseline),
    () => `handles did not return to the baseline: before ${formatSnapshot(baseline)}, now ${formatSnapshot(current)}`,
    timeoutMs,
  );
}

/** Error codes a server connection may legitimately see when its peer resets or vanishes. */
export const PEER_GONE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

/**
 * Watches a server's connection lifecycle through its callbacks: which connections opened,
 * how often each one's onClose fired and why, and what onError reported. Wraps the callbacks
 * already installed rather than replacing them.
 */
export class ConnectionLedger {
  private readonly opened = new Set<number>();
  private readonly closeCount = new Map<number, number>();
  readonly reasons = new Map<CloseReason, number>();
  readonly errors: Error[] = [];
  /** onClose calls for a connection onConnection never saw, or a second one for the same. */
  readonly anomalies: string[] = [];

  constructor(private readonly server: NetServer) {
    const { onConnection, onClose, onError } = server.callbacks;
    server.setCallbacks({
      onConnection: (conn) => {
        if (this.opened.has(conn.id)) this.anomalies.push(`connection ${conn.id} opened twice`);
        this.opened.add(conn.id);
        onConnection?.(conn);
      },
      onClose: (conn, reason) => {
        const n = (this.closeCount.get(conn.id) ?? 0) + 1;
        this.closeCount.set(conn.id, n);
        if (!this.opened.has(conn.id)) this.anomalies.push(`onClose for connection ${conn.id} that was never opened`);
        if (n > 1) this.anomalies.push(`onClose fired ${n} times for connection ${conn.id} (${reason})`);
        this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
        onClose?.(conn, reason);
      },
      onError: (conn: Connection, error: Error) => {
        this.errors.push(error);
        onError?.(conn, error);
      },
    });
  }

  get accepted(): number {
    return this.opened.size;
  }

  /** Connections whose onClose fired (at least once). */
  get closed(): number {
    return this.closeCount.size;
  }

  /** A copy of the counters now, to compare a scenario's effect against. */
  mark(): { accepted: number; closed: number } {
    return { accepted: this.accepted, closed: this.closed };
  }

  /** Waits until every accepted connection has closed and the server's registry is empty. */
  async settled(timeoutMs = 5000): Promise<void> {
    await waitUntil(
      () => this.closed === this.accepted && this.server.connectionCount === 0,
      () => `accepted ${this.accepted}, closed ${this.closed}, connectionCount ${this.server.connectionCount}`,
      timeoutMs,
    );
  }

  /** Asserts onClose fired exactly once per accepted connection, for all of them. */
  assertClosedExactlyOnce(): void {
    assert.deepEqual(this.anomalies, []);
    assert.equal(this.closed, this.accepted, 'a connection was accepted but onClose never fired for it');
    for (const id of this.opened) assert.equal(this.closeCount.get(id), 1, `onClose count for connection ${id}`);
  }

  /** Asserts every onError was a peer reset or a write to a vanished peer, not a server fault. */
  assertOnlyPeerErrors(): void {
    const unexpected = this.errors.filter((error) => !PEER_GONE_CODES.has((error as NodeJS.ErrnoException).code ?? ''));
    assert.deepEqual(unexpected.map((error) => `${error.name}: ${error.message}`), []);
  }
}

/** Collects process warnings (the framework reports swallowed handler errors as warnings). */
export class WarningRecorder {
  readonly warnings: Error[] = [];
  private readonly listener = (warning: Error): void => {
    this.warnings.push(warning);
  };

  constructor() {
    process.on('warning', this.listener);
  }

  dispose(): void {
    process.off('warning', this.listener);
  }
}

/**
 * The last hook of a file: when a failure left a listener or sockets open (a leak the tests
 * have already reported), they would keep this process alive for ever. Unref'ing them lets
 * the file end. Does nothing after a clean run, when no TCP handle is left.
 */
export function releaseLeftoverSockets(): number {
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof getHandles !== 'function') return 0;
  // The reporter writes through these (process.stdin is not touched: reading it opens it).
  const stdio: unknown[] = [process.stdout, process.stderr];
  let released = 0;
  for (const handle of getHandles.call(process)) {
    if (stdio.includes(handle)) continue;
    if (handle instanceof net.Server || handle instanceof net.Socket) {
      handle.unref();
      released++;
    }
  }
  return released;
}

/** A fresh client gets its exact reply, then closes cleanly. */
export async function assertServesFreshClient(port: number, label: string): Promise<void> {
  const client = await SeedClient.connect(port);
  try {
    const message = Buffer.from(`fresh client after ${label}`);
    assert.deepEqual(await client.request(message), expectedReply(message));
    await client.end();
  } finally {
    client.destroy();
  }
}

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
