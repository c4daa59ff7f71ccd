/**
 * Watching a server's connections from the tests: which opened, how often each one's onClose
 * fired and why, what onError and process warnings reported. No tests here and no side
 * effects on import: `node --test build/test/` also loads this module.
 */
import assert from 'node:assert/strict';
import type { CloseReason, Connection, NetServer } from '../../src/index.js';
import { waitUntil } from './wait.js';

/** Error codes a server connection may legitimately see when its peer resets or vanishes. */
export const PEER_GONE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE']);

/** Waits until `server` has `expected` connections left (none by default), closed by their own course. */
export async function connectionsDrained(server: NetServer, expected = 0, timeoutMs = 5000): Promise<void> {
  await waitUntil(
    () => server.connectionCount === expected,
    () => `server still has ${server.connectionCount} connections, expected ${expected}`,
    timeoutMs,
  );
  assert.equal(server.connectionCount, expected);
}

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

  /**
   * What the end of a scenario must show before anything is stopped: every connection gone
   * by its own course (not closed by a stop), each one's onClose fired exactly once.
   */
  async assertSettledCleanly(): Promise<void> {
    await connectionsDrained(this.server);
    await this.settled();
    this.assertClosedExactlyOnce();
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
