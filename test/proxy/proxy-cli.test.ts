/**
 * The PROXY protocol end to end through the command line and the client: `start
 * --proxy-protocol` with `--trusted-proxies`, reached by `send --proxy-header` (plain and TLS,
 * v1 and v2), by `bench --proxy-header`, and by the client library's `proxyHeader`; the
 * server's debug log shows the client and the proxy; a configuration without trusted proxies
 * or with a bad range is refused by `start`, `validate` and `config`, naming the setting.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, InvalidOptionError, REPLY_PREFIX } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { assertRefusedByEveryCommand, runCli, withCli } from '../helpers/cli-process.js';

const certs = suiteCertificates();
const PROXY_ARGS = ['--proxy-protocol', 'required', '--trusted-proxies', '127.0.0.0/8,::1', '--log-level', 'debug'];

describe('proxy protocol: the command line and the client', { timeout: 90_000 }, () => {
  it('send --proxy-header v1 and v2 reach a server that requires one; the log shows the client and the proxy; without one the connection is refused', async () => {
    await withCli(PROXY_ARGS, async (server) => {
      for (const [version, source] of [['v1', '203.0.113.5:4000'], ['v2', '[2001:db8::5]:4001']] as const) {
        const sent = await runCli(['send', '--port', String(server.port), '--proxy-header', version, '--proxy-source', source, `via ${version}`]);
        assert.equal(sent.code, 0, sent.stderr);
        assert.equal(sent.stdout.trim(), `${REPLY_PREFIX}via ${version}`);
        const opened = await server.waitForLog((e) => e.msg === 'connection opened' && e.peer === source);
        assert.match(String(opened.proxy), /^127\.0\.0\.1:\d+$/);
      }
      const bare = await runCli(['send', '--port', String(server.port), 'no header']);
      assert.equal(bare.code, 1);
      const refused = await server.waitForLog((e) => e.msg === 'connection rejected');
      assert.equal(refused.reason, 'proxy-invalid');
      assert.match(String((refused.err as { message?: string }).message), /not-proxy/);
    });
  });

  it('with TLS the header comes first, then the handshake: send --tls --proxy-header', async () => {
    await withCli([...PROXY_ARGS, '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey], async (server) => {
      const sent = await runCli(['send', '--port', String(server.port), '--tls', '--tls-ca', certs.caCert, '--servername', 'localhost', '--proxy-header', 'v2', '--proxy-source', '198.51.100.20:1234', 'secret']);
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(sent.stdout.trim(), `${REPLY_PREFIX}secret`);
      await server.waitForLog((e) => e.msg === 'connection opened' && e.peer === '198.51.100.20:1234');
    });
  });

  it('bench --proxy-header measures a PROXY server with every reply verified', async () => {
    await withCli(['--proxy-protocol', 'required', '--trusted-proxies', '127.0.0.1'], async (server) => {
      for (const mode of ['pingpong', 'connect']) {
        const bench = await runCli(['bench', '--port', String(server.port), '--proxy-header', 'v2', '-c', '4', '-d', '0.5', '-m', mode, '--json']);
        assert.equal(bench.code, 0, bench.stderr);
        const result = JSON.parse(bench.stdout) as { replies: number; errors: number; wrongReplies: number };
        assert.ok(result.replies > 0, bench.stdout);
        assert.equal(result.errors, 0, bench.stdout);
        assert.equal(result.wrongReplies, 0);
      }
    });
  });

  it('the client library sends the header it is given, and refuses a bad one naming the field', async () => {
    await withCli(PROXY_ARGS, async (server) => {
      const client = await connect({ port: server.port, proxyHeader: { version: 1, source: { address: '192.0.2.44', port: 7 } } });
      assert.equal((await client.request('hi')).toString(), `${REPLY_PREFIX}hi`);
      await client.close();
      await server.waitForLog((e) => e.msg === 'connection opened' && e.peer === '192.0.2.44:7');
      await assert.rejects(connect({ port: server.port, proxyHeader: { version: 2, source: { address: 'not-an-ip', port: 1 } } }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'proxyHeader.source.address');
    });
  });

  it('start, validate and config refuse PROXY without trusted proxies or with a bad range, naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reactor-proxy-cli-'));
    try {
      const cases: { args: string[]; file: Record<string, unknown>; key: string }[] = [
        { args: ['--proxy-protocol', 'required'], file: { proxyProtocol: 'required' }, key: 'trustedProxies' },
        { args: ['--proxy-protocol', 'optional', '--trusted-proxies', '10.0.0.1/8'], file: { proxyProtocol: 'optional', trustedProxies: ['10.0.0.1/8'] }, key: 'trustedProxies' },
        { args: ['--proxy-protocol', 'required', '--trusted-proxies', '127.0.0.1', '--max-proxy-header-bytes', '100'], file: { proxyProtocol: 'required', trustedProxies: '127.0.0.1', maxProxyHeaderBytes: 100 }, key: 'maxProxyHeaderBytes' },
      ];
      for (const bad of cases) await assertRefusedByEveryCommand(bad, dir);
      const bad = await runCli(['start', '--port', '0', '--proxy-protocol', 'sometimes']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--proxy-protocol/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
