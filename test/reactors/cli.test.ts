/**
 * `reactor-server start --workers 2`: the CLI runs a ReactorGroup, serves from both reactors,
 * says so in its ready line, and on SIGTERM exits 0 with its reactors gone.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { supportsReusePort } from '../../src/index.js';
import { CLI_PATH } from '../helpers/server-process.js';
import { assertEchoes, assertRefused, closeAll, connectMany, processExists } from './helpers.js';

const run = promisify(execFile);

interface Cli {
  readonly pid: number;
  readonly port: number;
  readonly readyLine: string;
  stderr(): string;
  /** Sends `signal` and resolves with the exit code and signal. */
  stop(signal?: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Runs `reactor-server start --port 0 ...args` and resolves with its ready line. Like
 * test/helpers/server-process.ts, but keeps the whole line: it names the reactors and the mode.
 */
async function startCli(args: string[]): Promise<Cli> {
  const child = spawn(process.execPath, [CLI_PATH, 'start', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<[number | null, NodeJS.Signals | null]> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  try {
    const readyLine = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        stdout += text;
        // Only complete lines: the last piece may still be on its way.
        const line = stdout.split('\n').slice(0, -1).find((l) => l.includes('listening on'));
        if (line !== undefined) resolve(line);
      });
      void exited.then(([code]) => reject(new Error(`the CLI exited with ${code} before it was ready: ${stderr}`)));
    });
    const match = /listening on 127\.0\.0\.1:(\d+) /.exec(readyLine);
    assert.ok(match !== null, `unexpected ready line ${JSON.stringify(readyLine)}`);
    return { pid: child.pid!, port: Number(match[1]), readyLine, stderr: () => stderr, stop };
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}

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
      assert.match(cli.readyLine, new RegExp(`\\(2 reactors on ${mode}\\)$`));
      const children = process.platform === 'win32' ? [] : await childPids(cli.pid);
      // Cluster workers are child processes of the CLI; worker threads are not.
      if (process.platform !== 'win32') assert.equal(children.length, mode === 'processes' ? 2 : 0, `child processes of the CLI: ${children.join(', ')}`);

      const clients = await connectMany(cli.port, 200);
      try {
        await assertEchoes(clients);
      } finally {
        await closeAll(clients);
      }

      const [code, signal] = await cli.stop('SIGTERM');
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
