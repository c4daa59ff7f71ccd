/**
 * `status` and `stop` against a real `start --pid-file`: status exit 0 with a summary (and
 * `--json` with the right numbers) for one reactor and for two reactor processes, 3 when not
 * running or stale, 4 when the process runs but its control socket does not answer; stop
 * exit 0 with the process gone and its pid file removed, exit 0 when not running, and, for a
 * server still draining past `--timeout`, exit 1 without killing it, then `--force` kills it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPLY_PREFIX, connect, type Client } from '../../src/index.js';
import type { StatusReport } from '../../src/cli/control-protocol.js';
import { runCli, spawnNode, startCli, withCli, type CliResult } from '../helpers/cli-process.js';
import { metric, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'reactor-ops-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function pidPaths(): { pidFile: string; socket: string } {
  files++;
  return { pidFile: join(dir, `s${files}.pid`), socket: join(dir, `s${files}.sock`) };
}

type JsonStatus = StatusReport & { running: true };

async function statusJson(pidFile: string): Promise<JsonStatus> {
  const result = await runCli(['status', '--json', '--pid-file', pidFile]);
  assert.equal(result.code, 0, `status --json: ${result.stdout}${result.stderr}`);
  return JSON.parse(result.stdout) as JsonStatus;
}

/** Two clients, each with a round trip behind it: by then every reactor has counted its connection. */
async function twoClients(port: number): Promise<Client[]> {
  const clients = await Promise.all([connect({ port }), connect({ port })]);
  for (const [i, client] of clients.entries()) assert.equal((await client.request(`hello ${i}`, 5000)).toString(), `${REPLY_PREFIX}hello ${i}`);
  return clients;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function assertOneLine(result: CliResult, stream: 'stdout' | 'stderr', pattern: RegExp): void {
  assert.match(result[stream], pattern);
  assert.equal(result[stream].split('\n').length, 2, `one line on ${stream}: ${JSON.stringify(result[stream])}`);
}

describe('ops: status', { timeout: 60_000 }, () => {
  it('exit 3 with the reason when not running: no pid file, a stale one; --json says running false', async () => {
    const { pidFile } = pidPaths();
    const none = await runCli(['status', '--pid-file', pidFile]);
    assert.equal(none.code, 3);
    assertOneLine(none, 'stdout', new RegExp(`^not running: no pid file ${pidFile}\\n$`));

    const child = spawnNode(['-e', '']);
    await child.exited;
    writeFileSync(pidFile, `${child.pid}\n`);
    const stale = await runCli(['status', '--pid-file', pidFile]);
    assert.equal(stale.code, 3);
    assertOneLine(stale, 'stdout', new RegExp(`^not running: stale pid file ${pidFile}: no process ${child.pid}\\n$`));
    const json = await runCli(['status', '--json', '--pid-file', pidFile]);
    assert.equal(json.code, 3);
    assert.deepEqual(JSON.parse(json.stdout), { running: false, reason: `stale pid file ${pidFile}: no process ${child.pid}` });
  });

  it('one reactor, two clients: exit 0 with a summary; --json has the pid, version, address, connections and the inline reactor', async () => {
    const { pidFile } = pidPaths();
    await withCli(['--pid-file', pidFile, '--drain-timeout', '7'], async (server) => {
      const clients = await twoClients(server.port);
      try {
        const human = await runCli(['status', '--pid-file', pidFile]);
        assert.equal(human.code, 0, human.stderr);
        const [head, reactor, ...rest] = human.stdout.split('\n');
        assert.match(head!, new RegExp(`^running: pid ${server.pid}, version ${VERSION.replace(/\./g, '\\.')}, up [\\d.]+ s, listening on 127\\.0\\.0\\.1:${server.port}, 2 connections$`));
        assert.equal(reactor, `  reactor 0: inline ${server.pid}, serving, 2 connections`);
        assert.deepEqual(rest, ['']);

        const report = await statusJson(pidFile);
        assert.ok(report.uptimeSeconds > 0 && report.uptimeSeconds < 60, `uptime ${report.uptimeSeconds}`);
        assert.deepEqual(
          { ...report, uptimeSeconds: 0 },
          {
            running: true,
            pid: server.pid,
            version: VERSION,
            uptimeSeconds: 0,
            address: `127.0.0.1:${server.port}`,
            draining: false,
            connections: 2,
            drainTimeoutSeconds: 7,
            reactors: [{ index: 0, kind: 'inline', id: server.pid, serving: true, connections: 2 }],
          },
        );
        // Through REACTOR_PID_FILE instead of the flag.
        const byEnv = await runCli(['status'], { env: { REACTOR_PID_FILE: pidFile } });
        assert.equal(byEnv.code, 0, byEnv.stderr);
        assert.match(byEnv.stdout, new RegExp(`^running: pid ${server.pid},`));
      } finally {
        for (const client of clients) client.destroy();
      }
    });
  });

  it('--workers 2 --reactor-mode processes: both reactor processes, their connections summed', async () => {
    const { pidFile } = pidPaths();
    let reactorPids: number[] = [];
    await withCli(['--pid-file', pidFile, '--workers', '2', '--reactor-mode', 'processes'], async (server) => {
      const clients = await twoClients(server.port);
      try {
        const report = await statusJson(pidFile);
        assert.equal(report.pid, server.pid, 'the primary');
        assert.deepEqual(report.reactors.map((r) => [r.index, r.kind, r.serving]), [
          [0, 'process', true],
          [1, 'process', true],
        ]);
        reactorPids = report.reactors.map((r) => r.id);
        assert.equal(new Set([...reactorPids, server.pid]).size, 3, `the reactors are processes of their own: ${reactorPids.join(', ')}`);
        for (const pid of reactorPids) assert.ok(isAlive(pid), `reactor process ${pid} lives`);
        assert.equal(report.connections, 2);
        assert.equal(report.reactors.reduce((sum, r) => sum + r.connections, 0), 2);
        const human = await runCli(['status', '--pid-file', pidFile]);
        assert.equal(human.code, 0);
        for (const r of report.reactors) assert.match(human.stdout, new RegExp(`^  reactor ${r.index}: process ${r.id}, serving, ${r.connections} connections?$`, 'm'));
      } finally {
        for (const client of clients) client.destroy();
      }
    }, { readyTimeoutMs: 20_000 });
    for (const pid of reactorPids) assert.equal(isAlive(pid), false, `reactor process ${pid} ended with the server`);
  });

  it('exit 4 when the process runs but its control socket does not answer: gone, or silent past --timeout', async () => {
    const { pidFile, socket } = pidPaths();
    await withCli(['--pid-file', pidFile], async (server) => {
      unlinkSync(socket);
      const gone = await runCli(['status', '--pid-file', pidFile]);
      assert.equal(gone.code, 4, gone.stdout);
      assertOneLine(gone, 'stderr', new RegExp(`^reactor-server: pid ${server.pid} runs, but control socket ${socket}: cannot connect: ENOENT\\n$`));

      // Something that accepts and never answers.
      const silent = net.createServer(() => {});
      silent.listen(socket);
      await once(silent, 'listening');
      try {
        const late = await runCli(['status', '--json', '--timeout', '0.3', '--pid-file', pidFile]);
        assert.equal(late.code, 4);
        const reason = `pid ${server.pid} runs, but control socket ${socket}: no answer to status within 0.3 s`;
        assert.deepEqual(JSON.parse(late.stdout), { running: true, pid: server.pid, answered: false, reason });
        assert.equal(late.stderr, `reactor-server: ${reason}\n`);
      } finally {
        silent.close();
      }
    });
  });

  it('needs --pid-file (or REACTOR_PID_FILE)', async () => {
    for (const command of ['status', 'stop', 'reload']) {
      const result = await runCli([command]);
      assert.equal(result.code, 1, command);
      assert.match(result.stderr, /required option '--pid-file <file>' not specified/);
    }
  });
});

describe('ops: stop', { timeout: 90_000 }, () => {
  it('SIGTERM, then exit 0 once the process is gone; its pid file and socket are removed', async () => {
    const { pidFile, socket } = pidPaths();
    const server = await startCli(['--pid-file', pidFile]);
    try {
      const stop = await runCli(['stop', '--pid-file', pidFile], { timeoutMs: 20_000 });
      assert.equal(stop.code, 0, stop.stderr);
      assert.equal(stop.stdout, `stopped: pid ${server.pid}\n`);
      assert.equal(isAlive(server.pid), false, 'gone by the time stop exits');
      assert.deepEqual(await server.exited, { code: 0, signal: null }, 'a graceful stop');
      assert.equal(existsSync(pidFile), false);
      assert.equal(existsSync(socket), false);
      assert.match(server.stdout(), /"signal":"SIGTERM"/);
    } finally {
      await server.stop('SIGKILL');
    }
  });

  it('exit 0 when not running (a stop of a stopped server succeeds), and never signals a pid that is not a server', async () => {
    const { pidFile } = pidPaths();
    const none = await runCli(['stop', '--pid-file', pidFile]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, `not running: no pid file ${pidFile}\n`);
    // This test's own pid: alive, and not a server, so not stopped.
    writeFileSync(pidFile, `${process.pid}\n`);
    const other = await runCli(['stop', '--pid-file', pidFile]);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stdout, /^not running: stale pid file .*: pid \d+ is another program/);
  });

  it('a connection mid-message keeps the drain going: --timeout shorter fails (exit 1) and leaves it draining; --force then kills it', async () => {
    const { pidFile, socket } = pidPaths();
    const server = await startCli(['--pid-file', pidFile, '--codec', 'length', '--drain-timeout', '60', '--metrics-port', '0']);
    const partial = net.connect(server.port, '127.0.0.1');
    try {
      const url = (await server.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
      await once(partial, 'connect');
      // A 100-byte frame of which 2 bytes arrive: the connection is never quiescent.
      const header = Buffer.alloc(4);
      header.writeUInt32LE(100);
      partial.write(Buffer.concat([header, Buffer.from('ab')]));
      await waitUntil(async () => (metric(await scrape(url), 'reactor_buffered_input_bytes', { reactor: '0' }) ?? 0) > 0, 'the server to hold the partial frame', 5000, 20);

      const early = await runCli(['stop', '--timeout', '0.5', '--pid-file', pidFile]);
      assert.equal(early.code, 1, early.stdout);
      assertOneLine(early, 'stderr', new RegExp(`^reactor-server: pid ${server.pid} still running after 0\\.5 s \\(still draining\\); --timeout waits longer, --force kills it\\n$`));
      assert.equal(isAlive(server.pid), true, 'not killed');
      const draining = await statusJson(pidFile);
      assert.equal(draining.draining, true);
      assert.equal(draining.connections, 1);
      assert.equal(existsSync(pidFile), true);

      const forced = await runCli(['stop', '--timeout', '0.5', '--force', '--pid-file', pidFile], { timeoutMs: 20_000 });
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.stdout, `pid ${server.pid} is already stopping: waiting up to 0.5 s\nkilled: pid ${server.pid}\n`);
      assertOneLine(forced, 'stderr', new RegExp(`^reactor-server: warning: pid ${server.pid} did not stop within 0\\.5 s: killing it \\(SIGKILL\\); its open connections are reset\\n$`));
      // Not a second SIGTERM (which would end a draining server at once): SIGKILL, after the wait.
      assert.deepEqual(await server.exited, { code: null, signal: 'SIGKILL' });
      assert.equal(existsSync(pidFile), false, 'the killed server\'s pid file is removed');
      assert.equal(existsSync(socket), false, 'and its control socket');
    } finally {
      partial.destroy();
      await server.stop('SIGKILL');
    }
  });
});
