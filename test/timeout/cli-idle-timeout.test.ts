import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { withCli } from '../helpers/cli-process.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';

describe('timeout: the CLI flags --idle-timeout and --check-interval', () => {
  it('closes an idle client after --idle-timeout 0.5 (--check-interval 0.1) and exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
    await withCli(['--idle-timeout', '0.5', '--check-interval', '0.1'], async (server) => {
      const idle = await SeedClient.connect(server.port, server.host);
      const sentAt = performance.now();
      assert.deepEqual(await idle.request('idle soon'), expectedReply('idle soon'));
      const lastTrafficAt = performance.now();
      // From here the client stays silent: that idleness is the behaviour under test.
      assert.equal(await idle.closed, false, 'the idle close should be clean');
      const closedAt = performance.now();
      assert.ok(closedAt - sentAt >= 500, `closed ${(closedAt - sentAt).toFixed(1)} ms after the last request: before the timeout`);
      // Generous: the server is another process, possibly sharing the CPU with other suites.
      assert.ok(closedAt - lastTrafficAt < 500 + 3 * 100 + 1000, `closed only ${(closedAt - lastTrafficAt).toFixed(1)} ms after the last traffic`);

      // The server is still serving new clients after reaping one.
      const fresh = await SeedClient.connect(server.port, server.host);
      assert.deepEqual(await fresh.request('next'), expectedReply('next'));
      await fresh.end();

      const { code } = await server.stop('SIGTERM');
      assert.equal(code, 0, `exit code on SIGTERM; stderr: ${server.stderr()}`);
      // The stop is logged (JSON on stdout when it is not a terminal), with the signal that asked for it.
      const stopLine = server.lines().find((line) => line.includes('"stopping: draining connections"'));
      assert.ok(stopLine !== undefined, `no stop line in: ${server.stdout()}`);
      assert.equal((JSON.parse(stopLine) as { signal: string }).signal, 'SIGTERM');
    });
  });

  it('keeps an idle client with --idle-timeout 0, and SIGTERM still exits 0 with the client connected', { timeout: 20_000 }, async () => {
    await withCli(['--idle-timeout', '0', '--check-interval', '0.05'], async (server) => {
      const client = await SeedClient.connect(server.port, server.host);
      assert.deepEqual(await client.request('hello'), expectedReply('hello'));
      // Deliberately idle for 800 ms (16 check intervals): the disabled sweep is what is tested.
      await delay(800);
      assert.deepEqual(await client.request('still there?'), expectedReply('still there?'));
      const { code } = await server.stop('SIGTERM');
      assert.equal(code, 0, `exit code on SIGTERM; stderr: ${server.stderr()}`);
      // Stopping closes the connected client (reason server-stop).
      assert.equal(await client.closed, false);
    });
  });
});
