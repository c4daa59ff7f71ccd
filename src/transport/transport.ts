/**
 * The seam between a connection and the runtime's sockets: the one place that knows a socket
 * API. A `Connection` holds an opaque handle (a node:net Socket, a TLS socket, a Bun socket)
 * and drives it through a `TransportDriver` shared by every connection of a server, so the
 * seam costs no object and no closure per connection. Events come back to the connection,
 * which implements `TransportSink`.
 *
 * Write semantics fit both kinds of socket: node:net buffers what it cannot write at once and
 * asks for a pause (`write` takes everything, `isFull` says wait); Bun writes straight to the
 * kernel and takes what fits (`write` returns fewer bytes; the caller keeps the rest). Either
 * way the caller waits for `handleWritable` before writing more.
 */
import type { AddressInfo } from 'node:net';
import type { AcceptedPeer, ProxyGateOptions } from './proxy-gate.js';

/** What a transport tells the connection that owns a handle. All are called on its loop. */
export interface TransportSink {
  /** Bytes arrived. */
  handleData(chunk: Buffer): void;
  /** The peer half-closed (FIN): nothing more will arrive; we may still write. */
  handlePeerEnd(): void;
  /** After `isFull` or a short write: the transport takes writes again. */
  handleWritable(): void;
  /** A socket error; `handleClosed` follows. */
  handleError(error: Error): void;
  /** The handle is closed, exactly once, whatever closed it. */
  handleClosed(hadError: boolean): void;
}

/** Drives handles of one kind. Stateless: every connection of a server shares one driver. */
export interface TransportDriver<H = unknown> {
  /** Starts delivering `handle`'s events to `sink`; called once, after accept (and admission). */
  attach(handle: H, sink: TransportSink): void;
  /**
   * Keeps an accepted handle that is not attached yet (its admission is being decided
   * elsewhere) from failing loudly: an error meanwhile just closes it (`isClosed` says so), and
   * bytes that arrive wait for `attach`. Optional: a transport whose handles raise no events
   * before `attach` needs none.
   */
  hold?(handle: H): void;
  /**
   * Hands `chunk` to the transport. Returns how many bytes it took: all of them for a
   * transport with a write buffer of its own, possibly fewer for one without (the caller
   * keeps the rest and waits for `handleWritable`).
   * @param onFlushed called once these bytes, and all before them, have reached the kernel
   */
  write(handle: H, chunk: Buffer, onFlushed?: () => void): number;
  /** True when the transport wants no more writes until `handleWritable`. */
  isFull(handle: H): boolean;
  /** Asks for `handleWritable`; called once per handle, on its first backed-up write. */
  listenWritable(handle: H): void;
  /** Bytes taken by `write` and not yet in the kernel. */
  queuedBytes(handle: H): number;
  /** Bytes read from the peer so far. */
  bytesRead(handle: H): number;
  /** Stops reading (backpressure): the kernel's window closes and the peer slows down. */
  pause(handle: H): void;
  resume(handle: H): void;
  /** Sends FIN once everything queued is written, then closes the handle. */
  shutdown(handle: H): void;
  /** Closes now: whatever is in the kernel still goes out, then FIN; queued bytes are dropped. */
  close(handle: H): void;
  /** Closes with RST (SO_LINGER 0): the peer learns at once, no TIME_WAIT is left here. */
  reset(handle: H): void;
  /** True once the handle is closed or closing. */
  isClosed(handle: H): boolean;
  remoteAddress(handle: H): string;
  remotePort(handle: H): number;
  /** The OS file descriptor, or -1 where the runtime does not tell (see DescriptorGuard). */
  descriptor(handle: H): number;
  /** What the TLS handshake settled; absent on a transport without TLS. */
  tlsInfo?(handle: H): TlsInfo;
}

/** What a TLS connection's handshake settled, as the application sees it (`conn.tls`). */
export interface TlsInfo {
  /** `TLSv1.3`, `TLSv1.2`, ... */
  protocol: string | null;
  /** The cipher suite's OpenSSL name. */
  cipher: string | null;
  /** The ALPN protocol both sides chose, or null. */
  alpn: string | null;
  /** The server name the client asked for (SNI), or null. */
  servername: string | null;
  /** True when the peer's certificate was verified against the trusted CAs. */
  authorized: boolean;
  /** Why it was not, when a certificate was requested. */
  authorizationError: string | null;
  /** The client certificate's subject (`CN=..., O=...`), or null without one. */
  peerSubject: string | null;
}

/** A handshake that did not complete: the socket never became a connection. */
export interface HandshakeFailure {
  /**
   * `plaintext` (not TLS at all), `timeout`, `no-shared-cipher`, `bad-certificate`, `closed`
   * (the peer closed or reset first), `protocol` (anything else).
   */
  reason: 'plaintext' | 'timeout' | 'no-shared-cipher' | 'bad-certificate' | 'closed' | 'protocol';
  error: Error;
  peer: { address: string; port: number };
}

/** Hears how each TLS handshake ended. */
export interface HandshakeObserver {
  /** A handshake completed after `seconds` (from TCP accept); the handle goes on to onAccept. */
  completed(seconds: number): void;
  /** A handshake failed; the handle never reaches onAccept. */
  failed(failure: HandshakeFailure): void;
}

/** How a listener is set up: the seed Acceptor's socket options. */
export interface ListenerOptions {
  host: string;
  port: number;
  /** Length of the kernel's queue of connections not yet accepted. */
  backlog: number;
  /** SO_REUSEPORT: several listeners on one port, balanced by the kernel. */
  reusePort: boolean;
  /** TCP_NODELAY on every accepted socket. */
  noDelay: boolean;
  /** SO_KEEPALIVE on every accepted socket. */
  keepAlive: boolean;
  /** Seconds of silence before the first keep-alive probe. */
  keepAliveInitialDelay: number;
  /** The PROXY protocol stage, run on each accepted socket before anything else (TLS included); absent when off. */
  proxy?: ProxyGateOptions;
}

/** A listening socket. Accepted handles and listener errors go to the callbacks it was made with. */
export interface TransportListener {
  /** Starts listening; resolves with the bound address (the real port when 0 was asked for). */
  listen(): Promise<AddressInfo>;
  /** The bound address, or null when not listening. */
  address(): AddressInfo | null;
  /** Stops accepting; resolves once the listening socket is closed. */
  close(): Promise<void>;
}

/** One kind of socket: its driver, and how to listen for handles of that kind. */
export interface Transport<H = unknown> {
  /** For logs and errors: `node:net`, ... */
  readonly name: string;
  readonly driver: TransportDriver<H>;
  createListener(
    options: ListenerOptions,
    /** A handle to serve; `peer` when the PROXY stage named its client. */
    onAccept: (handle: H, peer?: AcceptedPeer) => void,
    onError: (error: Error) => void,
    /** Told how each handshake ended, on a TLS transport. */
    handshakes?: HandshakeObserver,
  ): TransportListener;
}
