import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { ByteBuffer } from '../core/byte-buffer.js';
import type { MessageSink, Payload } from '../net/codec.js';
import { ConnectionClosedError, RequestTimeoutError } from '../net/errors.js';
import { LengthCodec } from '../net/length-codec.js';
import { LineCodec } from '../net/line-codec.js';
import { CODEC_NAMES, type CodecName } from '../server/options.js';
import { rejectUnknownOptions, requireInteger, requireName, requireNumber, requireOneOf, requireOptionsObject } from '../server/option-checks.js';

export interface ClientOptions {
  host?: string;
  port?: number;
  /**
   * The server's wire format. `seed`: requests go out raw, replies come back as 4-byte
   * little-endian length frames. `length` and `line`: the same framing both ways.
   */
  codec?: CodecName;
  /** Byte order of length headers (`length` codec). Default `little`. */
  byteOrder?: 'little' | 'big';
  /** Largest reply accepted, in bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Milliseconds to wait for the connection. Default 5000. */
  connectTimeout?: number;
  /** Milliseconds `request()` waits for its reply. Default 5000. */
  requestTimeout?: number;
}

/** Every option `connect()` takes. */
const CLIENT_OPTION_NAMES = Object.keys({
  host: true,
  port: true,
  codec: true,
  byteOrder: true,
  maxMessageBytes: true,
  connectTimeout: true,
  requestTimeout: true,
} satisfies Record<keyof ClientOptions, true>);

/** setTimeout cannot wait longer than 2^31-1 ms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

interface Waiter {
  resolve: (reply: Buffer) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout | null;
  /** Timed out: its reply, when it comes, is dropped so later replies keep their order. */
  expired: boolean;
}

/**
 * A client for reactor-server (and any server speaking its wire formats). Replies are matched
 * to requests in order: the protocol has no request ids, so each `request()` takes the next
 * reply that no earlier request is waiting for.
 *
 * ```ts
 * const client = await connect({ port: 8888 });
 * const reply = await client.request('hello');   // Buffer "[Server Reply]: hello"
 * await client.close();
 * ```
 *
 * Events: `message` (a reply no request was waiting for), `close`.
 */
export class Client extends EventEmitter {
  private readonly waiters: Waiter[] = [];
  private readonly decoder;
  private readonly encoder;
  private closedError: Error | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly options: Required<Pick<ClientOptions, 'codec' | 'byteOrder' | 'maxMessageBytes' | 'requestTimeout'>>,
  ) {
    super();
    // Replies are framed by length for both the seed and the length codec.
    const replyCodec = options.codec === 'line' ? new LineCodec(options.maxMessageBytes) : new LengthCodec(options.maxMessageBytes, options.codec === 'seed' ? 'little' : options.byteOrder);
    this.decoder = replyCodec.createDecoder();
    this.encoder = options.codec === 'seed' ? null : replyCodec;
    const sink: MessageSink = {
      deliver: (message) => this.onReply(Buffer.from(message)),
      fail: (error) => this.socket.destroy(error),
    };
    socket.on('data', (chunk: Buffer) => this.decoder.decode(chunk, sink));
    socket.on('error', (error) => {
      this.closedError = new ConnectionClosedError(`connection failed: ${error.message}`, { cause: error });
    });
    socket.on('close', () => {
      const error = this.closedError ?? new ConnectionClosedError();
      this.closedError = error;
      for (const waiter of this.waiters.splice(0)) this.settle(waiter, error);
      this.emit('close');
    });
  }

  /** True until the connection closes. */
  get isOpen(): boolean {
    return this.closedError === null;
  }

  /** Sends a message without waiting for anything. */
  send(message: Payload): void {
    if (this.closedError !== null) throw this.closedError;
    if (this.encoder === null) {
      if (typeof message === 'string' || message instanceof Uint8Array) this.socket.write(message);
      else for (const part of message) this.socket.write(part);
      return;
    }
    const out = new ByteBuffer(0, 0);
    this.encoder.encode(message, out);
    this.socket.write(out.detach());
  }

  /**
   * Sends a message and resolves with the next unclaimed reply.
   * @rejects RequestTimeoutError after `timeout` ms (default: the client's requestTimeout)
   * @rejects ConnectionClosedError if the connection closes first
   */
  request(message: Payload, timeout = this.options.requestTimeout): Promise<Buffer> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    return new Promise<Buffer>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null, expired: false };
      if (timeout > 0) {
        waiter.timer = setTimeout(() => {
          waiter.expired = true;
          reject(new RequestTimeoutError(timeout));
        }, timeout);
      }
      this.waiters.push(waiter);
      this.send(message);
    });
  }

  /** Half-closes, waits for the server to close, and resolves. */
  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    const closed = once(this.socket, 'close');
    this.socket.end();
    await closed;
  }

  /** Closes at once. */
  destroy(): void {
    this.socket.destroy();
  }

  private onReply(reply: Buffer): void {
    const waiter = this.waiters.shift();
    if (waiter === undefined) {
      this.emit('message', reply);
      return;
    }
    if (waiter.expired) return;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    waiter.resolve(reply);
  }

  private settle(waiter: Waiter, error: Error): void {
    if (waiter.expired) return;
    if (waiter.timer !== null) clearTimeout(waiter.timer);
    waiter.reject(error);
  }
}

/**
 * Connects to a server.
 * @rejects InvalidOptionError for a bad option (UnknownOptionError for a key that is none),
 *   before connecting
 * @rejects ConnectionClosedError when the connection cannot be made in time
 */
export async function connect(options: ClientOptions = {}): Promise<Client> {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, CLIENT_OPTION_NAMES);
  const { host = '127.0.0.1', port = 8888, codec = 'seed', byteOrder = 'little', maxMessageBytes = 16 * 1024 * 1024, connectTimeout = 5000, requestTimeout = 5000 } = options;
  requireName('host', host);
  requireInteger('port', port, 1, 65535);
  requireOneOf('codec', codec, CODEC_NAMES);
  requireOneOf('byteOrder', byteOrder, ['little', 'big']);
  requireInteger('maxMessageBytes', maxMessageBytes, 1, 0xffff_ffff);
  requireNumber('connectTimeout', connectTimeout, 0, MAX_TIMEOUT_MS, 'milliseconds');
  requireNumber('requestTimeout', requestTimeout, 0, MAX_TIMEOUT_MS, 'milliseconds');
  const socket = net.connect({ host, port, noDelay: true });
  const timer = setTimeout(() => socket.destroy(new RequestTimeoutError(connectTimeout)), connectTimeout);
  try {
    await once(socket, 'connect');
  } catch (err) {
    throw new ConnectionClosedError(`cannot connect to ${host}:${port}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return new Client(socket, { codec, byteOrder, maxMessageBytes, requestTimeout });
}
