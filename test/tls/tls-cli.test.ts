/**
 * TLS from the command line: `start --tls-cert --tls-key` serves TLS (one reactor or several),
 * SIGHUP re-reads the files for new handshakes while open connections stay up, a bad file on
 * SIGHUP is logged and the old material kept, SIGHUP never kills the server (TLS or not), and
 * `start`, `validate` and `config` refuse bad TLS settings naming the setting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { REPLY_PREFIX } from '../../src/index.js';
import { makeCertificates, type CertificateFiles } from '../helpers/certificates.js';
import { assertRefusedByEveryCommand, withCli, type CliServer } from '../helpers/cli-process.js';
import { SeedClient } from '../helpers/seed-client.js';

let certs: CertificateFiles;
/** Files the server is started with and that SIGHUP re-reads: copies, so a test can replace them. */
let live: { dir: string; cert: string; key: string };

before(() => {
  certs = makeCertificates();
  const dir = mkdtempSync(join(tmpdir(), 'reactor-live-'));
  live = { dir, cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
});
after(() => {
  certs.remove();
  rmSync(live.dir, { recursive: true, force: true });
});

function useMaterial(cert: string, key: string): void {
  copyFileSync(cert, live.cert);
  copyFileSync(key, live.key);
}

async function tlsClient(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.read(certs.caCert) });
  await once(socket, 'secureConnect');
  return socket;
}

async function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  socket.write(text);
  const want = 4 + REPLY_PREFIX.length + Buffer.byteLength(text);
  let got = Buffer.alloc(0);
  while (got.length < want) got = Buffer.concat([got, (await once(socket, 'data'))[0] as Buffer]);
  return got.subarray(4).toString();
}

const commonName = (socket: tls.TLSSocket): string | undefined => (socket.getPeerCertificate().subject as { CN?: string }).CN;

async function hangUp(server: CliServer, logMessage: string): Promise<void> {
  server.kill('SIGHUP');
  await server.waitForLog((entry) => entry.msg === logMessage);
}

describe('tls: the command line', { timeout: 60_000 }, () => {
  for (const workers of ['1', '2']) {
    it(`--workers ${workers}: serves TLS; SIGHUP rotates the certificate for new handshakes, open connections stay up; a bad file keeps the old`, async () => {
      useMaterial(certs.serverCert, certs.serverKey);
      await withCli(['--workers', workers, '--tls-cert', live.cert, '--tls-key', live.key], async (server) => {
        assert.match(server.readyLine, /, TLS\)$/);
        const first = await tlsClient(server.port);
        assert.equal(commonName(first), 'localhost');
        assert.equal(await echo(first, 'before'), `${REPLY_PREFIX}before`);

        useMaterial(certs.nextServerCert, certs.nextServerKey);
        await hangUp(server, 'tls material reloaded');
        const clients = await Promise.all(Array.from({ length: 8 }, () => tlsClient(server.port)));
        assert.deepEqual(clients.map(commonName), clients.map(() => 'localhost-next'), 'every reactor hands out the new certificate');
        assert.equal(await echo(first, 'after'), `${REPLY_PREFIX}after`, 'the open connection is untouched');

        writeFileSync(live.key, 'not a key');
        await hangUp(server, 'tls reload failed; the old material stays in use');
        const still = await tlsClient(server.port);
        assert.equal(commonName(still), 'localhost-next');
        for (const socket of [first, still, ...clients]) socket.destroy();
      }, { readyTimeoutMs: 20_000 });
    });
  }

  it('SIGHUP without TLS does not kill the server', async () => {
    await withCli([], async (server) => {
      await hangUp(server, 'reloaded');
      const client = await SeedClient.connect(server.port);
      assert.equal((await client.request('alive')).toString(), `${REPLY_PREFIX}alive`);
      await client.end();
    });
  });

  it('start, validate and config refuse bad TLS settings, naming the setting', async () => {
    const cases: { args: string[]; file: Record<string, unknown>; key: string }[] = [
      { args: ['--tls-cert', certs.serverCert, '--tls-key', certs.clientKey], file: { tlsCert: certs.serverCert, tlsKey: certs.clientKey }, key: 'tlsKey' },
      { args: ['--tls-cert', join(live.dir, 'missing.crt'), '--tls-key', certs.serverKey], file: { tlsCert: join(live.dir, 'missing.crt'), tlsKey: certs.serverKey }, key: 'tlsCert' },
      { args: ['--tls-key', certs.serverKey], file: { tlsKey: certs.serverKey }, key: 'tlsCert' },
      { args: ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-client-auth', 'require'], file: { tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsClientAuth: 'require' }, key: 'tlsCa' },
    ];
    for (const bad of cases) await assertRefusedByEveryCommand(bad, live.dir);
  });
});
