/**
 * `reactor-server bench`: reaching every wire format the server can speak, refusing bad
 * arguments up front, naming connection failures, failing fast on a dead target, and exiting
 * non-zero whenever it measured nothing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { runCli, withCli, type CliResult } from '../helpers/cli-process.js';
import { closedPort } from './support.js';

/** The fields of `bench --json` these tests read. */
interface BenchJson {
  mode: string;
  replies: number;
  sessions: number;
  held: number;
  errors: number;
  errorsByCode: Record<string, number>;
  wrongReplies: number;
}

function json(result: CliResult): BenchJson {
  assert.equal(result.stdout.split('\n').filter((l) => l !== '').length, 1, `one JSON line expected; stdout: ${result.stdout}`);
  return JSON.parse(result.stdout) as BenchJson;
}

/**
 * A TCP server of the test's own that accepts every connection and calls `onRequest` with the
 * socket and its running number (1, 2, ...) whenever a request arrives.
 */
async function rawServer(onRequest: (socket: net.Socket, n: number) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.on('data', () => onRequest(socket, ++requests));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('ops: bench command', () => {
  it('bench --codec length --byte-order big measures a big-endian server with every reply verified, in each mode', { timeout: 40_000 }, async () => {
    await withCli(['--codec', 'length', '--byte-order', 'big'], async (server) => {
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
    });
  });

  it('-s 0 and -c 0 are refused up front, stating the bound, before anything runs', { timeout: 20_000 }, async () => {
    const port = await closedPort();
    for (const [flag, bound] of [['-s', 'must be a number of bytes >= 1'], ['-c', 'must be an integer >= 1'], ['-d', 'must be a number of seconds > 0']]) {
      for (const value of ['0', 'abc']) {
        const result = await runCli(['bench', '-p', String(port), flag as string, value]);
        assert.equal(result.code, 1, `${flag} ${value}: exit ${result.code}`);
        assert.equal(result.stdout, '', `${flag} ${value} ran`);
        assert.match(result.stderr, new RegExp(`${flag}, --\\w+ <\\w+>' argument '${value}' is invalid\\. ${bound}`), `${flag} ${value}: ${result.stderr}`);
      }
    }
  });

  it('a dead port fails at once in every mode: "cannot reach HOST:PORT: ECONNREFUSED", exit 1, without waiting out -d', { timeout: 60_000 }, async () => {
    const port = await closedPort();
    for (const mode of ['pingpong', 'connect', 'hold']) {
      for (const output of [[], ['--json']]) {
        const started = performance.now();
        const result = await runCli(['bench', '-p', String(port), '-m', mode, '-c', '3', '-d', '30', ...output], { timeoutMs: 10_000 });
        const took = performance.now() - started;
        assert.equal(result.signal, null, `${mode}: still running after ${took.toFixed(0)} ms`);
        assert.equal(result.code, 1, `${mode}: exit ${result.code}`);
        assert.ok(took < 5000, `${mode}: took ${took.toFixed(0)} ms against a dead port`);
        assert.equal(result.stdout, '');
        assert.equal(result.stderr, `reactor-server: cannot reach 127.0.0.1:${port}: ECONNREFUSED\n`);
      }
    }
  });

  it('an unknown host fails at once, naming it and the resolver error', { timeout: 30_000 }, async () => {
    const started = performance.now();
    const result = await runCli(['bench', '--host', 'no-such-host.invalid', '-p', '8888', '-d', '30'], { timeoutMs: 20_000 });
    const took = performance.now() - started;
    assert.equal(result.signal, null, `still running after ${took.toFixed(0)} ms`);
    assert.equal(result.code, 1);
    assert.ok(took < 15_000, `took ${took.toFixed(0)} ms`);
    // .invalid never resolves (RFC 6761); a machine without any resolver answers EAI_AGAIN.
    assert.match(result.stderr, /^reactor-server: cannot reach no-such-host\.invalid:8888: (ENOTFOUND|EAI_AGAIN)\n$/);
  });

  it('connections that fail during the load are counted by code, in the JSON and in the text, and exit 1', { timeout: 30_000 }, async () => {
    // Odd requests get a reset, even ones a clean close: nothing is ever answered.
    const server = await rawServer((socket, n) => (n % 2 === 1 ? socket.resetAndDestroy() : socket.end()));
    try {
      const args = ['bench', '-p', String(server.port), '-c', '4', '-d', '0.5'];
      const result = await runCli([...args, '--json']);
      assert.equal(result.code, 1);
      const r = json(result);
      assert.deepEqual(r.errorsByCode, { ECONNRESET: 2, ERR_CONNECTION_CLOSED: 2 });
      assert.equal(r.errors, 4);
      assert.equal(r.replies, 0);
      assert.match(result.stderr, /^reactor-server: bench failed: nothing measured \(0 replies\); 4 connection errors\n$/);

      const text = await runCli(args);
      assert.equal(text.code, 1);
      assert.match(text.stdout, /^errors +4 connection \((ECONNRESET 2, ERR_CONNECTION_CLOSED 2|ERR_CONNECTION_CLOSED 2, ECONNRESET 2)\), 0 wrong replies$/m);

      // Connect mode: every session fails; the codes add up to the errors.
      const sessions = json(await runCli(['bench', '-p', String(server.port), '-m', 'connect', '-c', '2', '-d', '0.3', '--json']));
      assert.equal(sessions.sessions, 0);
      assert.ok(sessions.errors > 0);
      assert.deepEqual(Object.keys(sessions.errorsByCode).sort(), ['ECONNRESET', 'ERR_CONNECTION_CLOSED']);
      assert.equal(Object.values(sessions.errorsByCode).reduce((a, b) => a + b, 0), sessions.errors);
    } finally {
      await server.close();
    }
  });

  it('a reply over --max-message-bytes fails its connection, counted as ERR_FRAME_TOO_LARGE', { timeout: 20_000 }, async () => {
    await withCli([], async (server) => {
      // 16 + 16 bytes come back: one byte too many.
      const result = await runCli(['bench', '-p', String(server.port), '-c', '2', '-s', '16', '-d', '0.3', '--max-message-bytes', '31', '--json']);
      assert.equal(result.code, 1);
      const r = json(result);
      assert.deepEqual(r.errorsByCode, { ERR_FRAME_TOO_LARGE: 2 });
      assert.equal(r.replies, 0);
    });
  });

  it('a server that never answers: nothing measured, exit 1, in every mode (hold too, which ends with -d)', { timeout: 30_000 }, async () => {
    const server = await rawServer(() => undefined);
    try {
      for (const mode of ['pingpong', 'connect', 'hold']) {
        const result = await runCli(['bench', '-p', String(server.port), '-m', mode, '-c', '2', '-d', '0.3', '--json'], { timeoutMs: 10_000 });
        assert.equal(result.signal, null, `${mode}: still running, killed`);
        assert.equal(result.code, 1, `${mode}: ${result.stderr}`);
        const r = json(result);
        assert.equal(r.errors, 0, mode);
        assert.equal(mode === 'connect' ? r.sessions : r.replies, 0, mode);
        assert.match(result.stderr, new RegExp(`^reactor-server: bench failed: nothing measured \\(0 ${mode === 'connect' ? 'sessions' : 'replies'}\\)\n$`), mode);
      }
    } finally {
      await server.close();
    }
  });
});
