/**
 * `send` and `bench` over TLS, run as child processes against a TLS server started from the
 * library in this process, with certificates made by `openssl` at test time: verified against
 * `--tls-ca`, refused (fast, named) against a server the system's CAs do not know, talking
 * anyway with `--insecure`, presenting `--tls-cert`/`--tls-key`; bench measures and verifies
 * replies in ping-pong and connect mode; TLS file flags that cannot be used are refused up
 * front, naming the flag.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { REPLY_PREFIX, ReactorServer, type BenchResult, type Connection, type TlsInfo, type TlsOptions } from '../../src/index.js';
import { suiteCertificates } from '../helpers/certificates.js';
import { runCli } from '../helpers/cli-process.js';
import { EventLog, within } from '../helpers/wait.js';

const certs = suiteCertificates();
const serverTls = (extra: Partial<TlsOptions> = {}): TlsOptions => certs.serverTls(extra);
let server: ReactorServer;
let port: string;

before(async () => {
  server = new ReactorServer({ port: 0, tls: serverTls() });
  port = String((await server.start()).port);
});
after(async () => {
  await server.stop();
});


function benchResult(stdout: string): BenchResult {
  return JSON.parse(stdout) as BenchResult;
}

describe('tls: send and bench', { timeout: 60_000 }, () => {
  it('send --tls --tls-ca: the reply from a server verified against the CA', async () => {
    const run = await runCli(['send', 'hello over tls', '-p', port, '--tls', '--tls-ca', certs.caCert]);
    assert.deepEqual([run.code, run.stdout, run.stderr], [0, `${REPLY_PREFIX}hello over tls\n`, '']);
    const byName = await runCli(['send', 'by name', '--host', 'localhost', '-p', port, '--tls', '--tls-ca', certs.caCert]);
    assert.deepEqual([byName.code, byName.stdout], [0, `${REPLY_PREFIX}by name\n`], byName.stderr);
  });

  it('send --tls without --tls-ca refuses a server the system CAs do not know, at once; --insecure talks to it', async () => {
    const started = Date.now();
    const refused = await runCli(['send', 'hi', '-p', port, '--tls', '--timeout', '30']);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, new RegExp(`^reactor-server: TLS handshake with 127\\.0\\.0\\.1:${port} failed: .*\\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\\)\\n$`));
    assert.ok(Date.now() - started < 10_000, 'not by the 30 s timeout');
    const insecure = await runCli(['send', 'anyway', '-p', port, '--tls', '--insecure']);
    assert.deepEqual([insecure.code, insecure.stdout, insecure.stderr], [0, `${REPLY_PREFIX}anyway\n`, '']);
  });

  it('send --servername: the name verified; one the certificate does not cover is refused', async () => {
    const run = await runCli(['send', 'hi', '-p', port, '--tls', '--tls-ca', certs.caCert, '--servername', 'elsewhere.example']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /TLS handshake .* failed: .*\(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    const covered = await runCli(['send', 'hi', '-p', port, '--tls', '--tls-ca', certs.caCert, '--servername', 'localhost']);
    assert.equal(covered.stdout, `${REPLY_PREFIX}hi\n`, covered.stderr);
  });

  it('send --tls-cert --tls-key: the server that requires a client certificate sees whose it is', async () => {
    const seen = new EventLog<TlsInfo | null>();
    const strict = new ReactorServer({ port: 0, tls: serverTls({ ca: certs.read(certs.caCert), clientAuth: 'require' }) });
    strict.server.setCallbacks({ onConnection: (conn: Connection) => seen.push(conn.tls) });
    const strictPort = String((await strict.start()).port);
    try {
      const run = await runCli(['send', 'mutual', '-p', strictPort, '--tls', '--tls-ca', certs.caCert, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey]);
      assert.deepEqual([run.code, run.stdout], [0, `${REPLY_PREFIX}mutual\n`], run.stderr);
      const info = await within(seen.waitFor(() => true), 5000, 'the connection');
      assert.match(info?.peerSubject ?? '', /CN=trusted-client/);
      const without = await runCli(['send', 'no certificate', '-p', strictPort, '--tls', '--tls-ca', certs.caCert]);
      assert.equal(without.code, 1);
      assert.equal(without.stdout, '');
    } finally {
      await strict.stop();
    }
  });

  for (const mode of ['pingpong', 'connect', 'hold'] as const) {
    it(`bench --tls --tls-ca -m ${mode}: measures over TLS, every reply verified`, async () => {
      const run = await runCli(['bench', '-p', port, '--tls', '--tls-ca', certs.caCert, '-m', mode, '-c', '4', '-d', '0.5', '-s', '64', '--json']);
      assert.equal(run.code, 0, run.stderr);
      const result = benchResult(run.stdout);
      assert.equal(result.tls, true);
      assert.equal(result.mode, mode);
      assert.ok((mode === 'connect' ? result.sessions : result.replies) > 0, run.stdout);
      // Hold: every connection had its round trip over TLS and was still open at the end.
      if (mode === 'hold') assert.equal(result.held, 4, run.stdout);
      assert.equal(result.replies > 0, true);
      assert.deepEqual([result.errors, result.wrongReplies], [0, 0], run.stdout);
      const human = await runCli(['bench', '-p', port, '--tls', '--insecure', '-m', mode, '-c', '2', '-d', '0.3']);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, new RegExp(`^mode ${mode} over TLS, 2 connections`));
    });
  }

  it('bench --tls: a wrong prefix is a wrong reply, so replies are really read over TLS', async () => {
    const run = await runCli(['bench', '-p', port, '--tls', '--tls-ca', certs.caCert, '-c', '2', '-d', '0.3', '--prefix', 'nope: ', '--json']);
    assert.equal(run.code, 1);
    const result = benchResult(run.stdout);
    assert.ok(result.replies > 0 && result.wrongReplies === result.replies, run.stdout);
  });

  it('bench --tls against a server it cannot verify fails at once, measuring nothing', async () => {
    const run = await runCli(['bench', '-p', port, '--tls', '-c', '2', '-d', '30'], { timeoutMs: 10_000 });
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^reactor-server: TLS handshake with .* failed: /);
  });

  for (const command of [['send', 'hi'], ['bench', '-d', '0.2']]) {
    it(`${command[0]}: TLS file flags that cannot be used are refused up front, naming the flag`, async () => {
      const refusals: [string[], RegExp][] = [
        [['--tls', '--tls-ca', '/nonexistent/ca.crt'], /--tls-ca \/nonexistent\/ca\.crt: cannot read it \(ENOENT\)/],
        [['--tls', '--tls-cert', '/nonexistent/c.crt', '--tls-key', certs.clientKey], /--tls-cert \/nonexistent\/c\.crt: cannot read it \(ENOENT\)/],
        [['--tls', '--tls-cert', certs.clientCert, '--tls-key', certs.dir], /--tls-key .*: cannot read it \(EISDIR\)/],
        [['--tls', '--tls-cert', certs.clientCert], /--tls-cert needs --tls-key/],
        [['--tls-ca', certs.caCert], /--tls-ca needs --tls/],
        [['--insecure'], /--insecure needs --tls/],
        [['--tls', '--insecure', '--tls-ca', certs.caCert], /--insecure verifies nothing/],
      ];
      for (const [flags, message] of refusals) {
        const run = await runCli([...command, '-p', port, ...flags]);
        assert.equal(run.code, 1, flags.join(' '));
        assert.equal(run.stdout, '', flags.join(' '));
        assert.match(run.stderr, message, flags.join(' '));
      }
    });
  }
});
