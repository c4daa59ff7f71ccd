import type { Payload } from './payload.js';

/**
 * What a Dispatcher needs of a connection it registers: its id, for sends and closes from
 * other threads; its last traffic and a way to expire it, for the idle sweep. The net layer's
 * `Connection` is one; core names only this much of it.
 */
export interface RegisteredConnection {
  /** Unique on this loop (and across a ReactorGroup's loops). */
  readonly id: number;
  /** When traffic last moved, in the dispatcher clock's milliseconds. */
  readonly lastActiveAt: number;
  /** Closes the connection for having been silent `idleMs` milliseconds. */
  expire(idleMs: number): void;
  /** Queues `payload` as one outbound message; false when it was dropped (connection closing). */
  send(payload: Payload): boolean;
  /** Closes once pending output is written. */
  closeAfterWrite(): void;
}
