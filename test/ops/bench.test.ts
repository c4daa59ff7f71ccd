/**
 * `reactor-server bench`: reaching every wire format the server can speak, refusing bad
 * arguments up front, naming connection failures, failing fast on a dead target, and exiting
 * non-zero whenever it measured nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, startCli, type CliResult } from './support.js';

/** The fields of `bench --json` these tests read. */
interface BenchJson {
  mode: string;
  replies: number;
  sessions: number;
  held: number;
  errors: number;
  wrongReplies: number;
}

function json(result: CliResult): BenchJson {
  assert.equal(result.stdout.split('\n').filter((l) => l !== '').length, 1, `one JSON line expected; stdout: ${result.stdout}`);
  return JSON.parse(result.stdout) as BenchJson;
}

describe('ops: bench command', () => {
  it('bench --codec length --byte-order big measures a big-endian server with every reply verified, in each mode', { timeout: 40_000 }, async () => {
    const server = await startCli(['--codec', 'length', '--byte-order', 'big']);
    try {
      const wire = ['-p', String(server.port), '--codec', 'length', '--byte-order', 'big', '-d', '0.5', '--json'];
      for (const mode of ['pingpong', 'connect', 'hold']) {
        const result = await runCli(['bench', '-m', mode, '-c', '4', '-s', '100', ...wire]);
        assert.equal(result.code, 0, `${mode}: ${result.stderr}`);
        const r = json(result);
        assert.equal(r.errors, 0, mode);
        assert.equal(r.wrongReplies, 0, mode);
        assert.ok(r.replies > 0, `${mode}: no replies`);
        if (mode === 'connect') assert.ok(r.sessions > 0, 'no sessions');
        if (mode === 'hold') assert.equal(r.held, 4);
      }
      // The same run with little-endian headers is not understood: the flag is what made it work.
      const little = await runCli(['bench', '-c', '2', '-s', '100', '-p', String(server.port), '--codec', 'length', '-d', '0.5', '--json']);
      assert.equal(little.code, 1);
      const r = json(little);
      assert.equal(r.replies, 0);
      assert.ok(r.errors > 0);
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });
});
