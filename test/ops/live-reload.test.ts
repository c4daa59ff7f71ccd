/**
 * `reload` (and SIGHUP) against a real `start -c FILE --pid-file`: the file is read again, the
 * flags given at start still win, live settings reach the connections already open, a broken
 * file changes nothing, settings that need a restart are reported, and with several reactors
 * every reactor is replaced under connection churn with no failed session. A reload racing a
 * stop never hangs or crashes either.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReloadReport, StatusReport } from '../../src/cli/control-protocol.js';
import { REUSE_PORT_SUPPORT, supportsReusePort } from '../../src/index.js';
import { runCli, withCli, type CliServer } from '../helpers/cli-process.js';
import { Churn } from '../helpers/churn.js';
import { writeVersionedApp } from '../helpers/versioned-app.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';
import { within } from '../helpers/wait.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'reactor-live-reload-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A config file and a pid file of their own for one test. */
function files(name: string, settings: Record<string, unknown>): { config: string; pidFile: string; write(settings: Record<string, unknown>): void } {
  const config = join(dir, `${name}.json`);
  const write = (values: Record<string, unknown>): void => writeFileSync(config, JSON.stringify(values));
  write(settings);
  return { config, pidFile: join(dir, `${name}.pid`), write };
}

async function reload(pidFile: string): Promise<{ code: number | null; report: ReloadReport; stderr: string }> {
  const result = await runCli(['reload', '--json', '--pid-file', pidFile], { timeoutMs: 60_000 });
  return { code: result.code, report: JSON.parse(result.stdout) as ReloadReport, stderr: result.stderr };
}

async function status(pidFile: string): Promise<StatusReport> {
  const result = await runCli(['status', '--json', '--pid-file', pidFile]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as StatusReport;
}

async function served(port: number, message: string): Promise<SeedClient> {
  const client = await SeedClient.connect(port);
  assert.deepEqual(await client.request(message), expectedReply(message));
  return client;
}

/**
 * Connects and asks once: true when served, false when the server closed the connection instead
 * (its reset may even come before the client's connect is reported).
 */
async function isServed(port: number): Promise<boolean> {
  let client: SeedClient;
  try {
    client = await SeedClient.connect(port);
  } catch {
    return false;
  }
  try {
    await client.request('am I served?');
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

describe('ops: reload applies the config file to the running server', { timeout: 120_000 }, () => {
  it('a new idle timeout closes connections that were already open; the report names it', async () => {
    const f = files('idle', { idleTimeout: 300, checkInterval: 60 });
    await withCli(['-c', f.config, '--pid-file', f.pidFile], async (server) => {
      const clients = await Promise.all([served(server.port, 'one'), served(server.port, 'two')]);
      f.write({ idleTimeout: 0.5, checkInterval: 0.1 });
      const { code, report } = await reload(f.pidFile);
      assert.equal(code, 0);
      assert.deepEqual(report, { ok: true, problems: [], applied: ['checkInterval', 'idleTimeout'], restartRequired: [], replaced: [] });
      await within(Promise.all(clients.map((client) => client.closed)), 5000, 'the open connections closed as idle');
    });
  });

  it('a broken file changes nothing (exit 1, the setting named); the last good settings stay in force', async () => {
    const f = files('broken', { maxConnections: 2 });
    await withCli(['-c', f.config, '--pid-file', f.pidFile], async (server) => {
      const held = await Promise.all([served(server.port, 'a'), served(server.port, 'b')]);
      assert.equal(await isServed(server.port), false, 'a third is refused at maxConnections 2');
      f.write({ maxConnections: 'lots' });
      const bad = await reload(f.pidFile);
      assert.equal(bad.code, 1);
      assert.equal(bad.report.ok, false);
      assert.deepEqual(bad.report.problems.map((p) => p.key), ['maxConnections']);
      assert.match(bad.stderr, /maxConnections/);
      writeFileSync(f.config, '{ not json');
      const unreadable = await reload(f.pidFile);
      assert.equal(unreadable.code, 1);
      assert.deepEqual(unreadable.report.problems.map((p) => p.key), ['(file)']);
      assert.equal(await isServed(server.port), false, 'maxConnections 2 still holds');
      await server.waitForLog((entry) => entry.msg === 'reload refused: the settings in force are kept');
      f.write({ maxConnections: 3 });
      const good = await reload(f.pidFile);
      assert.deepEqual(good.report.applied, ['maxConnections']);
      const third = await served(server.port, 'c');
      for (const client of [...held, third]) client.destroy();
    });
  });

  it('settings that need a restart are reported with both values and left as they run; flags given at start win over the file', async () => {
    const f = files('restart', { idleTimeout: 300, codec: 'seed' });
    await withCli(['-c', f.config, '--pid-file', f.pidFile, '--max-connections', '50'], async (server) => {
      f.write({ idleTimeout: 300, codec: 'line', host: '127.0.0.2', port: 1, maxConnections: 1, logLevel: 'warn' });
      const { code, report } = await reload(f.pidFile);
      assert.equal(code, 0);
      assert.deepEqual(report.restartRequired, [
        { key: 'codec', running: 'seed', wanted: 'line' },
        { key: 'host', running: '127.0.0.1', wanted: '127.0.0.2' },
      ]);
      // The port (the test's --port 0) and maxConnections came from flags: the file's values do not apply, so they are no change at all.
      assert.deepEqual(report.applied, ['logLevel']);
      await server.waitForLog((entry) => entry.msg === 'codec changed but needs a restart: the running value stays');
      const human = await runCli(['reload', '--pid-file', f.pidFile]);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /codec/);
      // Still the seed codec on the same port, and more than one connection at a time.
      const clients = await Promise.all([served(server.port, 'x'), served(server.port, 'y')]);
      for (const client of clients) client.destroy();
    });
  });

  it('SIGHUP reloads the file as reload does', async () => {
    const f = files('hangup', { maxConnections: 1 });
    await withCli(['-c', f.config, '--pid-file', f.pidFile], async (server) => {
      const first = await served(server.port, 'first');
      assert.equal(await isServed(server.port), false);
      f.write({ maxConnections: 0 });
      server.kill('SIGHUP');
      const logged = await server.waitForLog((entry) => entry.msg === 'reloaded' && entry.trigger === 'SIGHUP');
      assert.deepEqual(logged.applied, ['maxConnections']);
      const second = await served(server.port, 'second');
      for (const client of [first, second]) client.destroy();
    });
  });

  it('a reload and SIGHUP racing SIGTERM: the server still drains and exits 0, and reload answers or says it is gone', async () => {
    const f = files('race', { idleTimeout: 300 });
    for (const workers of ['1', '2']) {
      await withCli(['-c', f.config, '--pid-file', f.pidFile, '--workers', workers, '--reactor-mode', 'processes'], async (server: CliServer) => {
        f.write({ idleTimeout: 200 });
        const reloading = runCli(['reload', '--json', '--pid-file', f.pidFile], { timeoutMs: 60_000 });
        server.kill('SIGHUP');
        server.kill('SIGTERM');
        const exit = await server.exited;
        assert.deepEqual(exit, { code: 0, signal: null }, server.output());
        const result = await reloading;
        // Answered before the stop (0), refused because the server was stopping (1), or found it gone (3) or silent (4).
        assert.ok([0, 1, 3, 4].includes(result.code ?? -1), `reload exit ${result.code}: ${result.stderr}`);
        assert.throws(() => readFileSync(f.pidFile), { code: 'ENOENT' }, 'the pid file is removed');
      });
    }
  });
});

const MODES = [
  { mode: 'processes', skip: false },
  { mode: 'threads', skip: supportsReusePort() ? false : `needs SO_REUSEPORT (${REUSE_PORT_SUPPORT})` },
] as const;

describe('ops: reload replaces every reactor with no failed connection', { timeout: 120_000 }, () => {
  for (const { mode, skip } of MODES) {
    it(`${mode}: new reactor ids, new application code, zero failed sessions under churn`, { skip }, async () => {
      if (mode === 'threads') {
        // Without it, connections the kernel queued on a closing SO_REUSEPORT listener are reset (docs/deploy.md).
        assert.equal(readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim(), '1', 'net.ipv4.tcp_migrate_req must be 1 (scripts/system-packages.sh sets it)');
      }
      const app = join(dir, `versioned-${mode}.mjs`);
      const writeApp = (version: string): void => writeVersionedApp(app, version);
      writeApp('v1');
      const f = files(`replace-${mode}`, { workers: 2, reactorMode: mode, app, drainTimeout: 5 });
      await withCli(['-c', f.config, '--pid-file', f.pidFile], async (server) => {
        const before = (await status(f.pidFile)).reactors.map((r) => r.id);
        writeApp('v2');
        const churn = new Churn(server.port, 4);
        await within(churn.further(20), 10_000, 'the first sessions');
        const { code, report } = await reload(f.pidFile);
        await within(churn.further(20), 10_000, 'sessions after the reload');
        const result = await churn.stop();
        assert.equal(code, 0, JSON.stringify(report));
        assert.deepEqual(result.failures, [], `${result.failures.length} of ${result.sessions} sessions failed`);
        assert.deepEqual(report.replaced.map((r) => r.from), before);
        const after = (await status(f.pidFile)).reactors.map((r) => r.id);
        assert.deepEqual(report.replaced.map((r) => r.to), after);
        for (const id of after) assert.ok(!before.includes(id), `reactor ${id} is new`);
        const clients = await Promise.all(Array.from({ length: 6 }, () => SeedClient.connect(server.port)));
        const versions = await Promise.all(clients.map((client) => client.request('version?')));
        assert.deepEqual(versions.map(String), Array(6).fill('v2'));
        for (const client of clients) client.destroy();
      }, { readyTimeoutMs: 20_000 });
    });
  }
});
