/**
 * The start command's logging: JSON lines on stdout when it is not a terminal, connection
 * lifecycle at debug, and nothing per message or per connection at the default level (info).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ConnectionClosedError, REPLY_PREFIX, connect } from '../../src/index.js';
import { THROWN_MESSAGE } from './fixtures/throwing-app.js';
import { parseLogLine, withCli, type LogEntry } from '../helpers/cli-process.js';

/** pino's numeric levels. */
const DEBUG = 20;
const INFO = 30;
const WARN = 40;

describe('ops: logging', () => {
  it('--log-level debug logs "connection opened" and "connection closed" with the conn id, peer and reason', { timeout: 20_000 }, async () => {
    await withCli(['--log-level', 'debug'], async (server) => {
      const client = await connect({ port: server.port });
      const localPort = client.localPort;
      assert.equal((await client.request('logged?', 5000)).toString(), `${REPLY_PREFIX}logged?`);
      const peer = `127.0.0.1:${localPort}`;
      const opened = await server.waitForLog((e) => e.msg === 'connection opened' && e.peer === peer);
      await client.close();
      const closed = await server.waitForLog((e) => e.msg === 'connection closed' && e.conn === opened.conn);

      assert.equal(opened.level, DEBUG);
      assert.equal(typeof opened.conn, 'number');
      assert.equal(opened.pid, server.pid);
      assert.equal(closed.level, DEBUG);
      assert.equal(closed.reason, 'peer-closed');

      // A second client gets its own id.
      const second = await connect({ port: server.port });
      const secondPeer = `127.0.0.1:${second.localPort}`;
      await second.request('again', 5000);
      const reopened = await server.waitForLog((e) => e.msg === 'connection opened' && e.peer === secondPeer);
      assert.notEqual(reopened.conn, opened.conn);
      second.destroy();
      await server.waitForLog((e) => e.msg === 'connection closed' && e.conn === reopened.conn);
    });
  });

  it('at the default level (info), 100 requests log nothing per message or connection: only the start/stop lines, all JSON', { timeout: 20_000 }, async () => {
    await withCli([], async (server) => {
      const client = await connect({ port: server.port, codec: 'seed' });
      for (let i = 0; i < 100; i++) {
        const reply = await client.request(`message ${i}`, 5000);
        assert.equal(reply.toString(), `${REPLY_PREFIX}message ${i}`);
      }
      await client.close();
      // A connection that ends in an error (RST) is routine too: debug, not info.
      const reset = await connect({ port: server.port });
      await reset.request('and reset', 5000);
      const gone = new Promise<void>((resolve) => reset.once('close', () => resolve()));
      reset.reset();
      await gone;
      // Every line is out once the process has exited.
      assert.equal((await server.stop()).code, 0, server.stderr());

      const lines = server.lines().filter((line) => line !== '');
      const ready = lines.filter((line) => line.startsWith('reactor-server listening on'));
      assert.equal(ready.length, 1, `ready lines: ${ready.join('\n')}`);
      const logLines = lines.filter((line) => !line.startsWith('reactor-server listening on'));
      const entries = logLines.map((line) => {
        const entry = parseLogLine(line);
        assert.ok(entry !== null, `a stdout line that is not a JSON log line: ${JSON.stringify(line)}`);
        return entry;
      });
      for (const entry of entries) {
        assert.ok(entry.level >= INFO, `a line below info: ${JSON.stringify(entry)}`);
        assert.equal(entry.pid, server.pid);
        const perConnection = entry.conn !== undefined || entry.peer !== undefined || /^(connection|message)\b/.test(entry.msg);
        assert.ok(!perConnection, `per-connection or per-message line: ${JSON.stringify(entry)}`);
      }
      // The stop lines prove the logger works (so the silence above is the level, not a dead logger).
      // (Their order is the subject of the next test.)
      assert.deepEqual(entries.map((e: LogEntry) => e.msg).sort(), ['stopped', 'stopping: draining connections']);
      const stopping = entries.find((e) => e.msg.startsWith('stopping')) as LogEntry;
      assert.equal(stopping.signal, 'SIGTERM');
      assert.equal(stopping.level, INFO);
    });
  });

  it("a handler that throws is logged once with its own message, and its cause as a field of its own with its stack", { timeout: 20_000 }, async () => {
    const app = fileURLToPath(new URL('./fixtures/throwing-app.js', import.meta.url));
    await withCli(['--app', app], async (server) => {
      const client = await connect({ port: server.port });
      await assert.rejects(client.request('throw, please', 5000), ConnectionClosedError);
      const entry = await server.waitForLog((e) => e.msg === 'connection error');
      assert.equal(entry.level, WARN);
      assert.equal(entry.code, 'ERR_HANDLER_FAILED');
      const err = entry.err as Record<string, unknown>;
      assert.equal(err.type, 'HandlerError');
      assert.equal(err.code, 'ERR_HANDLER_FAILED');
      assert.equal(err.callback, 'onMessage');
      // The message is the error's own, which already names its cause: once, not twice.
      assert.equal(err.message, `onMessage handler failed: ${THROWN_MESSAGE}`);
      assert.match(String(err.stack), /^HandlerError: onMessage handler failed: boom\n\s+at /);
      assert.doesNotMatch(String(err.stack), /caused by/);
      const cause = err.cause as Record<string, unknown>;
      assert.equal(cause.type, 'Error');
      assert.equal(cause.message, THROWN_MESSAGE);
      assert.match(String(cause.stack), /^Error: boom\n\s+at .*throwing-app\.js/);
    });
  });

  it('the stop lines reach stdout complete and in order, even while the app keeps the libuv threadpool busy', { timeout: 20_000 }, async () => {
    // pino writes asynchronously through the threadpool; the CLI exits right after logging "stopped".
    const app = fileURLToPath(new URL('./fixtures/busy-pool-app.js', import.meta.url));
    await withCli(['--app', app], async (server) => {
      const client = await connect({ port: server.port });
      assert.equal((await client.request('echo?', 5000)).toString(), 'echo?');
      // The one threadpool thread is now busy for about a second: log writes queue behind it.
      assert.equal((await client.request('hold the pool', 5000)).toString(), 'holding');
      await client.close();
      // Every line is out once the process has exited.
      assert.equal((await server.stop()).code, 0, server.stderr());
      const entries = server
        .lines()
        .map(parseLogLine)
        .filter((e): e is LogEntry => e !== null);
      assert.deepEqual(
        entries.map((e) => e.msg),
        ['stopping: draining connections', 'stopped'],
        `stdout:\n${server.lines().join('\n')}`,
      );
    }, { env: { UV_THREADPOOL_SIZE: '1' } });
  });
});
