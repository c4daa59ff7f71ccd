/**
 * The Bun transport: `Bun.listen` sockets behind the TransportDriver seam, with no node:net
 * stream in between. A Bun socket writes straight to the kernel and keeps nothing: `write`
 * returns the bytes taken, the connection keeps the rest and writes it on `drain`, so the
 * only output buffer is the connection's own. Every socket of a listener shares one set of
 * handlers; what a socket needs of its own lives in a small state object on `socket.data`.
 *
 * What Bun does not give, and how it is covered: `bytesRead` (counted here, from the chunks
 * delivered), listener error events (a failed accept is handled inside Bun and not reported;
 * the DescriptorGuard still sees the descriptor count), the listen backlog (Bun listens with
 * 512 whatever it is given; the option is passed on should that change).
 */
import type { AddressInfo } from 'node:net';
import { UnsupportedError } from '../core/errors.js';
import { bunSockets, type BunListener, type BunSocket, type BunSocketHandlers } from './bun-api.js';
import { REUSE_PORT_SUPPORT, runtimeDescription, supportsReusePort } from './platform.js';
import { namedSocketError } from './socket-error.js';
import { startProxyStage, type AcceptedPeer, type ProxyStage } from './proxy-gate.js';
import type { ListenerOptions, Transport, TransportDriver, TransportListener, TransportSink } from './transport.js';

/** What one Bun socket carries of ours, on `socket.data`. */
export class BunSocketState {
  /** The connection, once attached. */
  sink: TransportSink | null = null;
  /** Bytes read before the connection attached (or after a PROXY header), in order. */
  pending: Buffer[] | null = null;
  /** The peer's FIN arrived before the connection attached. */
  peerEnded = false;
  bytesRead = 0;
  /** Closed, or closing by our own call. */
  closed = false;
  /** The connection asked for `handleWritable` after a short write. */
  wantsWritable = false;
  /** Paused by `hold` (awaiting admission), to resume on attach. */
  heldPaused = false;
  /** The PROXY stage, while it reads this socket's header. */
  proxy: ProxyStage | null = null;
  /** An error reported before the close. */
  error: Error | null = null;
}

type Socket = BunSocket<BunSocketState>;

function deliverPending(socket: Socket): void {
  const state = socket.data;
  const sink = state.sink;
  const pending = state.pending;
  state.pending = null;
  if (sink === null) return;
  if (pending !== null) for (const chunk of pending) sink.handleData(chunk);
  if (state.peerEnded) {
    state.peerEnded = false;
    sink.handlePeerEnd();
  }
}

/**
 * Closing by our own call: Bun runs the close handler inside `end()`/`terminate()`. The
 * connection hears of it a microtask later, as it would from node:net (whose 'close' comes on
 * the next tick), never in the middle of its own close.
 */
let closingByCall = false;

function closeByCall(socket: Socket, how: 'end' | 'terminate'): void {
  const state = socket.data;
  if (state.closed) return;
  state.closed = true;
  closingByCall = true;
  try {
    if (how === 'end') socket.end();
    else socket.terminate();
  } finally {
    closingByCall = false;
  }
}

function notifyClosed(sink: TransportSink, error: Error | undefined): void {
  if (error !== undefined) sink.handleError(error);
  sink.handleClosed(error !== undefined);
}

/** The handlers every attached socket runs, whichever listener accepted it. */
const connectionHandlers = {
  data(socket: Socket, chunk: Buffer): void {
    const state = socket.data;
    state.bytesRead += chunk.length;
    if (state.sink !== null && state.pending === null) state.sink.handleData(chunk);
    else if (state.proxy !== null) state.proxy.push(chunk);
    else (state.pending ??= []).push(chunk);
  },
  end(socket: Socket): void {
    const state = socket.data;
    if (state.sink !== null && state.pending === null) state.sink.handlePeerEnd();
    else if (state.proxy !== null) {
      // Gone (or half-closed) before its header: nothing to serve and nobody to tell.
      state.proxy.gone();
      state.proxy = null;
      closeByCall(socket, 'end');
    } else state.peerEnded = true;
  },
  drain(socket: Socket): void {
    const state = socket.data;
    if (state.wantsWritable && state.sink !== null) state.sink.handleWritable();
  },
  close(socket: Socket, error?: Error): void {
    const state = socket.data;
    state.closed = true;
    state.proxy?.gone();
    state.proxy = null;
    const sink = state.sink;
    if (sink === null) return;
    // Bytes read before the connection attached come first, even now.
    if (state.pending !== null) deliverPending(socket);
    const cause = error ?? state.error ?? undefined;
    if (closingByCall) queueMicrotask(() => notifyClosed(sink, cause));
    else notifyClosed(sink, cause);
  },
  error(socket: Socket, error: Error): void {
    // The close follows (Bun mostly passes the error to it instead); reported with it, once.
    socket.data.error ??= error;
  },
} satisfies BunSocketHandlers<BunSocketState>;

export const bunDriver: TransportDriver<Socket> = {
  attach(socket, sink) {
    const state = socket.data;
    state.sink = sink;
    if (state.heldPaused) {
      state.heldPaused = false;
      socket.resume();
    }
    // After the connection is registered and opened: the same order node:net's events keep.
    if (state.pending !== null || state.peerEnded) queueMicrotask(() => deliverPending(socket));
  },
  hold(socket) {
    // The kernel keeps what arrives meanwhile; its window closes if the wait is long.
    socket.data.heldPaused = true;
    socket.pause();
  },
  write(socket, chunk, onFlushed) {
    const taken = socket.write(chunk);
    if (taken === chunk.length) {
      if (onFlushed !== undefined) queueMicrotask(onFlushed);
      return taken;
    }
    // Closed (-1) or short: the caller keeps the rest and waits for drain (or close).
    return taken > 0 ? taken : 0;
  },
  isFull: () => false,
  listenWritable(socket) {
    socket.data.wantsWritable = true;
  },
  queuedBytes: () => 0,
  bytesRead: (socket) => socket.data.bytesRead,
  pause(socket) {
    if (!socket.data.closed) socket.pause();
  },
  resume(socket) {
    if (!socket.data.closed) socket.resume();
  },
  shutdown(socket) {
    // Nothing is queued inside Bun: FIN goes now, and the socket closes.
    closeByCall(socket, 'end');
  },
  close(socket) {
    closeByCall(socket, 'end');
  },
  reset(socket) {
    closeByCall(socket, 'terminate');
  },
  isClosed: (socket) => socket.data.closed,
  remoteAddress: (socket) => socket.remoteAddress ?? '',
  remotePort: (socket) => socket.remotePort ?? 0,
  descriptor: (socket) => (typeof socket.fd === 'number' ? socket.fd : -1),
};

/**
 * A `Bun.listen` listening socket. Accepted sockets get TCP_NODELAY from Bun already; only a
 * `noDelay: false` or keep-alive costs a system call per connection.
 */
export class BunAcceptor implements TransportListener {
  private listener: BunListener | null = null;
  private readonly handlers: BunSocketHandlers<BunSocketState>;

  constructor(
    private readonly options: ListenerOptions,
    onAccept: (socket: Socket, peer?: AcceptedPeer) => void,
  ) {
    if (bunSockets() === null) throw new UnsupportedError(`the bun transport needs the Bun runtime; this is Node.js ${process.version}`, 'transport');
    if (options.reusePort && !supportsReusePort()) throw new UnsupportedError(`reusePort needs SO_REUSEPORT (${REUSE_PORT_SUPPORT}); this is ${process.platform} ${runtimeDescription()}`, 'reusePort');
    const { noDelay, keepAlive, keepAliveInitialDelay, proxy } = options;
    const accept =
      proxy === undefined
        ? onAccept
        : (socket: Socket): void => {
            const state = socket.data;
            const stage = startProxyStage(proxy, { address: socket.remoteAddress, port: socket.remotePort }, (outcome) => {
              state.proxy = null;
              if (outcome === null) {
                closeByCall(socket, 'terminate');
                return;
              }
              // The bytes after the header are the application's first: they wait for the connection.
              if (outcome.rest.length > 0) (state.pending ??= []).unshift(outcome.rest);
              onAccept(socket, outcome.peer);
            });
            if (stage === null) closeByCall(socket, 'terminate');
            else state.proxy = stage;
          };
    this.handlers = {
      ...connectionHandlers,
      open(socket) {
        socket.data = new BunSocketState();
        if (!noDelay) socket.setNoDelay(false);
        if (keepAlive) socket.setKeepAlive(true, keepAliveInitialDelay * 1000);
        accept(socket);
      },
    };
  }

  listen(): Promise<AddressInfo> {
    const { host, port, backlog, reusePort } = this.options;
    const bun = bunSockets();
    if (bun === null) return Promise.reject(new UnsupportedError('the bun transport needs the Bun runtime'));
    try {
      this.listener = bun.listen<BunSocketState>({
        hostname: host,
        port,
        backlog,
        reusePort,
        // Our side stays writable after the peer's FIN, so replies to its last requests still go out.
        allowHalfOpen: true,
        socket: this.handlers,
      });
    } catch (err) {
      return Promise.reject(namedSocketError(err, 'listen', host, port));
    }
    return Promise.resolve(this.address() as AddressInfo);
  }

  address(): AddressInfo | null {
    const listener = this.listener;
    if (listener === null) return null;
    return { address: listener.hostname, family: listener.hostname.includes(':') ? 'IPv6' : 'IPv4', port: listener.port };
  }

  /** Stops accepting; open connections stay (the server drains them). */
  close(): Promise<void> {
    this.listener?.stop(false);
    this.listener = null;
    return Promise.resolve();
  }
}

/** Plain TCP through `Bun.listen`: the default on Bun. */
export const bunTransport: Transport<Socket> = {
  name: 'bun',
  driver: bunDriver,
  createListener(options, onAccept) {
    return new BunAcceptor(options, onAccept);
  },
};
