/**
 * A client for any of the three codecs, for tests that speak more than the seed protocol.
 * No tests here and no side effects on import: `node --test build/test/` also loads this module.
 */
import net from 'node:net';
import type { ByteOrder, Connection, NetServer } from '../../src/index.js';
import { ReplyStream, destroySocket, type ClientClose, type Wire } from './reply-stream.js';

export type { ClientClose, Wire, WireCodec } from './reply-stream.js';

/** Frames `message` as a request on `wire`. */
export function frameRequest(wire: Wire, message: Buffer | string): Buffer {
  const body = Buffer.from(message);
  switch (wire.codec) {
    case 'seed':
      return body;
    case 'line':
      return Buffer.concat([body, Buffer.from('\n')]);
    case 'length':
      return Buffer.concat([lengthHeader(body.length, wire.byteOrder ?? 'little'), body]);
  }
}

export function lengthHeader(length: number, byteOrder: ByteOrder = 'little'): Buffer {
  const header = Buffer.alloc(4);
  if (byteOrder === 'little') header.writeUInt32LE(length);
  else header.writeUInt32BE(length);
  return header;
}

/**
 * Requests framed for the wire, replies split back into messages (seed and length: 4-byte
 * length + body; line: up to '\n') and queued for `read()`.
 */
export class WireClient {
  readonly closed: Promise<ClientClose>;
  private readonly replies: ReplyStream;

  private constructor(
    readonly socket: net.Socket,
    readonly wire: Wire,
  ) {
    this.replies = new ReplyStream(socket, wire);
    this.closed = this.replies.closed;
  }

  static async connect(port: number, wire: Wire): Promise<WireClient> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const client = new WireClient(socket, wire);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => reject(client.error ?? new Error('closed before connecting')));
    });
    return client;
  }

  /** Reply messages received so far (read or not). */
  get received(): number {
    return this.replies.received;
  }

  /** Reply messages received but not yet read. */
  get queued(): number {
    return this.replies.queued;
  }

  /** Raw bytes received. */
  get bytesReceived(): number {
    return this.replies.bytesReceived;
  }

  get error(): Error | null {
    return this.replies.error;
  }

  /** The server-side connection of this client. */
  connectionOn<T>(server: NetServer<T>): Connection<T> | undefined {
    for (const conn of server.connections()) if (conn.remotePort === this.socket.localPort) return conn;
    return undefined;
  }

  send(message: Buffer | string): boolean {
    return this.socket.write(frameRequest(this.wire, message));
  }

  /** The next reply message; rejects if the connection closes first. */
  read(): Promise<Buffer> {
    return this.replies.read();
  }

  async request(message: Buffer | string): Promise<Buffer> {
    this.send(message);
    return this.read();
  }

  /** Sends FIN and waits for the server to close its side. */
  async end(): Promise<ClientClose> {
    this.socket.end();
    return this.closed;
  }

  /** Closes at once; with `reset`, an RST instead of a FIN (see destroySocket). */
  destroy(reset = false): void {
    destroySocket(this.socket, reset);
  }
}
