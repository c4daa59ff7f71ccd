/**
 * Out of file descriptors. libuv sheds connections it cannot accept without telling anyone;
 * the server keeps a reserve of descriptors instead, so a connection that would take one of
 * the last is refused visibly: an error log line with the limit and the count open (at most
 * one a second), reactor_connections_rejected_total{reason="fd-limit"}, onConnectionRejected
 * and a DescriptorLimitError through onListenerError. The connections already open are served
 * throughout, and new ones again once descriptors free up.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { REPLY_PREFIX } from '../../src/index.js';
import { parseLogLine, spawnNode, withCli } from '../helpers/cli-process.js';
import { metric, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

const FD_LIMIT = 80;
const CLIENTS = 150;

interface Attempt {
  socket: net.Socket;
  /** True once the echo came back; false when the server refused (reset) the connection. */
  served: Promise<boolean>;
}

/** Connects and sends `hello`; settles with whether the reply came or the connection was refused. */
function attempt(port: number, framed: boolean): Attempt {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const served = new Promise<boolean>((resolve) => {
    let received = Buffer.alloc(0);
    const expected = framed ? 4 + REPLY_PREFIX.length + 5 : 5;
    socket.once('connect', () => socket.write('hello'));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= expected) resolve(true);
    });
    socket.on('error', () => undefined);
    socket.once('close', () => resolve(false));
  });
  return { socket, served };
}

async function attemptAll(port: number, count: number, framed: boolean): Promise<{ attempts: Attempt[]; served: number; refused: number }> {
  const attempts = Array.from({ length: count }, () => attempt(port, framed));
  const outcomes = await Promise.all(attempts.map((a) => a.served));
  const served = outcomes.filter(Boolean).length;
  return { attempts, served, refused: count - served };
}

async function closeAll(attempts: readonly Attempt[]): Promise<void> {
  await Promise.all(
    attempts.map(async ({ socket }) => {
      if (socket.destroyed) return;
      socket.destroy();
      await once(socket, 'close');
    }),
  );
}

const json = (line: string): Record<string, unknown> | undefined => {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

describe(`faults: out of file descriptors (ulimit -n ${FD_LIMIT}, ${CLIENTS} clients)`, () => {
  it('the CLI logs it with the limit and the count open, counts it in reactor_connections_rejected_total{reason="fd-limit"}, serves the open connections, and new ones once descriptors free up', { timeout: 60_000 }, async () => {
    await withCli(['--metrics-port', '0', '--idle-timeout', '0'], async (server) => {
      const held: Attempt[] = [];
      try {
        assert.equal(server.host, '127.0.0.1');
        const { port } = server;
        const url = (await server.waitForLog((entry) => entry.msg === 'metrics listening')).metrics as string;

        const { attempts, served, refused } = await attemptAll(port, CLIENTS, true);
        held.push(...attempts);
        assert.ok(served > 20, `only ${served} of ${CLIENTS} were served`);
        assert.ok(refused > 0, `all ${CLIENTS} were served under a limit of ${FD_LIMIT}: the limit was never reached`);

        const report = await server.waitForLog((entry) => entry.msg.startsWith('out of file descriptors'));
        assert.equal(report.level, 50, 'logged at error');
        assert.equal(report.code, 'EMFILE');
        assert.equal(report.limit, FD_LIMIT);
        assert.ok((report.open as number) > FD_LIMIT - 16 && (report.open as number) <= FD_LIMIT, `open descriptors reported: ${String(report.open)}`);
        assert.ok((report.refused as number) >= 1);
        const reports = server.lines().filter((line) => parseLogLine(line)?.msg.startsWith('out of file descriptors') === true);
        assert.ok(reports.length <= 3, `rate-limited: ${reports.length} report lines`);

        const samples = await scrape(url);
        assert.equal(metric(samples, 'reactor_connections_rejected_total', { reactor: '0', reason: 'fd-limit' }), refused, 'every refusal is counted');
        assert.equal(metric(samples, 'reactor_connections', { reactor: '0' }), served);
        // The connections that got in are still served.
        const again = await Promise.all(held.filter((a) => !a.socket.destroyed).map((a) => new Promise<boolean>((resolve) => {
          a.socket.once('data', () => resolve(true));
          a.socket.once('close', () => resolve(false));
          a.socket.write('again');
        })));
        assert.equal(again.filter(Boolean).length, served);

        await closeAll(held.splice(0));
        // The server's side of each close happens in its own process: poll its gauge, bounded.
        await waitUntil(async () => metric(await scrape(url), 'reactor_connections', { reactor: '0' }) === 0, 'the server to see every client gone', 10_000, 25);
        const after = await attemptAll(port, 20, true);
        held.push(...after.attempts);
        assert.equal(after.served, 20, 'service resumes once descriptors are free');
      } finally {
        await closeAll(held);
      }
    }, { fdLimit: FD_LIMIT });
  });

  it('a NetServer reports it through onListenerError (DescriptorLimitError, code EMFILE) and onConnectionRejected (fd-limit)', { timeout: 60_000 }, async () => {
    const fixture = new URL('./fixtures/descriptor-limit-server.js', import.meta.url).pathname;
    const server = spawnNode([fixture], { fdLimit: FD_LIMIT, stdin: 'pipe' });
    const held: Attempt[] = [];
    try {
      const port = Number(json(await server.waitForLine((line) => json(line)?.event === 'listening'))?.port);
      const { attempts, served, refused } = await attemptAll(port, CLIENTS, false);
      held.push(...attempts);
      assert.ok(refused > 0 && served > 20, `served ${served}, refused ${refused}`);
      const error = json(await server.waitForLine((line) => json(line)?.event === 'listenerError')) ?? {};
      assert.equal(error.name, 'DescriptorLimitError');
      assert.equal(error.code, 'EMFILE');
      assert.equal(error.limit, FD_LIMIT);
      assert.match(String(error.message), /out of file descriptors \(\d+ of 80 open\)/);
      server.child.stdin!.write('stats\n');
      const stats = json(await server.waitForLine((line) => json(line)?.event === 'stats')) ?? {};
      assert.deepEqual(stats.rejected, { 'fd-limit': refused });
      assert.equal(stats.connections, served);
      assert.equal(server.lines().filter((line) => json(line)?.event === 'rejected' && json(line)?.reason === 'fd-limit').length, refused);
    } catch (err) {
      // The failure is the report; the fixture is not asked to stop cleanly.
      await closeAll(held);
      await server.stop('SIGKILL');
      throw err;
    }
    await closeAll(held);
    // Its stdin closing is the fixture's cue to stop.
    server.child.stdin!.end();
    assert.equal((await server.exited).code, 0, server.stderr());
  });
});
