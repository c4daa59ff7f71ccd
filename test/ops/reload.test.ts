/**
 * `reload` against a real `start --pid-file`: it waits for the server's report and prints it,
 * exit 0 when reloaded (new TLS handshakes then get the new certificate), 1 when the new
 * material is refused (the old stays in use, the problem on stderr), 3 when not running.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { ReloadReport } from '../../src/cli/control-protocol.js';
import { makeCertificates, type CertificateFiles } from '../helpers/certificates.js';
import { runCli, withCli } from '../helpers/cli-process.js';

let dir: string;
let certs: CertificateFiles;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'reactor-reload-'));
  certs = makeCertificates();
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  certs.remove();
});

/** The common name of the certificate a new TLS handshake gets. */
async function servedName(port: number): Promise<string | undefined> {
  const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca: certs.read(certs.caCert) });
  try {
    await once(socket, 'secureConnect');
    return (socket.getPeerCertificate().subject as { CN?: string }).CN;
  } finally {
    socket.destroy();
  }
}

describe('ops: reload', { timeout: 60_000 }, () => {
  it('without TLS: exit 0, nothing changed; --json prints the report', async () => {
    const pidFile = join(dir, 'plain.pid');
    await withCli(['--pid-file', pidFile], async (server) => {
      const human = await runCli(['reload', '--pid-file', pidFile]);
      assert.equal(human.code, 0, human.stderr);
      assert.equal(human.stdout, 'reloaded: no setting changed\n');
      await server.waitForLog((e) => e.msg === 'reloaded' && e.trigger === 'control socket');
      const json = await runCli(['reload', '--json', '--pid-file', pidFile]);
      assert.equal(json.code, 0, json.stderr);
      const report: ReloadReport = { ok: true, problems: [], applied: [], restartRequired: [], replaced: [] };
      assert.deepEqual(JSON.parse(json.stdout), report);
    });
  });

  it('with TLS: new material is in force once reload exits 0; bad material is refused (exit 1) and the old stays', async () => {
    const pidFile = join(dir, 'tls.pid');
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    copyFileSync(certs.serverCert, cert);
    copyFileSync(certs.serverKey, key);
    await withCli(['--pid-file', pidFile, '--tls-cert', cert, '--tls-key', key], async (server) => {
      assert.equal(await servedName(server.port), 'localhost');
      copyFileSync(certs.nextServerCert, cert);
      copyFileSync(certs.nextServerKey, key);
      const reloaded = await runCli(['reload', '--pid-file', pidFile]);
      assert.equal(reloaded.code, 0, reloaded.stderr);
      assert.equal(reloaded.stdout, 'reloaded: tlsCert, tlsKey\n');
      assert.equal(await servedName(server.port), 'localhost-next', 'in force when reload has answered');

      writeFileSync(key, 'not a key');
      const refused = await runCli(['reload', '--json', '--pid-file', pidFile]);
      assert.equal(refused.code, 1, refused.stdout);
      const report = JSON.parse(refused.stdout) as ReloadReport;
      assert.equal(report.ok, false);
      assert.deepEqual(report.applied, []);
      assert.equal(report.problems.length, 1);
      assert.equal(report.problems[0]!.key, 'tlsKey');
      assert.equal(refused.stderr, `reactor-server: reload refused: tlsKey: ${report.problems[0]!.message}\n`);
      const human = await runCli(['reload', '--pid-file', pidFile]);
      assert.equal(human.code, 1);
      assert.equal(human.stdout, 'reload refused: nothing changed\n');
      assert.equal(await servedName(server.port), 'localhost-next', 'the old material stays in use');
    }, { readyTimeoutMs: 20_000 });
  });

  it('exit 3 when not running', async () => {
    const pidFile = join(dir, 'none.pid');
    const result = await runCli(['reload', '--pid-file', pidFile]);
    assert.equal(result.code, 3);
    assert.equal(result.stderr, `reactor-server: not running: no pid file ${pidFile}\n`);
    const json = await runCli(['reload', '--json', '--pid-file', pidFile]);
    assert.equal(json.code, 3);
    assert.deepEqual(JSON.parse(json.stdout), { running: false, reason: `no pid file ${pidFile}` });
  });
});
