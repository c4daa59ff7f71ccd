/**
 * The seed-protocol client and what the default echo answers. No tests here and no side
 * effects on import: `node --test build/test/` also loads this module.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { REPLY_PREFIX } from '../../src/index.js';
import { ReplyStream, destroySocket } from './reply-stream.js';

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
  private readonly replies: ReplyStream;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.replies = new ReplyStream(socket, { codec: 'seed' });
    this.closed = this.replies.closed.then(({ hadError }) => hadError);
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
    return this.replies.read();
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
    return this.replies.queued;
  }

  /** Half-closes (FIN) and waits for the server to close too. */
  async end(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  /** Closes at once. With `reset`, sends RST instead of FIN (SO_LINGER 0). */
  destroy(reset = false): void {
    destroySocket(this.socket, reset);
  }
}

/** A fresh client gets its exact reply, then closes cleanly. */
export async function assertServesFreshClient(port: number, label: string): Promise<void> {
  const client = await SeedClient.connect(port);
  try {
    const message = Buffer.from(`fresh client after ${label}`);
    const reply = await client.request(message);
    // By hand rather than deepEqual: a mismatch shows both as text, not two buffer dumps.
    if (!reply.equals(expectedReply(message))) {
      assert.fail(`fresh client after ${label}: expected ${JSON.stringify(expectedReply(message).toString('latin1'))}, got ${JSON.stringify(reply.toString('latin1'))}`);
    }
    await client.end();
  } finally {
    client.destroy();
  }
}
