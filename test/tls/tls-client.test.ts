/**
 * The client library over TLS, against a TLS server from the library in this process, with
 * certificates made by `openssl` at test time: byte-exact replies with every codec; a server
 * whose CA the client does not trust, or whose certificate does not cover the name, is refused
 * at once with TlsHandshakeError; `rejectUnauthorized: false` talks to it anyway; a client
 * certificate is presented and the server sees whose it is; bad tls options are refused
 * naming the key.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionClosedError, InvalidOptionError, REPLY_PREFIX, ReactorServer, TlsHandshakeError, UnknownOptionError, connect, type CodecName, type Connection, type TlsInfo, type TlsOptions } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { EventLog, within } from '../helpers/wait.js';

const certs = suiteCertificates();
const serverTls = (extra: Partial<TlsOptions> = {}): TlsOptions => certs.serverTls(extra);

/** Runs `body` with a started TLS echo server, always stopped after. */
async function withTlsServer<T>(options: { codec?: CodecName; tls?: TlsOptions }, body: (port: number, server: ReactorServer) => Promise<T>): Promise<T> {
  const server = new ReactorServer({ port: 0, codec: options.codec ?? 'seed', tls: options.tls ?? serverTls() });
  const { port } = await server.start();
  try {
    return await body(port, server);
  } finally {
    await server.stop();
  }
}

describe('tls: the client library', { timeout: 60_000 }, () => {
  for (const codec of ['seed', 'length', 'line'] as const) {
    it(`codec ${codec}: byte-exact replies over TLS from a server verified against its CA`, async () => {
      await withTlsServer({ codec }, async (port) => {
        const client = await connect({ port, codec, tls: { ca: certs.read(certs.caCert) } });
        try {
          const body = Buffer.from(codec === 'line' ? 'hello over tls' : 'bytes \u0000\u00ff over tls', 'latin1');
          const reply = await client.request(body);
          assert.deepEqual(reply, Buffer.concat([Buffer.from(REPLY_PREFIX), body]));
          const second = await client.request('again');
          assert.equal(second.toString(), `${REPLY_PREFIX}again`);
        } finally {
          await client.close();
        }
      });
    });
  }

  it('verifies the name: localhost by SNI, 127.0.0.1 by the certificate\'s IP entry', async () => {
    const names = new EventLog<string | null>();
    await withTlsServer({}, async (port, server) => {
      server.server.setCallbacks({ onConnection: (conn: Connection) => names.push(conn.tls?.servername ?? null) });
      const byName = await connect({ host: 'localhost', port, tls: { ca: certs.read(certs.caCert) } });
      assert.equal((await byName.request('by name')).toString(), `${REPLY_PREFIX}by name`);
      await byName.close();
      assert.equal(await within(names.waitFor(() => true), 5000, 'the first connection'), 'localhost', 'the host is sent as SNI');
      const byAddress = await connect({ host: '127.0.0.1', port, tls: { ca: certs.read(certs.caCert) } });
      assert.equal((await byAddress.request('by address')).toString(), `${REPLY_PREFIX}by address`);
      await byAddress.close();
      assert.deepEqual(names.events, ['localhost', null], 'no SNI for an IP address');
    });
  });

  it('refuses a server whose CA it does not trust, at once, with TlsHandshakeError', async () => {
    await withTlsServer({}, async (port) => {
      const started = Date.now();
      // The stranger CA signed no server certificate: the server's does not verify against it.
      const refused = await within(connect({ port, connectTimeout: 10_000, tls: { ca: certs.read(certs.strangerCert) } }).then(
        () => null,
        (err: unknown) => err,
      ), 5000, 'the refusal');
      assert.ok(refused instanceof TlsHandshakeError, `got ${String(refused)}`);
      assert.equal(refused.code, 'ERR_TLS_HANDSHAKE');
      assert.match(refused.reason, /CERT|VERIFY|ISSUER/);
      assert.match(refused.message, new RegExp(`TLS handshake with 127\\.0\\.0\\.1:${port} failed`));
      assert.ok(Date.now() - started < 5000, 'not by the connect timeout');
      // The system's CAs do not know the test CA either.
      await assert.rejects(connect({ port, tls: true }), TlsHandshakeError);
    });
  });

  it('refuses a certificate that does not cover the servername; rejectUnauthorized: false talks to it anyway', async () => {
    await withTlsServer({}, async (port) => {
      await assert.rejects(connect({ port, tls: { ca: certs.read(certs.caCert), servername: 'elsewhere.example' } }), (err: unknown) => {
        assert.ok(err instanceof TlsHandshakeError);
        assert.equal(err.reason, 'ERR_TLS_CERT_ALTNAME_INVALID');
        return true;
      });
      const client = await connect({ port, tls: { rejectUnauthorized: false } });
      try {
        assert.equal((await client.request('unverified')).toString(), `${REPLY_PREFIX}unverified`);
      } finally {
        await client.close();
      }
    });
  });

  it('a plaintext server is a handshake failure; no server at all is still ConnectionClosedError', async () => {
    const plain = new ReactorServer({ port: 0 });
    const { port } = await plain.start();
    try {
      await assert.rejects(connect({ port, tls: true }), TlsHandshakeError);
    } finally {
      await plain.stop();
    }
    await assert.rejects(connect({ port, tls: true }), ConnectionClosedError);
  });

  it('presents a client certificate the server requires, and the server sees whose it is', async () => {
    const seen = new EventLog<TlsInfo | null>();
    await withTlsServer({ tls: serverTls({ ca: certs.read(certs.caCert), clientAuth: 'require' }) }, async (port, server) => {
      server.server.setCallbacks({ onConnection: (conn: Connection) => seen.push(conn.tls) });
      const client = await connect({ port, tls: { ca: certs.read(certs.caCert), cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) } });
      try {
        assert.equal((await client.request('with a certificate')).toString(), `${REPLY_PREFIX}with a certificate`);
      } finally {
        await client.close();
      }
      const info = await within(seen.waitFor(() => true), 5000, 'the connection');
      assert.equal(info?.authorized, true);
      assert.match(info?.peerSubject ?? '', /CN=trusted-client/);
    });
  });

  it('refuses bad tls options before connecting, naming the key', async () => {
    await assert.rejects(connect({ port: 1, tls: { cA: 'x' } as never }), (err: unknown) => err instanceof UnknownOptionError && err.option === 'tls.cA' && err.suggestion === 'ca');
    await assert.rejects(connect({ port: 1, tls: { ca: 'not a certificate' } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.ca');
    await assert.rejects(connect({ port: 1, tls: { cert: certs.read(certs.clientCert) } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.key');
    await assert.rejects(connect({ port: 1, tls: { cert: certs.read(certs.clientCert), key: certs.read(certs.strangerKey) } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.key');
    await assert.rejects(connect({ port: 1, tls: 'yes' as never }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls');
    await assert.rejects(connect({ port: 1, tls: { rejectUnauthorized: 'no' as never } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.rejectUnauthorized');
  });
});
