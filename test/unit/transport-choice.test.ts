/**
 * Choosing the sockets by name (`transport: auto | node | bun`), and the same behaviour from
 * every transport this runtime has: node:net everywhere, and on Bun also Bun's own sockets,
 * which keep no write buffer (a short write leaves the rest to the connection) and report a
 * close inside the call that caused it. Which transports run depends on the runtime, on
 * purpose: `bun` exists only on Bun.
 */
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { InvalidOptionError, NetServer, ReactorGroup, UnsupportedError } from '../../src/index.js';
import { checkTlsTransport, resolveTransportName } from '../../src/transport/transport-choice.js';
import { runsOnBun, transportsHere } from '../helpers/runtime.js';
import { ECHO_PREFIX, expectedReply, SeedClient } from '../helpers/seed-client.js';
import { deferred } from '../helpers/wait.js';
import { makeCertificates } from '../helpers/certificates.js';

describe('transport choice', () => {
  it('auto is bun on Bun and node elsewhere; node is node everywhere', () => {
    assert.equal(resolveTransportName('auto', 'transport', true), 'bun');
    assert.equal(resolveTransportName('auto', 'transport', false), 'node');
    assert.equal(resolveTransportName('node', 'transport', true), 'node');
    assert.equal(resolveTransportName('bun', 'transport', true), 'bun');
  });

  it('refuses bun off Bun, naming the option, and an unknown name', () => {
    assert.throws(() => resolveTransportName('bun', 'transport', false), (err: unknown) => err instanceof UnsupportedError && err.option === 'transport' && /needs the Bun runtime/.test(err.message));
    assert.throws(() => resolveTransportName('uring', 'transport', true), (err: unknown) => err instanceof InvalidOptionError && /auto, node, bun/.test(err.message));
  });

  it('refuses bun with TLS (served by node:tls), in a server and in a group', () => {
    assert.throws(() => checkTlsTransport('bun'), UnsupportedError);
    checkTlsTransport('auto');
    const files = makeCertificates();
    try {
      const tls = { cert: readFileSync(files.serverCert), key: readFileSync(files.serverKey) };
      assert.throws(() => new NetServer({ port: 0, transport: 'bun', tls }), (err: unknown) => err instanceof UnsupportedError && err.option === 'transport');
      assert.throws(() => new ReactorGroup({ port: 0, workers: 2, transport: 'bun', tls }), (err: unknown) => err instanceof UnsupportedError && err.option === 'transport');
    } finally {
      files.remove();
    }
  });

  it('a server built with no transport uses this runtime’s own sockets', () => {
    const server = new NetServer({ port: 0 });
    assert.equal(server.transport.name, runsOnBun ? 'bun' : 'node:net');
    assert.equal(new NetServer({ port: 0, transport: 'node' }).transport.name, 'node:net');
  });

  it('a processes-mode group serves node:net handles: auto means node there, bun is refused', () => {
    const group = new ReactorGroup({ port: 0, workers: 2, reactorMode: 'processes' });
    assert.equal(group.transport, 'node');
    // Off Bun, bun is refused for the runtime; on Bun, for the mode.
    assert.throws(() => new ReactorGroup({ port: 0, workers: 2, reactorMode: 'processes', transport: 'bun' }), (err: unknown) => err instanceof UnsupportedError && err.option === 'transport');
  });
});

for (const transport of transportsHere) {
  describe(`the ${transport} transport`, () => {
    async function serve(options: ConstructorParameters<typeof NetServer>[0] = {}): Promise<{ server: NetServer; port: number }> {
      const server = new NetServer({ port: 0, transport, ...options });
      const { port } = await server.start();
      return { server, port };
    }

    it('echoes, and answers the last request of a peer that half-closed', async () => {
      const { server, port } = await serve({ callbacks: { onMessage: (conn, message) => conn.send(Buffer.concat([ECHO_PREFIX, message])) } });
      try {
        const socket = net.connect(port, '127.0.0.1');
        await once(socket, 'connect');
        const got: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => got.push(chunk));
        socket.end('last words');
        await once(socket, 'close');
        const reply = Buffer.concat(got);
        assert.equal(reply.readUInt32LE(0), reply.length - 4);
        assert.deepEqual(reply.subarray(4), expectedReply('last words'));
      } finally {
        await server.stop();
      }
    });

    it('delivers 8 MiB to a peer that reads late, every byte once and in order, pausing its reads meanwhile', async () => {
      const size = 8 * 1024 * 1024;
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4) payload.writeUInt32LE(i, i);
      const highWater = deferred();
      const { server, port } = await serve({
        highWaterMark: 256 * 1024,
        lowWaterMark: 64 * 1024,
        maxPendingOutput: 32 * 1024 * 1024,
        callbacks: { onMessage: (conn) => conn.send(payload), onHighWater: () => highWater.resolve() },
      });
      try {
        const socket = net.connect(port, '127.0.0.1');
        await once(socket, 'connect');
        socket.pause();
        socket.write('go');
        // The kernel's buffers fill, the server holds the rest and stops reading: only then read.
        await highWater.promise;
        assert.equal(server.stats.backpressurePauses, 1);
        const chunks: Buffer[] = [];
        let received = 0;
        const done = deferred();
        socket.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          received += chunk.length;
          if (received >= size + 4) done.resolve();
        });
        socket.resume();
        await done.promise;
        const all = Buffer.concat(chunks);
        assert.equal(all.readUInt32LE(0), size);
        assert.ok(all.subarray(4).equals(payload), 'the payload arrived changed, reordered or duplicated');
        socket.destroy();
      } finally {
        await server.stop();
      }
    });

    it('reports a peer reset as a close, and resets a connection it refuses', async () => {
      const closed = deferred<string>();
      const { server, port } = await serve({ maxConnections: 1, callbacks: { onMessage: (conn, message) => conn.send(Buffer.concat([ECHO_PREFIX, message])), onClose: (_conn, reason) => closed.resolve(String(reason)) } });
      try {
        const first = await SeedClient.connect(port);
        await first.request('hello');
        const refused = net.connect(port, '127.0.0.1');
        refused.on('data', () => assert.fail('a refused connection was served'));
        const [error] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
        assert.equal(error.code, 'ECONNRESET');
        assert.equal(server.stats.rejectedByReason['max-connections'], 1);
        first.socket.resetAndDestroy();
        assert.equal(await closed.promise, 'error');
      } finally {
        await server.stop();
      }
    });
  });
}
