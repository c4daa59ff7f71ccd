/**
 * The PROXY protocol on a NetServer, from real sockets: a trusted proxy's header (v1 or v2, in
 * one write with the first message or byte by byte) names the client the application sees,
 * and the bytes after it reach the application; a header from anyone else is refused unread;
 * `optional` serves connections without one; a malformed or late header, and a LOCAL health
 * check, each do what the specification says; TLS starts after the header; every refusal is
 * counted by reason and closes only its own connection.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { InvalidOptionError, NetServer, ProxyProtocolError, ReactorGroup, REPLY_PREFIX, encodeProxyHeader, supportsReusePort, type Connection, type NetServerOptions, type RejectReason } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { EventLog, waitUntil } from '../helpers/wait.js';

const certs = suiteCertificates();
const CLIENT = { address: '203.0.113.7', port: 41234 };
const SERVER_SIDE = { address: '198.51.100.1', port: 443 };

interface Seen {
  address: string;
  port: number;
  proxy: string | null;
}

/** A server that echoes (the message itself: a bare NetServer) and records who each connection is from, and every refusal. */
async function proxyServer(options: Partial<NetServerOptions<unknown>> & { proxyProtocol: 'required' | 'optional' }) {
  const seen = new EventLog<Seen>();
  const refused = new EventLog<{ reason: RejectReason; error: Error | undefined; address: string }>();
  const server = new NetServer({
    port: 0,
    trustedProxies: ['127.0.0.1/32', '::1'],
    proxyHeaderTimeout: 0.3,
    ...options,
    callbacks: {
      onConnection: (conn: Connection<unknown>) => seen.push({ address: conn.remoteAddress, port: conn.remotePort, proxy: conn.proxy === null ? null : `${conn.proxy.address} v${conn.proxy.header.version}` }),
      onMessage: (conn: Connection<unknown>, message: Buffer) => void conn.send(message),
      onConnectionRejected: (peer, reason, error) => refused.push({ reason, error, address: peer.address }),
    },
  });
  const { port } = await server.start();
  return { server, port, seen, refused };
}

/** Writes `chunks` one by one (each its own write), then reads one seed reply. */
async function exchange(port: number, chunks: Buffer[], localAddress = '127.0.0.1'): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress, noDelay: true });
  await once(socket, 'connect');
  for (const chunk of chunks) {
    // Each write handed to the kernel before the next: mostly separate reads on the server
    // (any split must give the same result).
    await new Promise<void>((resolve) => socket.write(chunk, () => resolve()));
  }
  let got = Buffer.alloc(0);
  while (got.length < 4 || got.length < 4 + got.readUInt32LE(0)) got = Buffer.concat([got, (await once(socket, 'data'))[0] as Buffer]);
  socket.destroy();
  return got.subarray(4).toString();
}

/** Connects, writes `bytes`, and resolves once the server has closed the connection. */
async function refusedConnection(port: number, bytes: Buffer | null, localAddress = '127.0.0.1'): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  // A refusal unread can reset the connection before the client has even seen it connect.
  socket.on('error', () => undefined);
  socket.on('connect', () => void (bytes !== null && socket.write(bytes)));
  socket.resume();
  // Not events.once: it would reject on the reset's 'error', which is the expected outcome here.
  await new Promise((resolve) => socket.once('close', resolve));
}

const v1 = (): Buffer => encodeProxyHeader({ version: 1, source: CLIENT, destination: SERVER_SIDE });
const v2 = (): Buffer => encodeProxyHeader({ version: 2, source: CLIENT, destination: SERVER_SIDE, tlvs: [{ type: 0x02, value: 'example.com' }] });

describe('proxy protocol: a NetServer behind a proxy', { timeout: 60_000 }, () => {
  it('a trusted proxy\'s v1 or v2 header names the client; bytes after it, in the same write or not, reach the application', async () => {
    const { server, port, seen } = await proxyServer({ proxyProtocol: 'required' });
    try {
      assert.equal(await exchange(port, [Buffer.concat([v1(), Buffer.from('same write')])]), `same write`);
      assert.equal(await exchange(port, [v2(), Buffer.from('next write')]), `next write`);
      // Byte by byte: every split of the header, then the message.
      const header = v2();
      assert.equal(await exchange(port, [...Array.from(header, (byte) => Buffer.of(byte)), Buffer.from('split')]), `split`);
      assert.deepEqual(seen.events, [
        { ...CLIENT, proxy: '127.0.0.1 v1' },
        { ...CLIENT, proxy: '127.0.0.1 v2' },
        { ...CLIENT, proxy: '127.0.0.1 v2' },
      ]);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('the v2 TLVs reach the application with the header', async () => {
    let authority: string | undefined;
    const { server, port } = await proxyServer({ proxyProtocol: 'required' });
    server.setCallbacks({ onConnection: (conn) => void (authority = conn.proxy?.header.tlvs.authority) });
    try {
      await exchange(port, [v2(), Buffer.from('x')]);
      assert.equal(authority, 'example.com');
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('required: a peer that is not a trusted proxy is refused unread, forged header or not; others are unaffected', async () => {
    const { server, port, seen, refused } = await proxyServer({ proxyProtocol: 'required', trustedProxies: ['127.0.0.2'] });
    try {
      await refusedConnection(port, v1(), '127.0.0.1');
      await refusedConnection(port, Buffer.from('plain'), '127.0.0.3');
      assert.equal(await exchange(port, [v1(), Buffer.from('from the proxy')], '127.0.0.2'), `from the proxy`);
      await waitUntil(() => refused.events.length === 2, () => JSON.stringify(refused.events));
      assert.deepEqual(refused.events.map((r) => [r.reason, r.address, (r.error as ProxyProtocolError).reason]), [
        ['proxy-untrusted', '127.0.0.1', 'untrusted'],
        ['proxy-untrusted', '127.0.0.3', 'untrusted'],
      ]);
      assert.deepEqual(seen.events.map((s) => s.address), [CLIENT.address], 'no forged address ever reached the application');
      assert.equal(server.stats.rejectedByReason['proxy-untrusted'], 2);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('optional: no header is served as the socket; a header from a stranger is refused; a trusted header is believed', async () => {
    const { server, port, seen, refused } = await proxyServer({ proxyProtocol: 'optional', trustedProxies: ['127.0.0.2'] });
    try {
      assert.equal(await exchange(port, [Buffer.from('direct')], '127.0.0.1'), `direct`);
      assert.equal(await exchange(port, [Buffer.from('PING')], '127.0.0.2'), `PING`, 'a trusted peer without a header');
      await refusedConnection(port, Buffer.concat([v2(), Buffer.from('forged')]), '127.0.0.1');
      assert.equal(await exchange(port, [v1(), Buffer.from('proxied')], '127.0.0.2'), `proxied`);
      assert.deepEqual(seen.events.map((s) => [s.address, s.proxy]), [
        ['127.0.0.1', null],
        ['127.0.0.2', null],
        [CLIENT.address, '127.0.0.2 v1'],
      ]);
      await waitUntil(() => refused.events.length === 1, 'the forged header counted');
      assert.equal(refused.events[0]?.reason, 'proxy-untrusted');
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('a malformed header and one that never finishes are refused as proxy-invalid, each named; LOCAL is served as the proxy itself', async () => {
    const { server, port, seen, refused } = await proxyServer({ proxyProtocol: 'required' });
    try {
      await refusedConnection(port, Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n'));
      await refusedConnection(port, Buffer.from('PROXY TCP4 203.0.113.7'));
      assert.equal(await exchange(port, [encodeProxyHeader({ version: 2, command: 'local' }), Buffer.from('health')]), `health`);
      await waitUntil(() => refused.events.length === 2, () => JSON.stringify(refused.events));
      assert.deepEqual(refused.events.map((r) => [r.reason, (r.error as ProxyProtocolError).reason]), [
        ['proxy-invalid', 'malformed'],
        ['proxy-invalid', 'timeout'],
      ]);
      assert.ok(refused.events.every((r) => r.error instanceof ProxyProtocolError));
      assert.deepEqual(seen.events.map((s) => [s.address, s.proxy]), [['127.0.0.1', null]]);
      assert.equal(server.stats.rejectedByReason['proxy-invalid'], 2);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('TLS starts after the header: the handshake, then the client\'s address from the header', async () => {
    const { server, port, seen } = await proxyServer({ proxyProtocol: 'required', tls: certs.serverTls() });
    try {
      const raw = net.connect({ port, host: '127.0.0.1' });
      await once(raw, 'connect');
      raw.write(v2());
      const secure = tls.connect({ socket: raw, servername: 'localhost', ca: certs.read(certs.caCert) });
      await once(secure, 'secureConnect');
      secure.write('over tls');
      let got = Buffer.alloc(0);
      while (got.length < 4 || got.length < 4 + got.readUInt32LE(0)) got = Buffer.concat([got, (await once(secure, 'data'))[0] as Buffer]);
      assert.equal(got.subarray(4).toString(), `over tls`);
      secure.destroy();
      assert.deepEqual(seen.events, [{ ...CLIENT, proxy: '127.0.0.1 v2' }]);
      assert.equal(server.stats.tls?.handshakes, 1);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  for (const reactorMode of ['processes', 'threads'] as const) {
    it(`a ReactorGroup in ${reactorMode} mode reads headers on every reactor; the first message, in the header's write, waits for admission`, { skip: reactorMode === 'threads' && !supportsReusePort() ? 'threads mode needs SO_REUSEPORT' : false }, async () => {
      // With a per-address limit, a processes group's reactors ask the supervisor before serving:
      // the bytes after the header must wait for the answer, not be lost.
      const group = new ReactorGroup({ workers: 2, reactorMode, port: 0, proxyProtocol: 'required', trustedProxies: ['127.0.0.0/8'], maxConnectionsPerIp: 100 });
      try {
        const { port } = await group.start();
        const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => exchange(port, [Buffer.concat([v1(), Buffer.from(`client ${i}`)])])));
        assert.deepEqual(replies, replies.map((_, i) => `${REPLY_PREFIX}client ${i}`));
        const { reactors } = await group.stats();
        assert.equal(reactors.filter((r) => r.stats.accepted > 0).length, 2, 'both reactors served');
        await refusedConnection(port, Buffer.from('no header here\r\n'));
        await waitUntil(async () => (await group.stats()).total.rejectedByReason['proxy-invalid'] === 1, 'the bad header counted in the group');
      } finally {
        await group.stop({ drainTimeout: 0 });
      }
    });
  }

  it('options: PROXY needs trusted proxies; bad ranges and values are refused naming the option', () => {
    const refused = (options: Partial<NetServerOptions<unknown>>, option: string): void => {
      assert.throws(() => new NetServer({ port: 0, ...options }), (err: unknown) => err instanceof InvalidOptionError && err.option === option, option);
    };
    refused({ proxyProtocol: 'required' }, 'trustedProxies');
    refused({ proxyProtocol: 'optional', trustedProxies: [] }, 'trustedProxies');
    refused({ proxyProtocol: 'on' as 'required', trustedProxies: ['127.0.0.1'] }, 'proxyProtocol');
    refused({ proxyProtocol: 'required', trustedProxies: ['10.0.0.300/8'] }, 'trustedProxies');
    refused({ proxyProtocol: 'required', trustedProxies: ['127.0.0.1'], proxyHeaderTimeout: 0 }, 'proxyHeaderTimeout');
    refused({ proxyProtocol: 'required', trustedProxies: ['127.0.0.1'], maxProxyHeaderBytes: 10 }, 'maxProxyHeaderBytes');
  });
});
