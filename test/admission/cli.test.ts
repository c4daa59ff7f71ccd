/**
 * Admission control from the command line: the flags, their REACTOR_* variables and config
 * keys reach the server (one reactor and a processes group), refusals are counted in
 * reactor_connections_rejected_total and logged at debug only, and bad ranges are refused by
 * validate, config and start, naming the setting.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLogLine, runCli, withCli, type CliServer } from '../helpers/cli-process.js';
import { metric, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';
import type { SeedClient } from '../helpers/seed-client.js';
import { closeAll, refused, served } from './support.js';

let dir = '';

async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(content));
  return path;
}

async function metricsUrl(server: CliServer): Promise<string> {
  const entry = await server.waitForLog((e) => e.msg === 'metrics listening' && typeof e.metrics === 'string');
  return entry.metrics as string;
}

const REASONS = ['max-connections', 'fd-limit', 'deny', 'allow', 'per-ip', 'rate'];

describe('admission: the CLI', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reactor-admission-'));
  }, { timeout: 5000 });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  }, { timeout: 5000 });

  it('flags: refusals counted by reason in reactor_connections_rejected_total, logged at debug with the peer', { timeout: 30_000 }, async () => {
    await withCli(['--max-connections-per-ip', '1', '--deny', '127.5.0.99', '--metrics-port', '0', '--log-level', 'debug'], async (server) => {
      const url = await metricsUrl(server);
      const first = await served(server.port, '127.5.0.1');
      try {
        await refused(server.port, '127.5.0.1');
        await refused(server.port, '127.5.0.99');
        const samples = await waitUntil(async () => {
          const s = await scrape(url);
          return metric(s, 'reactor_connections_rejected_total', { reactor: '0', reason: 'deny' }) === 1 ? s : null;
        }, 'the deny refusal counted', 5000, 50);
        for (const reason of REASONS) {
          const expected = reason === 'per-ip' || reason === 'deny' ? 1 : 0;
          assert.equal(metric(samples, 'reactor_connections_rejected_total', { reactor: '0', reason }), expected, reason);
        }
        const line = await server.waitForLog((e) => e.msg === 'connection rejected' && e.reason === 'per-ip');
        assert.equal(line.level, 20, 'debug');
        assert.match(String(line.peer), /^127\.5\.0\.1:\d+$/);
        await server.waitForLog((e) => e.msg === 'connection rejected' && e.reason === 'deny' && String(e.peer).startsWith('127.5.0.99:'));
      } finally {
        await closeAll([first]);
      }
    });
  });

  it('at the default log level, admission refusals are counted but not logged', { timeout: 30_000 }, async () => {
    let lines: string[] = [];
    await withCli(['--allow', '127.5.1.0/24', '--metrics-port', '0'], async (server) => {
      const url = await metricsUrl(server);
      for (let i = 0; i < 20; i++) await refused(server.port, `127.5.2.${i + 1}`);
      await closeAll([await served(server.port, '127.5.1.1')]);
      await waitUntil(async () => metric(await scrape(url), 'reactor_connections_rejected_total', { reactor: '0', reason: 'allow' }) === 20, 'the refusals counted', 5000, 50);
      lines = server.lines();
    });
    assert.deepEqual(
      lines.map(parseLogLine).filter((entry) => entry?.msg === 'connection rejected'),
      [],
    );
  });

  it('REACTOR_* variables and a config file set the admission options; flags win', { timeout: 30_000 }, async () => {
    const path = await file('admission.json', { allow: ['127.0.0.0/8', '::1'], maxConnectionsPerIp: 7, maxMessagesPerSecond: 100, maxTrackedAddresses: 1000 });
    const result = await runCli(['config', '-c', path, '--sources', '--max-messages-per-second', '50'], {
      env: { REACTOR_DENY: '127.5.3.0/24', REACTOR_CONNECT_RATE_PER_IP: '9' },
    });
    assert.equal(result.code, 0, result.stderr);
    const settings = JSON.parse(result.stdout) as Record<string, { value: unknown; source: string }>;
    assert.deepEqual(settings.allow, { value: ['127.0.0.0/8', '::1'], source: 'config' });
    assert.deepEqual(settings.deny, { value: '127.5.3.0/24', source: 'env' });
    assert.deepEqual(settings.maxConnectionsPerIp, { value: 7, source: 'config' });
    assert.deepEqual(settings.connectRatePerIp, { value: 9, source: 'env' });
    assert.deepEqual(settings.maxMessagesPerSecond, { value: 50, source: 'cli' });
    assert.deepEqual(settings.maxTrackedAddresses, { value: 1000, source: 'config' });

    await withCli(['-c', path], async (server) => {
      await refused(server.port, '127.5.3.1');
      const clients: SeedClient[] = [];
      try {
        for (let i = 0; i < 7; i++) clients.push(await served(server.port, '127.5.4.1'));
        await refused(server.port, '127.5.4.1');
      } finally {
        await closeAll(clients);
      }
    }, { env: { REACTOR_DENY: '127.5.3.0/24' } });
  });

  it('--workers 2 --reactor-mode processes: the per-address limit counts both reactors', { timeout: 60_000 }, async () => {
    await withCli(['--workers', '2', '--reactor-mode', 'processes', '--max-connections-per-ip', '3', '--metrics-port', '0'], async (server) => {
      const url = await metricsUrl(server);
      const clients: SeedClient[] = [];
      try {
        for (let i = 0; i < 3; i++) clients.push(await served(server.port, '127.5.5.1'));
        await refused(server.port, '127.5.5.1');
        const samples = await waitUntil(async () => {
          const s = await scrape(url);
          const perIp = ['0', '1'].map((reactor) => metric(s, 'reactor_connections_rejected_total', { reactor, reason: 'per-ip' }) ?? 0);
          return perIp[0]! + perIp[1]! === 1 ? s : null;
        }, 'the refusal counted', 5000, 50);
        assert.equal((metric(samples, 'reactor_connections', { reactor: '0' }) ?? 0) + (metric(samples, 'reactor_connections', { reactor: '1' }) ?? 0), 3);
      } finally {
        await closeAll(clients);
      }
    });
  });

  describe('bad settings are refused naming the setting', () => {
    const cases: { flags: string[]; file: Record<string, unknown>; key: string; why: RegExp }[] = [
      { flags: ['--allow', '10.0.0.1/8'], file: { allow: '10.0.0.1/8' }, key: 'allow', why: /entry "10\.0\.0\.1\/8" has address bits set past its prefix length \(the range is 10\.0\.0\.0\/8\)/ },
      { flags: ['--deny', '127.0.0.1,300.1.1.1'], file: { deny: ['127.0.0.1', '300.1.1.1'] }, key: 'deny', why: /entry "300\.1\.1\.1" is not an IPv4 or IPv6 address or CIDR range/ },
      { flags: ['--max-connections-per-ip', '70000'], file: { maxConnectionsPerIp: 70000 }, key: 'maxConnectionsPerIp', why: /from 0 to 65535, got 70000/ },
      { flags: ['--max-tracked-addresses', '99999999'], file: { maxTrackedAddresses: 99999999 }, key: 'maxTrackedAddresses', why: /from 1 to 4194304, got 99999999/ },
    ];

    it('validate', { timeout: 30_000 }, async () => {
      const paths = await Promise.all(cases.map((c, i) => file(`bad-${i}.json`, c.file)));
      const results = await Promise.all(paths.map((path) => runCli(['validate', '-c', path])));
      for (const [i, { key, why }] of cases.entries()) {
        const result = results[i]!;
        assert.equal(result.code, 1, `${paths[i]}: ${result.stdout}`);
        assert.match(result.stderr, new RegExp(`${paths[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${key}: .*${why.source}`), result.stderr);
      }
    });

    it('start and config', { timeout: 30_000 }, async () => {
      const results = await Promise.all(cases.flatMap(({ flags }) => [runCli(['start', '--port', '0', ...flags]), runCli(['config', ...flags])]));
      for (const [i, { flags, key, why }] of cases.entries()) {
        const [start, config] = [results[2 * i]!, results[2 * i + 1]!];
        assert.equal(start.code, 1, `start ${flags.join(' ')}: ${start.stdout}`);
        assert.doesNotMatch(start.stdout, /listening on/);
        assert.match(start.stderr, new RegExp(`cannot start on 127\\.0\\.0\\.1:\\d+: invalid option ${key}: .*${why.source}`), start.stderr);
        assert.equal(config.code, 1);
        assert.match(config.stderr, new RegExp(`invalid option ${key}: .*${why.source}`), config.stderr);
      }
    });

    it('a config value of the wrong type', { timeout: 30_000 }, async () => {
      const path = await file('wrong-type.json', { allow: 7, maxMessagesPerSecond: -1 });
      const result = await runCli(['validate', '-c', path]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /: allow: must be a comma-separated string of addresses and CIDR ranges, or an array of them/);
      assert.match(result.stderr, /: maxMessagesPerSecond: /);
    });
  });
});
