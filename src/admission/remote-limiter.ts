/**
 * The per-address limits of a processes group, seen from one reactor process. Processes share
 * no memory, so the table lives in the supervisor: each new connection is a request there and
 * an answer back (one IPC round trip, during which the socket waits unread), and each close a
 * one-way release.
 */
import type { AddressLimiter } from './admission-control.js';
import type { AddressRefusal } from './address-table.js';

/** How the limiter reaches the supervisor. */
export interface LimiterChannel {
  /** Asks whether `address` may connect; the answer comes back through `answered(requestId, ...)`. */
  request(requestId: number, address: string): void;
  /** One admitted connection from `address` closed. */
  release(address: string): void;
}

export class RemoteLimiter implements AddressLimiter {
  private nextRequestId = 1;
  private readonly pending = new Map<number, (verdict: AddressRefusal | null) => void>();

  /** @param countsConnections whether the supervisor counts open connections (so wants releases) */
  constructor(
    private readonly channel: LimiterChannel,
    readonly countsConnections: boolean,
  ) {}

  acquire(address: string): Promise<AddressRefusal | null> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      this.pending.set(requestId, resolve);
      this.channel.request(requestId, address);
    });
  }

  release(address: string): void {
    this.channel.release(address);
  }

  /** The supervisor's answer to request `requestId`. */
  answered(requestId: number, verdict: AddressRefusal | null): void {
    const resolve = this.pending.get(requestId);
    if (resolve === undefined) return;
    this.pending.delete(requestId);
    resolve(verdict);
  }

  /** Requests still unanswered. */
  get pendingRequests(): number {
    return this.pending.size;
  }
}
