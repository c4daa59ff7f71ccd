/**
 * `reactor-server start --workers 2`: the CLI runs a ReactorGroup, serves from both reactors,
 * says so in its ready line, and on SIGTERM exits 0 with its reactors gone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { supportsReusePort } from '../../src/index.js';
import { runsOnBun } from '../helpers/runtime.js';
import { startCli } from '../helpers/cli-process.js';
import { processExists } from '../helpers/resources.js';
import { assertEchoes, assertRefused, closeAll, connectMany } from './helpers.js';

const run = promisify(execFile);

/** The pids of `parent`'s child processes, from `ps` (Linux and macOS). */
async function childPids(parent: number): Promise<number[]> {
  const { stdout } = await run('ps', ['-A', '-o', 'pid=,ppid=']);
  return stdout
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/).map(Number))
    .filter(([, ppid]) => ppid === parent)
    .map(([pid]) => pid!);
}

describe('reactors: cli --workers', () => {
  it('start --workers 2 serves 200 simultaneous connections byte-exact and exits 0 on SIGTERM, its reactors gone', { timeout: 60_000 }, async () => {
    const mode = supportsReusePort() ? 'threads' : 'processes';
    const cli = await startCli(['--workers', '2']);
    try {
      assert.equal(cli.host, '127.0.0.1');
      // Threads on Bun serve with Bun's own sockets; processes mode always with node:net handles.
      const sockets = mode === 'threads' && runsOnBun ? 'bun' : 'node';
      assert.match(cli.readyLine, new RegExp(`\\(2 reactors on ${mode}, ${sockets} sockets\\)$`));
      const children = process.platform === 'win32' ? [] : await childPids(cli.pid);
      // Cluster workers are child processes of the CLI; worker threads are not.
      if (process.platform !== 'win32') assert.equal(children.length, mode === 'processes' ? 2 : 0, `child processes of the CLI: ${children.join(', ')}`);

      const clients = await connectMany(cli.port, 200);
      try {
        await assertEchoes(clients);
      } finally {
        await closeAll(clients);
      }

      const { code, signal } = await cli.stop('SIGTERM');
      assert.equal(signal, null, `the CLI died of ${signal}: ${cli.stderr()}`);
      assert.equal(code, 0, `the CLI exited ${code}: ${cli.stderr()}`);
      await assertRefused(cli.port);
      for (const pid of children) assert.equal(processExists(pid), false, `reactor process ${pid} outlived the CLI`);
      assert.doesNotMatch(cli.stderr(), /sub-reactor/, 'no reactor died or failed to be replaced');
    } finally {
      await cli.stop('SIGKILL');
    }
  });
});
