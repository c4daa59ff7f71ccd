/**
 * The receiving half shared by the test clients: a socket's bytes split into reply messages
 * for one wire format and queued for `read()`, with how and when the socket closed. No tests
 * here and no side effects on import: `node --test build/test/` also loads this module.
 */
import type net from 'node:net';
import type { ByteOrder } from '../../src/index.js';

export type WireCodec = 'seed' | 'length' | 'line';

export interface Wire {
  codec: WireCodec;
  /** Header byte order of the `length` codec, both ways. Default little. */
  byteOrder?: ByteOrder;
}

/** How the client closed, as its socket saw it. */
export interface ClientClose {
  hadError: boolean;
  /** The server's FIN arrived ('end') before the close. */
  sawEnd: boolean;
  error: Error | null;
}

/**
 * Splits what `socket` receives into messages (seed and length: a 4-byte length, then the
 * body; line: up to '\n') and hands each to the oldest `read()` waiting, or queues it.
 */
export class ReplyStream {
  readonly closed: Promise<ClientClose>;
  /** Reply messages received so far (read or not). */
  received = 0;
  /** Raw bytes received. */
  bytesReceived = 0;
  sawEnd = false;
  error: Error | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private readonly queue: Buffer[] = [];
  private readonly waiters: { resolve: (message: Buffer) => void; reject: (error: Error) => void }[] = [];
  private ended = false;

  constructor(
    socket: net.Socket,
    private readonly wire: Wire,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('end', () => {
      this.sawEnd = true;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        this.ended = true;
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.closedError());
        resolve({ hadError, sawEnd: this.sawEnd, error: this.error });
      });
    });
  }

  /** The next reply message; rejects if the connection closes first. */
  read(): Promise<Buffer> {
    const message = this.queue.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (this.ended) return Promise.reject(this.closedError());
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Messages received but not yet read. */
  get queued(): number {
    return this.queue.length;
  }

  private closedError(): Error {
    return this.error ?? new Error('connection closed before the next message arrived');
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (let message = this.take(); message !== null; message = this.take()) {
      this.received++;
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter.resolve(message);
      else this.queue.push(message);
    }
  }

  /** The next complete message cut from the bytes pending, or null when none is complete. */
  private take(): Buffer | null {
    let message: Buffer;
    if (this.wire.codec === 'line') {
      const newline = this.pending.indexOf(0x0a);
      if (newline === -1) return null;
      message = this.pending.subarray(0, newline);
      this.pending = this.pending.subarray(newline + 1);
    } else {
      if (this.pending.length < 4) return null;
      const length = this.wire.codec === 'length' && this.wire.byteOrder === 'big' ? this.pending.readUInt32BE(0) : this.pending.readUInt32LE(0);
      if (this.pending.length < 4 + length) return null;
      message = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
    }
    return message;
  }
}

/**
 * Closes a client socket at once; with `reset`, an RST instead of a FIN. Not a reset while the
 * socket still connects (it would wait for the connect) nor once it has ended its write side
 * (after the server's FIN): Node then fails the reset with EINVAL and never closes the handle,
 * leaking the descriptor, so a plain destroy is used.
 */
export function destroySocket(socket: net.Socket, reset = false): void {
  if (reset && !socket.connecting && !socket.writableEnded && !socket.destroyed) socket.resetAndDestroy();
  else socket.destroy();
}
