import net from 'node:net';
import { once } from 'node:events';
import { REPLY_PREFIX } from '../../src/index.js';

/** What the default echo puts in front of every reply. */
export const ECHO_PREFIX = Buffer.from(REPLY_PREFIX);

/** The default echo's reply to `message`: the prefix, then the message, byte for byte. */
export function expectedReply(message: Buffer | string): Buffer {
  return Buffer.concat([ECHO_PREFIX, Buffer.from(message)]);
}

/**
 * A client for the seed protocol, as the seed's own test clients behave: raw bytes out,
 * frames of a 4-byte little-endian length plus body in. Frames are queued as they arrive;
 * `readFrame()` takes the next one.
 */
export class SeedClient {
  readonly socket: net.Socket;
  /** Resolves when the socket has closed, with whether it closed on an error. */
  readonly closed: Promise<boolean>;
  private pending: Buffer = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private readonly waiters: { resolve: (frame: Buffer) => void; reject: (err: Error) => void }[] = [];
  private ended = false;
  private error: Error | null = null;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => {
      this.error = err;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        this.ended = true;
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.error ?? new Error('connection closed before a frame arrived'));
        resolve(hadError);
      });
    });
  }

  static async connect(port: number, host = '127.0.0.1', options: Partial<net.TcpSocketConnectOpts> = {}): Promise<SeedClient> {
    const socket = net.connect({ port, host, noDelay: true, ...options });
    await once(socket, 'connect');
    return new SeedClient(socket);
  }

  send(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** The next frame's body; rejects if the connection closes first. */
  readFrame(): Promise<Buffer> {
    const frame = this.frames.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    if (this.ended) return Promise.reject(this.error ?? new Error('connection closed before a frame arrived'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Sends `data` and returns the next frame. */
  async request(data: Buffer | string): Promise<Buffer> {
    this.send(data);
    return this.readFrame();
  }

  /**
   * Reads frames until their bodies, each stripped of `prefix`, add up to `length` bytes,
   * and returns them joined: how a seed client reassembles a reply the server read in pieces.
   */
  async readReassembled(length: number, prefix: Buffer): Promise<{ body: Buffer; frames: number }> {
    const parts: Buffer[] = [];
    let total = 0;
    while (total < length) {
      const frame = await this.readFrame();
      if (!frame.subarray(0, prefix.length).equals(prefix)) throw new Error(`frame ${parts.length} lacks the reply prefix`);
      const body = frame.subarray(prefix.length);
      parts.push(body);
      total += body.length;
    }
    return { body: Buffer.concat(parts), frames: parts.length };
  }

  /** Frames received but not yet read. */
  get queuedFrames(): number {
    return this.frames.length;
  }

  /** Half-closes (FIN) and waits for the server to close too. */
  async end(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  /** Closes at once. With `reset`, sends RST instead of FIN (SO_LINGER 0). */
  destroy(reset = false): void {
    if (reset) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32LE(0);
      if (this.pending.length < 4 + length) break;
      const frame = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter.resolve(frame);
      else this.frames.push(frame);
    }
  }
}
