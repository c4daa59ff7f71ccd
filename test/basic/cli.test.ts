import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { REPLY_PREFIX } from '../../src/index.js';
import { runCli, withCli } from '../helpers/cli-process.js';
import { SeedClient } from '../helpers/seed-client.js';

describe('cli', { timeout: 30_000 }, () => {
  it('start --port 0 prints one ready line with the real port, serves, and exits 0 on SIGTERM', async () => {
    // withCli stops it with SIGTERM and asserts the exit 0.
    await withCli([], async (server) => {
      assert.equal(server.host, '127.0.0.1');
      assert.ok(server.port > 0);
      const client = await SeedClient.connect(server.port);
      assert.deepEqual(await client.request('via cli'), Buffer.from(`${REPLY_PREFIX}via cli`));
      await client.end();
    });
  });

  it('exits 0 on SIGINT, closing connected clients', async () => {
    await withCli([], async (server) => {
      const client = await SeedClient.connect(server.port);
      await client.request('before the signal');
      assert.equal((await server.stop('SIGINT')).code, 0);
      await client.closed;
    });
  });

  it('passes --host, --idle-timeout and --check-interval through', async () => {
    await withCli(['--host', '127.0.0.2', '--idle-timeout', '0.2', '--check-interval', '0.05'], async (server) => {
      assert.equal(server.host, '127.0.0.2');
      const client = await SeedClient.connect(server.port, '127.0.0.2');
      await client.request('then silence');
      await client.closed; // the idle sweep closes it
    });
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), pkg.version);
  });

  it('--help lists the start command and its options', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /start/);
    const start = await runCli(['start', '--help']);
    assert.equal(start.code, 0);
    for (const flag of ['--host', '--port', '--idle-timeout', '--check-interval']) assert.match(start.stdout, new RegExp(flag));
  });

  for (const args of [
    ['start', '--port', 'abc'],
    ['start', '--port', '70000'],
    ['start', '--idle-timeout', '-1'],
    ['start', '--check-interval', '0'],
    ['start', '--no-such-flag'],
    ['no-such-command'],
  ]) {
    it(`rejects ${args.join(' ')} with a message and a non-zero exit`, async () => {
      const result = await runCli(args);
      assert.equal(result.signal, null, 'the CLI hung and was killed instead of exiting');
      assert.equal(typeof result.code, 'number');
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /error|invalid|unknown/i);
    });
  }

  it('reports a port in use clearly and exits 1', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as net.AddressInfo;
    const result = await runCli(['start', '--port', String(port)]);
    blocker.close();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot start on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });
});
