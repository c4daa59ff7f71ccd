/**
 * The transport seam. A Connection drives its socket only through a TransportDriver, so a
 * transport without a write buffer of its own (Bun's sockets take what fits and say how much)
 * works as well as node:net: the connection keeps the rest, waits for 'writable', and every
 * byte arrives once, in order, with backpressure and send-complete intact. The node:net socket
 * stays reachable through the documented escape hatch, `conn.rawSocket`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import {
  InvalidOptionError,
  NetServer,
  bunTransport,
  nodeNetTransport,
  type Connection,
  type NetServerOptions,
  type Transport,
  type TransportDriver,
  type TransportSink,
} from '../../src/index.js';
import { EventLog } from '../helpers/wait.js';
import { transportsHere } from '../helpers/runtime.js';

/**
 * node:net, but taking at most `limit` bytes per write, as a socket without a user-side write
 * buffer does when the kernel's buffer is nearly full; 'writable' follows on the next turn.
 */
function trickleTransport(limit: number): Transport<Socket> & { shortWrites: number } {
  const base = nodeNetTransport.driver;
  const sinks = new WeakMap<Socket, TransportSink>();
  const full = new WeakSet<Socket>();
  const transport = {
    name: 'trickle',
    shortWrites: 0,
    createListener: nodeNetTransport.createListener,
    driver: {
      ...base,
      attach(socket, sink) {
        sinks.set(socket, sink);
        base.attach(socket, sink);
      },
      write(socket, chunk, onFlushed) {
        const taken = Math.min(limit, chunk.length);
        if (taken < chunk.length) {
          transport.shortWrites++;
          full.add(socket);
          setImmediate(() => {
            full.delete(socket);
            if (!socket.destroyed) sinks.get(socket)?.handleWritable();
          });
        }
        return base.write(socket, chunk.subarray(0, taken), taken === chunk.length ? onFlushed : undefined);
      },
      isFull: (socket) => full.has(socket) || base.isFull(socket),
      // 'writable' comes from the timer above (and node:net's own 'drain' when it is full too).
      listenWritable: (socket) => base.listenWritable(socket),
    } satisfies TransportDriver<Socket>,
  };
  return transport;
}

/** A length-prefixed echo on `transport`; resolves with the server, its port and what it saw. */
async function echoServer(options: NetServerOptions) {
  const sendCompletes = new EventLog<{ id: number; pending: number }>();
  const server = new NetServer({
    port: 0,
    codec: 'length',
    ...options,
    callbacks: {
      onMessage: (conn, message) => void conn.send(message),
      onSendComplete: (conn) => sendCompletes.push({ id: conn.id, pending: conn.pendingOutputBytes }),
    },
  });
  const { port } = await server.start();
  return { server, port, sendCompletes };
}

function frame(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return Buffer.concat([header, body]);
}

describe('transport seam', { timeout: 20_000 }, () => {
  it('a transport that takes only part of each write: every byte arrives once, in order; send-complete fires only when all is out', async () => {
    const transport = trickleTransport(7 * 1024);
    const { server, port, sendCompletes } = await echoServer({ transport: transport as Transport });
    const client = net.connect({ port, host: '127.0.0.1' });
    try {
      await once(client, 'connect');
      const bodies = Array.from({ length: 20 }, (_, i) => Buffer.alloc(100 * 1024 + i, i + 1));
      const expected = Buffer.concat(bodies.map(frame));
      const received: Buffer[] = [];
      let length = 0;
      const all = new Promise<void>((resolve) => {
        client.on('data', (chunk: Buffer) => {
          received.push(chunk);
          length += chunk.length;
          if (length >= expected.length) resolve();
        });
      });
      client.write(expected);
      await all;
      assert.ok(Buffer.concat(received).equals(expected), 'the echo is byte-exact and in order');
      assert.ok(transport.shortWrites > 50, `the transport cut ${transport.shortWrites} writes short`);
      assert.equal(server.stats.bytesOut, expected.length, 'bytesOut counts what the transport took, once');
      const completes = await sendCompletes.waitFor(() => true);
      assert.equal(completes.pending, 0, 'send-complete fires only with nothing pending');
      assert.ok(sendCompletes.events.every((e) => e.pending === 0));
    } finally {
      client.destroy();
      await server.stop({ drainTimeout: 0 });
    }
  });

  // The default is the runtime's own sockets: node:net on Node.js, Bun's on Bun.
  for (const transport of transportsHere) {
    it(`conn.rawSocket is the ${transport} transport's socket; conn.socket is the same object`, async () => {
      const opened = new EventLog<Connection>();
      const server = new NetServer({ port: 0, transport, callbacks: { onConnection: (conn) => opened.push(conn) } });
      const { port } = await server.start();
      const client = net.connect({ port, host: '127.0.0.1' });
      try {
        // Bun sets a client's localPort only once its connect is reported.
        await once(client, 'connect');
        const conn = await opened.waitFor(() => true);
        assert.equal(server.transport, transport === 'node' ? nodeNetTransport : bunTransport);
        if (transport === 'node') assert.ok(conn.rawSocket instanceof net.Socket);
        else assert.ok(!(conn.rawSocket instanceof net.Socket) && typeof (conn.rawSocket as { terminate?: unknown }).terminate === 'function', 'not a Bun socket');
        assert.equal(conn.socket, conn.rawSocket);
        assert.equal((conn.rawSocket as Socket).remotePort, client.localPort);
      } finally {
        client.destroy();
        await server.stop({ drainTimeout: 0 });
      }
    });
  }

  it('a transport option that is not a Transport is refused, naming the option', () => {
    assert.throws(
      () => new NetServer({ transport: { name: 'x' } as unknown as Transport }),
      (err: unknown) => err instanceof InvalidOptionError && err.option === 'transport',
    );
  });
});
