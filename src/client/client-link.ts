/**
 * A client's connection, whatever the sockets: node:net (or node:tls) everywhere, and on Bun,
 * for plaintext, Bun's own (`Bun.connect`). The Client writes bytes, half-closes, destroys,
 * and hears data, an error and the close through a `ClientLinkSink`.
 */
import type net from 'node:net';
import { bunSockets, type BunSocket } from '../transport/bun-api.js';

/** What a client hears from its connection. */
export interface ClientLinkSink {
  data(chunk: Buffer): void;
  /** The connection failed; `close` follows. */
  error(error: Error): void;
  /** Closed, once, whatever closed it. */
  close(): void;
}

export interface ClientLink {
  /** The runtime's own socket (a `net.Socket`, a TLS socket, or a Bun socket). */
  readonly socket: unknown;
  /** True once closed (or closing by `destroy`). */
  readonly closed: boolean;
  /** This end's port (0 once closed, where the runtime no longer says). */
  readonly localPort: number;
  /** Queues bytes; they go out in order, however much the kernel takes at a time. */
  write(bytes: Uint8Array | string): void;
  /** Half-closes once everything queued is written: the server's replies still come. */
  end(): void;
  /** Closes now; `error` is reported first when given. */
  destroy(error?: Error): void;
  /** Closes now with RST. */
  reset(): void;
  /** Starts delivering to `sink` (bytes that came before wait for it). */
  attach(sink: ClientLinkSink): void;
}

/** A connected node:net or node:tls socket as a link. */
export function nodeClientLink(socket: net.Socket): ClientLink {
  return {
    socket,
    get closed() {
      return socket.destroyed;
    },
    get localPort() {
      return socket.localPort ?? 0;
    },
    write: (bytes) => void socket.write(bytes),
    end: () => void socket.end(),
    destroy: (error) => void socket.destroy(error),
    reset: () => void socket.resetAndDestroy(),
    attach(sink) {
      socket.on('data', (chunk: Buffer) => sink.data(chunk));
      socket.on('error', (error) => sink.error(error));
      socket.on('close', () => sink.close());
    },
  };
}

/** What a client's Bun socket carries. */
class BunClientState {
  sink: ClientLinkSink | null = null;
  /** Bytes read before the client attached. */
  early: Buffer[] = [];
  /** Bytes the kernel has not taken yet, in order. */
  queued: Buffer[] = [];
  /** `end()` asked for: half-close once `queued` is empty. */
  ending = false;
  closed = false;
  /** Closing by our own `destroy` (Bun runs the close handler inside `end()`). */
  destroying = false;
  error: Error | null = null;
}

type BunClientSocket = BunSocket<BunClientState>;

/** Writes what is queued until the kernel takes no more; half-closes when asked and done. */
function flushQueued(socket: BunClientSocket): void {
  const state = socket.data;
  while (state.queued.length > 0) {
    const head = state.queued[0] as Buffer;
    const taken = socket.write(head);
    if (taken < 0) return;
    if (taken < head.length) {
      state.queued[0] = head.subarray(taken);
      return;
    }
    state.queued.shift();
  }
  if (state.ending) {
    state.ending = false;
    socket.shutdown(true);
  }
}

const bunClientHandlers = {
  open(socket: BunClientSocket): void {
    socket.data = new BunClientState();
  },
  data(socket: BunClientSocket, chunk: Buffer): void {
    const state = socket.data;
    if (state.sink === null) state.early.push(chunk);
    else state.sink.data(chunk);
  },
  drain(socket: BunClientSocket): void {
    flushQueued(socket);
  },
  error(socket: BunClientSocket, error: Error): void {
    socket.data.error ??= error;
  },
  close(socket: BunClientSocket, error?: Error): void {
    const state = socket.data;
    state.closed = true;
    const cause = error ?? state.error;
    const sink = state.sink;
    if (sink === null) {
      state.error = cause ?? null;
      return;
    }
    const notify = (): void => {
      if (cause !== null && cause !== undefined) sink.error(cause);
      sink.close();
    };
    // As node:net reports a destroy: after the call that asked for it, not inside it.
    if (state.destroying) queueMicrotask(notify);
    else notify();
  },
};

/**
 * Connects with `Bun.connect` (plaintext, Bun only).
 * @rejects the connect error (ECONNREFUSED, ...) as Bun reports it
 */
export async function bunClientLink(host: string, port: number): Promise<ClientLink> {
  const bun = bunSockets();
  if (bun === null) throw new Error('Bun.connect needs the Bun runtime');
  const socket = await bun.connect<BunClientState>({
    hostname: host,
    port,
    // Our half-close (end) leaves the server's replies coming.
    allowHalfOpen: true,
    socket: bunClientHandlers,
  });
  const state = socket.data;
  return {
    socket,
    get closed() {
      return state.closed;
    },
    get localPort() {
      return socket.localPort ?? 0;
    },
    write(bytes) {
      if (state.closed) return;
      state.queued.push(typeof bytes === 'string' ? Buffer.from(bytes) : Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      if (state.queued.length === 1) flushQueued(socket);
    },
    end() {
      if (state.closed) return;
      state.ending = true;
      if (state.queued.length === 0) flushQueued(socket);
    },
    destroy(error) {
      if (state.closed) return;
      if (error !== undefined) state.error ??= error;
      state.destroying = true;
      socket.end();
    },
    reset() {
      if (state.closed) return;
      state.destroying = true;
      socket.terminate();
    },
    attach(sink) {
      state.sink = sink;
      const early = state.early;
      state.early = [];
      for (const chunk of early) sink.data(chunk);
      if (state.closed) {
        if (state.error !== null) sink.error(state.error);
        sink.close();
      }
    },
  };
}
