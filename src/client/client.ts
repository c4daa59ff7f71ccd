import { EventEmitter, once } from 'node:events';
import type { MessageSink, Payload } from '../net/codec.js';
import { ConnectionClosedError, RequestTimeoutError } from '../core/errors.js';
import type { ProxyHeaderInit } from '../proxy/proxy-header-encoder.js';
import { proxyPrelude } from './proxy-prelude.js';
import { formatHostPort } from '../core/host-port.js';
import { CODEC_NAMES, type CodecName } from '../server/options.js';
import { rejectUnknownOptions, requireInteger, requireName, requireNumber, requireOneOf, requireOptionsObject } from '../core/option-checks.js';
import { ClientWireFormat, DEFAULT_MAX_REPLY_BYTES } from './wire-format.js';
import { clientTls, handshakeError, openSocket, type ClientTlsOptions } from './client-tls.js';
import { bunClientLink, nodeClientLink, type ClientLink } from './client-link.js';
import { isBun } from '../transport/bun-api.js';
import { namedSocketError } from '../transport/socket-error.js';

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
  /**
   * Speak TLS: `true` verifies the server against the system's CAs; an object sets the CA, a
   * client certificate, the server name, ALPN, or `rejectUnauthorized: false`. Default: none.
   */
  tls?: boolean | ClientTlsOptions;
  /**
   * Send a PROXY protocol header first (before TLS), as a proxy would: to talk to a server
   * configured for one without a proxy. `destination` defaults to the server's address (when
   * `host` is an IP address of the source's family; else the unspecified address) and `port`.
   */
  proxyHeader?: ProxyHeaderInit;
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
  tls: true,
  proxyHeader: true,
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
  private readonly wire: ClientWireFormat;
  private readonly decoder;
  private closedError: Error | null = null;

  constructor(
    private readonly link: ClientLink,
    private readonly options: Required<Pick<ClientOptions, 'codec' | 'byteOrder' | 'maxMessageBytes' | 'requestTimeout'>>,
  ) {
    super();
    this.wire = new ClientWireFormat(options.codec, options.byteOrder, options.maxMessageBytes);
    this.decoder = this.wire.replyCodec.createDecoder();
    const replies: MessageSink = {
      deliver: (message) => this.onReply(Buffer.from(message)),
      fail: (error) => this.link.destroy(error),
    };
    link.attach({
      data: (chunk) => this.decoder.decode(chunk, replies),
      error: (error) => {
        this.closedError = new ConnectionClosedError(`connection failed: ${error.message}`, { cause: error });
      },
      close: () => {
        const error = this.closedError ?? new ConnectionClosedError();
        this.closedError = error;
        for (const waiter of this.waiters.splice(0)) this.settle(waiter, error);
        this.emit('close');
      },
    });
  }

  /** The runtime's socket under the client: a `net.Socket` (a `tls.TLSSocket` with TLS), or on Bun a Bun socket. */
  get socket(): unknown {
    return this.link.socket;
  }

  /** This end's port, as the server sees it (with no proxy between). */
  get localPort(): number {
    return this.link.localPort;
  }

  /** True until the connection closes. */
  get isOpen(): boolean {
    return this.closedError === null;
  }

  /**
   * Sends a message without waiting for anything.
   * @throws ConnectionClosedError once the connection has closed
   * @throws EmptyMessageError for an empty message with the seed codec
   */
  send(message: Payload): void {
    if (this.closedError !== null) throw this.closedError;
    this.link.write(this.wire.frame(message));
  }

  /**
   * Sends a message and resolves with the next unclaimed reply.
   * @rejects RequestTimeoutError after `timeout` ms (default: the client's requestTimeout)
   * @rejects ConnectionClosedError if the connection closes first
   * @rejects EmptyMessageError at once for an empty message with the seed codec
   */
  request(message: Payload, timeout = this.options.requestTimeout): Promise<Buffer> {
    // Sent before the waiter is queued: a message that cannot go out must leave no waiter
    // behind to take the next request's reply (and replies arrive on a later turn anyway).
    try {
      this.send(message);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: null, expired: false };
      if (timeout > 0) {
        waiter.timer = setTimeout(() => {
          waiter.expired = true;
          reject(new RequestTimeoutError(timeout));
        }, timeout);
      }
      this.waiters.push(waiter);
    });
  }

  /** Half-closes, waits for the server to close, and resolves. */
  async close(): Promise<void> {
    if (this.link.closed) return;
    const closed = once(this, 'close');
    this.link.end();
    await closed;
  }

  /** Closes at once. */
  destroy(): void {
    this.link.destroy();
  }

  /** Closes at once with RST: the server sees a reset, not a close. */
  reset(): void {
    this.link.reset();
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
 * @rejects TlsHandshakeError when the TLS handshake fails (the server's certificate does not
 *   verify, the server does not speak TLS)
 */
export async function connect(options: ClientOptions = {}): Promise<Client> {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, CLIENT_OPTION_NAMES);
  const { host = '127.0.0.1', port = 8888, codec = 'seed', byteOrder = 'little', maxMessageBytes = DEFAULT_MAX_REPLY_BYTES, connectTimeout = 5000, requestTimeout = 5000 } = options;
  requireName('host', host);
  requireInteger('port', port, 1, 65535);
  requireOneOf('codec', codec, CODEC_NAMES);
  requireOneOf('byteOrder', byteOrder, ['little', 'big']);
  requireInteger('maxMessageBytes', maxMessageBytes, 1, 0xffff_ffff);
  requireNumber('connectTimeout', connectTimeout, 0, MAX_TIMEOUT_MS, 'milliseconds');
  requireNumber('requestTimeout', requestTimeout, 0, MAX_TIMEOUT_MS, 'milliseconds');
  const setup = clientTls(options.tls);
  const prelude = options.proxyHeader === undefined ? undefined : proxyPrelude(options.proxyHeader, host, port);
  const settings = { codec, byteOrder, maxMessageBytes, requestTimeout };
  // Plaintext on Bun: Bun's own sockets, as the server uses them.
  if (setup === null && isBun()) return new Client(await connectBun(host, port, connectTimeout, prelude), settings);
  const { socket, tcp, ready } = openSocket(host, port, setup, prelude);
  let connected = false;
  tcp.once('connect', () => (connected = true));
  const timer = setTimeout(() => socket.destroy(new RequestTimeoutError(connectTimeout)), connectTimeout);
  try {
    await once(socket, ready);
  } catch (err) {
    // Past TCP, a TLS connection can only fail in its handshake.
    if (setup !== null && connected && !(err instanceof RequestTimeoutError)) throw handshakeError(host, port, err as Error);
    throw new ConnectionClosedError(`cannot connect to ${formatHostPort(host, port)}: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return new Client(nodeClientLink(socket), settings);
}

/** A Bun.connect link within `timeout` ms, the PROXY header (if any) written first. */
async function connectBun(host: string, port: number, timeout: number, prelude: Buffer | undefined): Promise<ClientLink> {
  let timer: NodeJS.Timeout | undefined;
  const opening = bunClientLink(host, port);
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RequestTimeoutError(timeout)), timeout);
  });
  let link: ClientLink;
  try {
    link = await Promise.race([opening, expired]);
  } catch (err) {
    // One that connects after all is closed at once.
    void opening.then((late) => late.destroy(), () => undefined);
    // Bun says "Failed to connect"; its code (ECONNREFUSED, ...) is what names the cause.
    const named = namedSocketError(err, 'connect', host, port);
    throw new ConnectionClosedError(`cannot connect to ${formatHostPort(host, port)}: ${(named as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  if (prelude !== undefined) link.write(prelude);
  return link;
}
