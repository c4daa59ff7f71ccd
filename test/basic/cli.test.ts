import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { REPLY_PREFIX } from '../../src/index.js';
import { CLI_PATH, startServerProcess } from '../helpers/server-process.js';
import { SeedClient } from '../helpers/seed-client.js';

const run = promisify(execFile);

/** Runs the CLI to completion; never throws, so exit codes can be asserted. */
async function cli(...args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_PATH, ...args], { timeout: 10_000 });
    return { code: 0, signal: null, stdout, stderr };
  } catch (err) {
    // A CLI killed at the timeout has no exit code, only the signal.
    const failed = err as { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };
    return { code: failed.code, signal: failed.signal, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('cli', { timeout: 30_000 }, () => {
  it('start --port 0 prints one ready line with the real port, serves, and exits 0 on SIGTERM', async () => {
    const server = await startServerProcess();
    assert.equal(server.host, '127.0.0.1');
    assert.ok(server.port > 0);
    const client = await SeedClient.connect(server.port);
    assert.deepEqual(await client.request('via cli'), Buffer.from(`${REPLY_PREFIX}via cli`));
    await client.end();
    assert.equal(await server.stop('SIGTERM'), 0);
  });

  it('exits 0 on SIGINT, closing connected clients', async () => {
    const server = await startServerProcess();
    const client = await SeedClient.connect(server.port);
    await client.request('before the signal');
    assert.equal(await server.stop('SIGINT'), 0);
    await client.closed;
  });

  it('passes --host, --idle-timeout and --check-interval through', async () => {
    const server = await startServerProcess(['--host', '127.0.0.2', '--idle-timeout', '0.2', '--check-interval', '0.05']);
    assert.equal(server.host, '127.0.0.2');
    const client = await SeedClient.connect(server.port, '127.0.0.2');
    await client.request('then silence');
    await client.closed; // the idle sweep closes it
    assert.equal(await server.stop(), 0);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const result = await cli('--version');
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), pkg.version);
  });

  it('--help lists the start command and its options', async () => {
    const top = await cli('--help');
    assert.equal(top.code, 0);
    assert.match(top.stdout, /start/);
    const start = await cli('start', '--help');
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
      const result = await cli(...args);
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
    const result = await cli('start', '--port', String(port));
    blocker.close();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot start on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
  });
});
