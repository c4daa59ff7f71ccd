/**
 * The TLS series of /metrics from the real CLI, one reactor and a group in each mode: completed
 * handshakes and their duration histogram, failures by reason, TLS connections open, and SIGHUP
 * reloads by result; a plaintext server shows none of them. Also SNI from the command line:
 * `--tls-sni` and the `tlsSni` config map pick certificates by name, and bad entries are
 * refused by `start`, `validate` and `config` naming the entry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { HANDSHAKE_SECONDS_BUCKETS, supportsReusePort } from '../../src/index.js';
import { makeCertificates, type CertificateFiles } from '../helpers/certificates.js';
import { assertRefusedByEveryCommand, runCli, withCli, type CliServer } from '../helpers/cli-process.js';
import { httpGet, metric, parseMetrics, series, type Sample } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

let certs: CertificateFiles;
let dir: string;

before(() => {
  certs = makeCertificates();
  dir = mkdtempSync(join(tmpdir(), 'reactor-tls-metrics-'));
});
after(() => {
  certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** A verified TLS client that has had one message echoed (so the server holds the connection). */
async function echoedClient(port: number, servername = 'localhost', extra: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername, ca: certs.read(certs.caCert), ...extra });
  await once(socket, 'secureConnect');
  socket.write('hi');
  await once(socket, 'data');
  return socket;
}

async function scrape(server: CliServer): Promise<Sample[]> {
  const url = (await server.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
  const { status, body } = await httpGet(url);
  assert.equal(status, 200);
  return parseMetrics(body);
}

/** The sum of `name` over every reactor, for the labels given. */
const total = (samples: Sample[], name: string, labels: Record<string, string> = {}): number => series(samples, name, labels).reduce((sum, s) => sum + s.value, 0);

const commonName = (socket: tls.TLSSocket): string | undefined => (socket.getPeerCertificate().subject as { CN?: string }).CN;

describe('tls: metrics and SNI from the command line', { timeout: 90_000 }, () => {
  const shapes: { args: string[]; label: string; skip?: string }[] = [
    { args: ['--workers', '1'], label: 'one reactor' },
    { args: ['--workers', '2', '--reactor-mode', 'processes'], label: 'two reactor processes' },
    { args: ['--workers', '2', '--reactor-mode', 'threads'], label: 'two reactor threads', ...(supportsReusePort() ? {} : { skip: 'threads mode needs SO_REUSEPORT, which this Node.js lacks' }) },
  ];
  for (const { args, label, skip } of shapes) {
    it(`${label}: handshakes, their durations, failures by reason, TLS connections and reloads are in /metrics`, { skip }, async () => {
      const cert = join(dir, `${label}.crt`);
      const key = join(dir, `${label}.key`);
      copyFileSync(certs.serverCert, cert);
      copyFileSync(certs.serverKey, key);
      await withCli([...args, '--tls-cert', cert, '--tls-key', key, '--metrics-port', '0'], async (server) => {
        const clients = await Promise.all(Array.from({ length: 4 }, () => echoedClient(server.port)));
        const plaintext = net.connect(server.port, '127.0.0.1');
        plaintext.on('error', () => undefined);
        plaintext.resume();
        plaintext.write('not tls\n');
        await once(plaintext, 'close');

        const samples = await waitUntil(
          async () => {
            const s = await scrape(server);
            return total(s, 'reactor_tls_handshake_failures_total', { reason: 'plaintext' }) === 1 ? s : null;
          },
          'the plaintext failure in /metrics',
          10_000,
          100,
        );
        assert.equal(total(samples, 'reactor_tls_handshakes_total'), 4);
        assert.equal(total(samples, 'reactor_tls_connections'), 4);
        for (const reason of ['timeout', 'no-shared-cipher', 'bad-certificate', 'closed', 'protocol']) {
          assert.equal(total(samples, 'reactor_tls_handshake_failures_total', { reason }), 0, reason);
        }
        assert.equal(total(samples, 'reactor_tls_handshake_duration_seconds_count'), 4);
        assert.equal(total(samples, 'reactor_tls_handshake_duration_seconds_bucket', { le: '+Inf' }), 4);
        assert.equal(series(samples, 'reactor_tls_handshake_duration_seconds_bucket').length / series(samples, 'reactor_tls_handshake_duration_seconds_count').length, HANDSHAKE_SECONDS_BUCKETS.length + 1);
        const seconds = total(samples, 'reactor_tls_handshake_duration_seconds_sum');
        assert.ok(seconds > 0 && seconds < 40, String(seconds));

        writeFileSync(key, 'not a key');
        server.kill('SIGHUP');
        await server.waitForLog((e) => e.msg === 'tls reload failed; the old material stays in use');
        copyFileSync(certs.nextServerKey, key);
        copyFileSync(certs.nextServerCert, cert);
        server.kill('SIGHUP');
        await server.waitForLog((e) => e.msg === 'tls material reloaded');
        for (const client of clients) client.destroy();
        const after = await waitUntil(
          async () => {
            const s = await scrape(server);
            return total(s, 'reactor_tls_connections') === 0 ? s : null;
          },
          'TLS connections back to 0',
          10_000,
          100,
        );
        assert.equal(metric(after, 'reactor_tls_reloads_total', { result: 'failed' }), 1);
        assert.equal(metric(after, 'reactor_tls_reloads_total', { result: 'ok' }), 1);
      }, { readyTimeoutMs: 20_000 });
    });
  }

  it('a plaintext server has no TLS series', async () => {
    await withCli(['--metrics-port', '0'], async (server) => {
      const samples = await scrape(server);
      assert.deepEqual(samples.filter((s) => s.name.startsWith('reactor_tls_')), []);
      assert.ok(series(samples, 'reactor_connections').length > 0, 'the other series are there');
    });
  });

  it('--tls-sni and the tlsSni config map pick certificates by name; other names get --tls-cert', async () => {
    const sniFlag = `api.test=${certs.apiCert}:${certs.apiKey},*.shop.test=${certs.shopCert}:${certs.shopKey}`;
    const configFile = join(dir, 'sni.json');
    writeFileSync(configFile, JSON.stringify({ tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsSni: { 'api.test': { cert: certs.apiCert, key: certs.apiKey }, '*.shop.test': { cert: certs.shopCert, key: certs.shopKey } } }));
    for (const args of [['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-sni', sniFlag], ['-c', configFile]]) {
      await withCli(args, async (server) => {
        const names = ['api.test', 'cart.shop.test', 'localhost'];
        const clients = await Promise.all(names.map((name) => echoedClient(server.port, name)));
        assert.deepEqual(clients.map(commonName), ['api.test', 'shop.test', 'localhost'], args.join(' '));
        for (const client of clients) client.destroy();
      });
    }
  });

  it('start, validate and config refuse bad SNI entries, naming the entry', async () => {
    const base = ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey];
    const cases: { sni: string; file: Record<string, unknown>; key: RegExp }[] = [
      { sni: `api.test=${certs.apiCert}:${certs.shopKey}`, file: { 'api.test': { cert: certs.apiCert, key: certs.shopKey } }, key: /tlsSni\.api\.test\.key/ },
      { sni: `api.test=${join(dir, 'missing.crt')}:${certs.apiKey}`, file: { 'api.test': { cert: join(dir, 'missing.crt'), key: certs.apiKey } }, key: /tlsSni\.api\.test\.cert/ },
      // Refused as the flag is read (commander names the flag), or as the file is checked (the key).
      { sni: `bad name=${certs.apiCert}:${certs.apiKey}`, file: { 'bad name': { cert: certs.apiCert, key: certs.apiKey } }, key: /--tls-sni .*"bad name" is not a server name|tlsSni.*bad name.*is not a server name/ },
      { sni: `api.test=${certs.apiCert}`, file: { 'api.test': { cert: certs.apiCert } }, key: /--tls-sni .*is not NAME=CERT:KEY|tlsSni: api\.test\.key must be a file name/ },
    ];
    for (const { sni, file, key } of cases) {
      await assertRefusedByEveryCommand({ args: [...base, '--tls-sni', sni], file: { tlsCert: certs.serverCert, tlsKey: certs.serverKey, tlsSni: file }, key }, dir);
    }
    const withoutCert = await runCli(['start', '--port', '0', '--tls-sni', `api.test=${certs.apiCert}:${certs.apiKey}`]);
    assert.equal(withoutCert.code, 1);
    assert.match(withoutCert.stderr, /invalid option tlsCert:/);
  });
});
