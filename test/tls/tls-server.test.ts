/**
 * TLS on a NetServer (node:tls behind the transport seam), with certificates made by `openssl`
 * at test time: every codec echoes byte-exact over TLS to a client that verifies the server;
 * the application sees the handshake's outcome; a plaintext client, garbage, a client that
 * stops mid-handshake and an untrusted client certificate each fail their own handshake only,
 * counted by reason; material is replaced while a connection stays up; bad material is refused
 * naming the setting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { InvalidOptionError, NetServer, REPLY_PREFIX, ReactorGroup, ReactorServer, supportsReusePort, type CodecName, type Connection, type TlsInfo, type TlsOptions } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { EventLog, deferred, waitUntil, within } from '../helpers/wait.js';

const run = promisify(execFile);
const certs = suiteCertificates();
const serverTls = (extra: Partial<TlsOptions> = {}): TlsOptions => certs.serverTls(extra);

/** A verifying TLS client; resolves once the handshake is done. */
async function tlsClient(port: number, extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.read(certs.caCert), ...extra });
  await once(socket, 'secureConnect');
  return socket;
}

/** Reads exactly `length` bytes from `socket`. */
async function readBytes(socket: net.Socket, length: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of socket as AsyncIterable<Buffer>) {
    parts.push(chunk);
    have += chunk.length;
    if (have >= length) break;
  }
  return Buffer.concat(parts).subarray(0, length);
}

function framed(codec: CodecName, body: Buffer): { request: Buffer; reply: Buffer } {
  const reply = Buffer.concat([Buffer.from(REPLY_PREFIX), body]);
  const header = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  switch (codec) {
    case 'seed':
      return { request: body, reply: Buffer.concat([header(reply.length), reply]) };
    case 'length':
      return { request: Buffer.concat([header(body.length), body]), reply: Buffer.concat([header(reply.length), reply]) };
    case 'line':
      return { request: Buffer.concat([body, Buffer.from('\n')]), reply: Buffer.concat([reply, Buffer.from('\n')]) };
  }
}

describe('tls: a NetServer with tls', { timeout: 60_000 }, () => {
  for (const codec of ['seed', 'length', 'line'] as const) {
    it(`codec ${codec}: byte-exact echo to a client that verifies the server; onConnection sees the handshake`, async () => {
      const seen = new EventLog<TlsInfo | null>();
      const server = new ReactorServer({ port: 0, codec, tls: serverTls({ alpn: ['echo/1'] }) });
      server.server.setCallbacks({ onConnection: (conn: Connection) => seen.push(conn.tls) });
      const { port } = await server.start();
      try {
        const client = await tlsClient(port, { ALPNProtocols: ['echo/1'] });
        assert.equal(client.authorized, true, 'the client verified the server against the CA');
        const body = Buffer.from(codec === 'line' ? 'hello over tls' : 'bytes \u0000\u00ff over tls', 'latin1');
        const { request, reply } = framed(codec, body);
        client.write(request);
        assert.deepEqual(await readBytes(client, reply.length), reply);
        const info = await seen.waitFor(() => true);
        assert.ok(info !== null);
        assert.equal(info.protocol, 'TLSv1.3');
        assert.equal(typeof info.cipher, 'string');
        assert.equal(info.alpn, 'echo/1');
        assert.equal(info.servername, 'localhost');
        assert.equal(info.peerSubject, null, 'no client certificate');
        client.destroy();
      } finally {
        await server.stop({ drainTimeout: 0 });
      }
    });
  }

  it("Python's ssl module verifies the server and gets byte-exact replies", async () => {
    const server = new ReactorServer({ port: 0, tls: serverTls() });
    const { port } = await server.start();
    try {
      const script = [
        'import socket, ssl, struct, sys',
        'ctx = ssl.create_default_context(cafile=sys.argv[2])',
        's = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")',
        'out = []',
        'for msg in (b"hello", b"\\x00\\xff\\xfe tls"):',
        '    s.sendall(msg)',
        '    n = struct.unpack("<I", s.recv(4, socket.MSG_WAITALL) if False else s.read(4))[0]',
        '    body = b""',
        '    while len(body) < n: body += s.read(n - len(body))',
        '    out.append(body.hex())',
        'print(s.version(), " ".join(out))',
      ].join('\n');
      const { stdout } = await run('python3', ['-c', script, String(port), certs.caCert], { timeout: 20_000 });
      const [version, ...replies] = stdout.trim().split(' ');
      assert.equal(version, 'TLSv1.3');
      assert.deepEqual(replies, [Buffer.from(`${REPLY_PREFIX}hello`), Buffer.concat([Buffer.from(REPLY_PREFIX), Buffer.from([0, 0xff, 0xfe]), Buffer.from(' tls')])].map((b) => b.toString('hex')));
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('plaintext, garbage and a client that stops mid-handshake each fail only their own handshake, counted by reason', async () => {
    const server = new NetServer({ port: 0, tls: serverTls({ handshakeTimeout: 0.3 }), callbacks: { onMessage: (conn, m) => void conn.send(m) } });
    const { port } = await server.start();
    try {
      const good = await tlsClient(port);
      const closedBy = async (send: Buffer | null): Promise<void> => {
        const raw = net.connect({ port, host: '127.0.0.1' });
        raw.on('error', () => undefined);
        // Read whatever comes (an alert): an unread socket never sees the server's FIN.
        raw.resume();
        await once(raw, 'connect');
        if (send !== null) raw.write(send);
        await once(raw, 'close');
      };
      await closedBy(Buffer.from('hello, plaintext\n'));
      await closedBy(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]));
      await closedBy(null);
      await waitUntil(() => Object.values(server.stats.tls!.handshakeFailures).reduce((a, b) => a + b, 0) >= 3, () => JSON.stringify(server.stats.tls!.handshakeFailures));
      const failures = server.stats.tls!.handshakeFailures;
      assert.equal(failures.plaintext, 1, JSON.stringify(failures));
      assert.equal(failures.timeout, 1, JSON.stringify(failures));
      assert.equal(Object.values(failures).reduce((a, b) => a + b, 0), 3, JSON.stringify(failures));
      assert.equal(server.stats.accepted, 1, 'only the real client became a connection');
      good.write('still served');
      assert.equal((await readBytes(good, 4 + 12)).subarray(4).toString(), 'still served');
      good.destroy();
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('clientAuth require: a certificate the CA signed is accepted and shown; a stranger or none is refused', async () => {
    const subjects = new EventLog<TlsInfo | null>();
    const server = new NetServer({
      port: 0,
      tls: serverTls({ ca: certs.read(certs.caCert), clientAuth: 'require' }),
      callbacks: { onConnection: (conn) => subjects.push(conn.tls), onMessage: (conn, m) => void conn.send(m) },
    });
    const { port } = await server.start();
    try {
      const trusted = await tlsClient(port, { cert: certs.read(certs.clientCert), key: certs.read(certs.clientKey) });
      const info = await subjects.waitFor(() => true);
      assert.equal(info?.authorized, true);
      assert.match(info?.peerSubject ?? '', /CN=trusted-client/);
      trusted.destroy();
      for (const extra of [{ cert: certs.read(certs.strangerCert), key: certs.read(certs.strangerKey) }, {}]) {
        const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.read(certs.caCert), ...extra });
        // With TLS 1.3 the client may finish first and hear the refusal as an alert: an error here is expected.
        socket.on('error', () => undefined);
        socket.resume();
        await new Promise((resolve) => socket.once('close', resolve));
      }
      await waitUntil(() => (server.stats.tls!.handshakeFailures['bad-certificate'] ?? 0) === 2, () => JSON.stringify(server.stats.tls!.handshakeFailures));
      assert.equal(server.stats.accepted, 1);
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('reloadTls: new handshakes get the new certificate, an open connection keeps working, bad material is refused and the old kept', async () => {
    const server = new NetServer({ port: 0, tls: serverTls(), callbacks: { onMessage: (conn, m) => void conn.send(m) } });
    const { port } = await server.start();
    try {
      const before = await tlsClient(port);
      assert.equal((before.getPeerCertificate().subject as { CN?: string }).CN, 'localhost');
      assert.throws(() => server.reloadTls({ cert: certs.read(certs.nextServerCert), key: certs.read(certs.serverKey) }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'tls.key');
      const stillOld = await tlsClient(port);
      assert.equal((stillOld.getPeerCertificate().subject as { CN?: string }).CN, 'localhost', 'a refused reload changes nothing');
      stillOld.destroy();
      server.reloadTls({ cert: certs.read(certs.nextServerCert), key: certs.read(certs.nextServerKey) });
      const afterReload = await tlsClient(port);
      assert.equal((afterReload.getPeerCertificate().subject as { CN?: string }).CN, 'localhost-next');
      before.write('old connection');
      assert.equal((await readBytes(before, 4 + 14)).subarray(4).toString(), 'old connection');
      before.destroy();
      afterReload.destroy();
    } finally {
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('clients that close right after the handshake leave nothing open: stop() settles and no socket is left', async () => {
    const server = new NetServer({ port: 0, tls: serverTls(), callbacks: { onMessage: (conn, m) => void conn.send(m) } });
    const { port } = await server.start();
    const sockets = () => process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap').length;
    const baseline = sockets();
    try {
      for (let i = 0; i < 20; i++) (await tlsClient(port)).destroy();
      // Each lands as a connection that closes, or (when the server's side of the handshake was
      // still going) as a failed handshake; either way nothing may stay open.
      const settled = (): number => server.stats.accepted + Object.values(server.stats.tls!.handshakeFailures).reduce((a, b) => a + b, 0);
      await waitUntil(() => settled() === 20 && server.connectionCount === 0, () => `${settled()} settled, ${server.connectionCount} open`);
    } finally {
      await within(server.stop({ drainTimeout: 0 }), 3000, 'stop() after clients that closed at once');
    }
    await waitUntil(() => sockets() <= baseline, () => `${sockets()} TCP sockets open, ${baseline} before the clients`);
  });

  for (const reactorMode of ['processes', 'threads'] as const) {
    it(`a ReactorGroup in ${reactorMode} mode serves TLS from every reactor`, { skip: reactorMode === 'threads' && !supportsReusePort() ? 'needs SO_REUSEPORT' : false }, async () => {
      const group = new ReactorGroup({ workers: 2, reactorMode, port: 0, tls: serverTls() });
      const clients: tls.TLSSocket[] = [];
      try {
        const { port } = await group.start();
        for (let i = 0; i < 20; i++) clients.push(await tlsClient(port));
        const replies = await Promise.all(
          clients.map(async (client, i) => {
            client.write(`client ${i}`);
            return (await readBytes(client, 4 + REPLY_PREFIX.length + `client ${i}`.length)).subarray(4).toString();
          }),
        );
        assert.deepEqual(replies, clients.map((_, i) => `${REPLY_PREFIX}client ${i}`));
        const { reactors } = await group.stats();
        assert.equal(reactors.filter((r) => r.stats.accepted > 0).length, 2, 'both reactors served TLS clients');
      } finally {
        for (const client of clients) client.destroy();
        await group.stop({ drainTimeout: 0 });
      }
    });
  }

  it('a ReactorServer with a task pool: every reply over TLS, in order per connection', async () => {
    const server = new ReactorServer({ port: 0, codec: 'length', taskWorkers: 2, tls: serverTls() });
    const clients: tls.TLSSocket[] = [];
    try {
      const { port } = await server.start();
      for (let i = 0; i < 4; i++) clients.push(await tlsClient(port));
      const replies = await Promise.all(
        clients.map(async (client, c) => {
          // Several messages in one write: the pool may finish them in any order, the replies may not.
          const texts = Array.from({ length: 5 }, (_, m) => `c${c}m${m}`);
          const wire = Buffer.concat(texts.map((text) => framed('length', Buffer.from(text)).request));
          client.write(wire);
          const want = texts.reduce((n, text) => n + 4 + REPLY_PREFIX.length + text.length, 0);
          const bytes = await readBytes(client, want);
          const got: string[] = [];
          for (let at = 0; at < bytes.length; at += 4 + bytes.readUInt32LE(at)) got.push(bytes.subarray(at + 4, at + 4 + bytes.readUInt32LE(at)).toString());
          return [got, texts.map((text) => `${REPLY_PREFIX}${text}`)];
        }),
      );
      for (const [got, want] of replies) assert.deepEqual(got, want);
    } finally {
      for (const client of clients) client.destroy();
      await server.stop({ drainTimeout: 0 });
    }
  });

  it('idle timeouts and a graceful stop work over TLS as in plaintext', async () => {
    const closes = new EventLog<string>();
    const released = deferred();
    const server = new NetServer({
      port: 0,
      idleTimeout: 0.3,
      checkInterval: 0.1,
      tls: serverTls(),
      callbacks: {
        // A handler still working when the stop comes: its reply is owed.
        onMessage: async (conn, m) => {
          await released.promise;
          conn.send(m);
        },
        onClose: (_conn, reason) => closes.push(reason),
      },
    });
    const { port } = await server.start();
    const idle = await tlsClient(port);
    idle.on('error', () => undefined);
    idle.resume();
    assert.equal(await closes.waitFor(() => true), 'idle-timeout');
    const busy = await tlsClient(port);
    busy.write('owed');
    // Read without ending the iteration (which would destroy the socket: a close from our side).
    const reply = new Promise<Buffer>((resolve) => {
      let got = Buffer.alloc(0);
      busy.on('data', (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length >= 8) resolve(got);
      });
    });
    // The request is in the handler; stop, then let the handler finish: the reply still goes out.
    await waitUntil(() => server.stats.messagesIn === 1, () => 'the request did not arrive');
    const stopped = server.stop({ drainTimeout: 5 });
    released.resolve();
    assert.equal((await reply).subarray(4).toString(), 'owed');
    await within(stopped, 5000, 'stop() with a TLS connection that drained');
    assert.equal(await closes.waitFor((reason) => reason === 'server-stop'), 'server-stop');
    busy.destroy();
    idle.destroy();
  });

  it('bad material and settings are refused when the server is made, naming the setting', () => {
    const refused = (tlsOptions: unknown, option: string): void => {
      assert.throws(() => new NetServer({ port: 0, tls: tlsOptions as TlsOptions }), (err: unknown) => err instanceof InvalidOptionError && err.option === option, option);
    };
    refused({ cert: 'not a certificate', key: certs.read(certs.serverKey) }, 'tls.cert');
    refused({ cert: certs.read(certs.serverCert), key: 'not a key' }, 'tls.key');
    refused({ cert: certs.read(certs.serverCert), key: certs.read(certs.clientKey) }, 'tls.key');
    refused(serverTls({ minVersion: '1.1' as '1.2' }), 'tls.minVersion');
    refused(serverTls({ clientAuth: 'require' }), 'tls.ca');
    refused(serverTls({ ca: 'no certificate here', clientAuth: 'require' }), 'tls.ca');
    refused(serverTls({ handshakeTimeout: 0 }), 'tls.handshakeTimeout');
    refused({ ...serverTls(), certs: 1 }, 'tls.certs');
  });
});
