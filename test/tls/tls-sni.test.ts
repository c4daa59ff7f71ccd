/**
 * SNI on a NetServer: the certificate follows the server name the client asks for (exact, then
 * a one-label wildcard, case-insensitive), other names and clients that send none get the
 * default; client certificates are verified under every name; a reload replaces the map; bad
 * entries are refused naming the entry. Also the handshake counters behind the metrics.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { HANDSHAKE_SECONDS_BUCKETS, InvalidOptionError, NetServer, type Connection, type TlsOptions } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { EventLog, waitUntil } from '../helpers/wait.js';

const certs = suiteCertificates();
const echo = (conn: Connection<unknown>, message: Buffer): void => void conn.send(message);

const sni = (): NonNullable<TlsOptions['sni']> => ({
  'api.test': { cert: certs.read(certs.apiCert), key: certs.read(certs.apiKey) },
  '*.shop.test': { cert: certs.read(certs.shopCert), key: certs.read(certs.shopKey) },
});

/**
 * Connects asking for `servername` (none when undefined) and has one message echoed, so the
 * server has taken the connection too (a client's handshake can end before the server's);
 * resolves with the CN of the certificate the server chose.
 */
async function handshake(port: number, servername: string | undefined, extra: tls.ConnectionOptions = {}): Promise<{ cn: string | undefined; socket: tls.TLSSocket }> {
  const socket = tls.connect({ port, host: '127.0.0.1', ca: certs.read(certs.caCert), ...(servername === undefined ? {} : { servername }), ...extra });
  await once(socket, 'secureConnect');
  socket.write('ping');
  await once(socket, 'data');
  return { cn: (socket.getPeerCertificate().subject as { CN?: string }).CN, socket };
}

describe('tls: SNI', { timeout: 60_000 }, () => {
  it('picks the certificate by server name: exact, one-label wildcard, any case; the default for other names and for none', async () => {
    const seen = new EventLog<string | null>();
    const server = new NetServer({ port: 0, tls: certs.serverTls({ sni: sni() }), callbacks: { onConnection: (conn: Connection<unknown>) => seen.push(conn.tls?.servername ?? null), onMessage: echo } });
    const { port } = await server.start();
    try {
      const cases: [string | undefined, string][] = [
        ['api.test', 'api.test'],
        ['API.Test', 'api.test'],
        ['cart.shop.test', 'shop.test'],
        ['localhost', 'localhost'],
        ['other.test', 'localhost'],
        [undefined, 'localhost'],
      ];
      for (const [servername, cn] of cases) {
        // The default certificate covers localhost and 127.0.0.1 only: verify the others by the CA, not the name.
        const verifyName = cn === 'localhost' && servername !== undefined && servername !== 'localhost' ? { checkServerIdentity: () => undefined } : {};
        const { cn: got, socket } = await handshake(port, servername, verifyName);
        assert.equal(got, cn, `servername ${String(servername)}`);
        socket.destroy();
      }
      // A wildcard covers one label only, as a certificate's does.
      const deep = await handshake(port, 'a.b.shop.test', { rejectUnauthorized: false });
      assert.equal(deep.cn, 'localhost');
      deep.socket.destroy();
      await waitUntil(() => seen.events.length === cases.length + 1, () => JSON.stringify(seen.events));
      assert.deepEqual(seen.events, ['api.test', 'API.Test', 'cart.shop.test', 'localhost', 'other.test', null, 'a.b.shop.test']);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('client certificates are verified whichever certificate the name selects', async () => {
    const server = new NetServer({ port: 0, tls: certs.serverTls({ sni: sni(), ca: certs.read(certs.caCert), clientAuth: 'require' }), callbacks: { onMessage: echo } });
    const { port } = await server.start();
    try {
      const trusted = await handshake(port, 'api.test', { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) });
      assert.equal(trusted.cn, 'api.test');
      trusted.socket.destroy();
      const stranger = tls.connect({ port, host: '127.0.0.1', servername: 'api.test', ca: certs.read(certs.caCert), cert: certs.read(certs.strangerCert), key: certs.read(certs.strangerKey) });
      stranger.on('error', () => {});
      await once(stranger, 'close');
      await waitUntil(() => (server.stats.tls?.handshakeFailures['bad-certificate'] ?? 0) === 1, () => JSON.stringify(server.stats.tls));
      assert.equal(server.stats.accepted, 1);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('reloadTls replaces the SNI map for new handshakes; a bad entry is refused and the old map kept', async () => {
    const server = new NetServer({ port: 0, tls: certs.serverTls({ sni: sni() }), callbacks: { onMessage: echo } });
    const { port } = await server.start();
    try {
      const swapped = { 'api.test': { cert: certs.read(certs.shopCert), key: certs.read(certs.shopKey) } };
      assert.throws(
        () => server.reloadTls({ cert: certs.read(certs.serverCert), key: certs.read(certs.serverKey), sni: { 'api.test': { cert: certs.read(certs.shopCert), key: certs.read(certs.apiKey) } } }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.sni.api.test.key',
      );
      const before = await handshake(port, 'api.test');
      assert.equal(before.cn, 'api.test', 'a refused reload changes nothing');
      before.socket.destroy();
      server.reloadTls({ cert: certs.read(certs.serverCert), key: certs.read(certs.serverKey), sni: swapped });
      const after = await handshake(port, 'api.test', { rejectUnauthorized: false });
      assert.equal(after.cn, 'shop.test');
      after.socket.destroy();
      const goneWildcard = await handshake(port, 'cart.shop.test', { rejectUnauthorized: false });
      assert.equal(goneWildcard.cn, 'localhost', 'the new map replaces the old one whole');
      goneWildcard.socket.destroy();
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('bad SNI entries are refused when the server is made, naming the entry', () => {
    const refused = (map: unknown, option: string): void => {
      assert.throws(() => new NetServer({ port: 0, tls: certs.serverTls({ sni: map as TlsOptions['sni'] }) }), (err: unknown) => err instanceof InvalidOptionError && err.option === option, option);
    };
    refused({ 'bad name!': { cert: certs.read(certs.apiCert), key: certs.read(certs.apiKey) } }, 'tls.sni');
    refused({ 'api.test': { cert: 'not a certificate', key: certs.read(certs.apiKey) } }, 'tls.sni.api.test.cert');
    refused({ 'api.test': { cert: certs.read(certs.apiCert), key: certs.read(certs.shopKey) } }, 'tls.sni.api.test.key');
    refused({ 'api.test': { cert: certs.read(certs.apiCert) } }, 'tls.sni.api.test.key');
    refused({ 'api.test': { cert: certs.read(certs.apiCert), key: certs.read(certs.apiKey), ca: 'x' } }, 'tls.sni.api.test.ca');
    refused([], 'tls.sni');
  });

  it('counts completed handshakes with their durations; failures by reason (a peer gone mid-handshake: closed); plaintext servers keep no TLS counters', async () => {
    const plain = new NetServer({ port: 0 });
    assert.equal(plain.stats.tls, null);
    const server = new NetServer({ port: 0, tls: certs.serverTls(), callbacks: { onMessage: echo } });
    const { port } = await server.start();
    try {
      const clients = await Promise.all([1, 2, 3].map(() => handshake(port, 'localhost')));
      const raw = net.connect(port, '127.0.0.1');
      raw.write('plaintext\n');
      // Read (and drop) what comes: Bun's client socket notices the server's close only while
      // it reads; Node.js's notices it either way.
      raw.resume();
      await once(raw, 'close');
      // Half a ClientHello record, then FIN: the peer gave up mid-handshake.
      const quitter = net.connect(port, '127.0.0.1');
      quitter.end(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
      await once(quitter, 'close');
      await waitUntil(() => server.stats.tls?.handshakeFailures.plaintext === 1 && server.stats.tls.handshakeFailures.closed === 1, () => JSON.stringify(server.stats.tls));
      const stats = server.stats.tls!;
      assert.equal(stats.handshakes, 3);
      assert.equal(stats.handshakeBuckets.length, HANDSHAKE_SECONDS_BUCKETS.length + 1);
      assert.equal(stats.handshakeBuckets.reduce((a, b) => a + b, 0), 3, JSON.stringify(stats.handshakeBuckets));
      assert.ok(stats.handshakeSeconds > 0 && stats.handshakeSeconds < 30, String(stats.handshakeSeconds));
      for (const { socket } of clients) socket.destroy();
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });
});
