/**
 * The per-address limits of a processes group, seen from one reactor process. Processes share
 * no memory, so the table lives in the supervisor: each new connection is a question there and
 * an answer back (one IPC round trip, during which the socket waits unread), and each close a
 * one-way release.
 *
 * Messages cost far more than the decisions (a write and a read system call each way, and
 * serialization), so what one turn of the event loop asks and releases goes in one message,
 * in the order it happened, and the supervisor answers a batch with one message.
 */
import type { AddressLimiter } from './admission-control.js';
import type { AddressRefusal, AddressTable } from './address-table.js';

/**
 * A batch of admission operations, in order: a request id (a number) followed by an address is
 * a question (may a new connection from it be served?); an address alone is a release (a
 * connection from it that was admitted has closed).
 */
export type AdmissionOps = (number | string)[];

/** The answers to a batch's questions: request id, then the refusal or null, for each. */
export type AdmissionAnswers = (number | AddressRefusal | null)[];

export class RemoteLimiter implements AddressLimiter {
  private nextRequestId = 1;
  private readonly pending = new Map<number, (verdict: AddressRefusal | null) => void>();
  private ops: AdmissionOps = [];
  private flushScheduled = false;

  /**
   * @param send hands a batch to the supervisor
   * @param countsConnections whether the supervisor counts open connections (so wants releases)
   */
  constructor(
    private readonly send: (ops: AdmissionOps) => void,
    readonly countsConnections: boolean,
  ) {}

  acquire(address: string): Promise<AddressRefusal | null> {
    const requestId = this.nextRequestId++;
    this.queue(requestId, address);
    return new Promise((resolve) => this.pending.set(requestId, resolve));
  }

  release(address: string): void {
    this.queue(address);
  }

  /** The supervisor's answers to a batch. */
  answered(answers: AdmissionAnswers): void {
    for (let i = 0; i + 1 < answers.length; i += 2) {
      const requestId = answers[i] as number;
      const resolve = this.pending.get(requestId);
      if (resolve === undefined) continue;
      this.pending.delete(requestId);
      resolve(answers[i + 1] as AddressRefusal | null);
    }
  }

  /** Questions still unanswered. */
  get pendingRequests(): number {
    return this.pending.size;
  }

  private queue(...op: (number | string)[]): void {
    this.ops.push(...op);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After this turn's I/O callbacks: every socket accepted and closed in it goes in one message.
    setImmediate(flush, this);
  }

  /** @internal */
  flush(): void {
    this.flushScheduled = false;
    const ops = this.ops;
    this.ops = [];
    if (ops.length > 0) this.send(ops);
  }
}

function flush(limiter: RemoteLimiter): void {
  limiter.flush();
}

/**
 * The supervisor's side: applies a reactor's batch to the table, in order, under the reactor's
 * index, and returns the answers to its questions (empty when it asked none).
 */
export function applyAdmissionOps(table: AddressTable, reactor: number, ops: AdmissionOps): AdmissionAnswers {
  const answers: AdmissionAnswers = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (typeof op === 'number') {
      answers.push(op, table.acquire(ops[++i] as string, reactor));
    } else {
      table.release(op, reactor);
    }
  }
  return answers;
}
