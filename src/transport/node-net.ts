/**
 * The node:net transport: accepted `net.Socket`s (a `tls.TLSSocket` is one too) behind the
 * TransportDriver seam. Listeners are shared functions that find the sink through a tag on
 * the socket (as ws does), so a connection costs no closures.
 */
import type { Socket } from 'node:net';
import { Acceptor } from './node-listener.js';
import { createProxyGate } from './proxy-gate.js';
import type { Transport, TransportDriver, TransportSink } from './transport.js';

const SINK = Symbol('reactor-server.sink');
type TaggedSocket = Socket & { [SINK]: TransportSink };

function sinkOf(socket: Socket): TransportSink {
  return (socket as TaggedSocket)[SINK];
}

function onData(this: Socket, chunk: Buffer): void {
  sinkOf(this).handleData(chunk);
}

function onEnd(this: Socket): void {
  sinkOf(this).handlePeerEnd();
}

function onDrain(this: Socket): void {
  sinkOf(this).handleWritable();
}

function onError(this: Socket, error: Error): void {
  sinkOf(this).handleError(error);
}

function onClose(this: Socket, hadError: boolean): void {
  sinkOf(this).handleClosed(hadError);
}

/** A held socket's error: the socket closes by itself, and whoever decides on it sees that. */
function ignoreError(): void {}

function onFinish(this: Socket): void {
  // Everything we wrote has reached the kernel and our FIN is queued: release the socket.
  this.destroy();
}

export const nodeNetDriver: TransportDriver<Socket> = {
  attach(socket, sink) {
    (socket as TaggedSocket)[SINK] = sink;
    // 'drain' is listened for once a write first backs up: most connections never need it.
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    // A socket handed over paused (its PROXY header read, the bytes after it put back) flows
    // now; a fresh one already does, from the 'data' listener.
    if (socket.readableFlowing === false) socket.resume();
    // The peer's FIN came while the socket waited unread (for admission control's answer) and
    // was reported before anyone listened (Bun reports a peer's reset that way too): pass it
    // on, once the connection is open.
    if (socket.readableEnded && !socket.destroyed) process.nextTick(() => sinkOf(socket).handlePeerEnd());
  },
  hold(socket) {
    // Unread bytes wait in the socket's readable buffer (no 'data' listener yet): none is lost.
    socket.on('error', ignoreError);
  },
  write(socket, chunk, onFlushed) {
    // node:net buffers what the kernel does not take at once: it always takes everything.
    socket.write(chunk, onFlushed);
    return chunk.length;
  },
  isFull: (socket) => socket.writableNeedDrain,
  listenWritable(socket) {
    socket.on('drain', onDrain);
  },
  queuedBytes: (socket) => socket.writableLength,
  bytesRead: (socket) => socket.bytesRead,
  pause(socket) {
    socket.pause();
  },
  resume(socket) {
    socket.resume();
  },
  shutdown(socket) {
    socket.once('finish', onFinish);
    socket.end();
  },
  close(socket) {
    socket.destroy();
  },
  reset(socket) {
    socket.resetAndDestroy();
  },
  isClosed: (socket) => socket.destroyed,
  remoteAddress: (socket) => socket.remoteAddress ?? '',
  remotePort: (socket) => socket.remotePort ?? 0,
  descriptor(socket) {
    // Not public API, but stable for years on every Unix build; -1 elsewhere.
    const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  },
};

/** Plain TCP through node:net: the default transport. */
export const nodeNetTransport: Transport<Socket> = {
  name: 'node:net',
  driver: nodeNetDriver,
  createListener(options, onAccept, onListenerError) {
    if (options.proxy === undefined) return new Acceptor(options, onAccept, onListenerError);
    const gate = createProxyGate(options.proxy);
    return new Acceptor(
      options,
      (raw) =>
        gate(raw, (socket, peer, rest) => {
          // Paused, with the bytes after the header back in front: they wait for the connection
          // (which may be made later, once admission control has answered), and come first.
          socket.pause();
          if (rest.length > 0) socket.unshift(rest);
          onAccept(socket, peer);
        }),
      onListenerError,
    );
  },
};
