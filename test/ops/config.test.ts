/**
 * Config files: `validate -c FILE`, `config -c FILE [--sources]` and precedence
 * (defaults < file < REACTOR_* environment < flags), byte sizes, and `start -c FILE` using (or
 * refusing) the file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPLY_PREFIX, connect, maxReactorCount, supportsReusePort } from '../../src/index.js';
import { runCli, startCli, type CliResult, withCli } from '../helpers/cli-process.js';
import { within } from '../helpers/wait.js';

let dir = '';

/** Writes `content` (an object as JSON, or raw text) to a file of the temp dir and returns its path. */
async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

interface Sourced {
  value: unknown;
  source: string;
}

/** `config ... --sources`, parsed. */
async function sources(args: string[], env: Record<string, string> = {}): Promise<Record<string, Sourced>> {
  const result = await runCli(['config', ...args, '--sources'], { env });
  assert.equal(result.code, 0, `config failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, Sourced>;
}

/** The stderr lines of a failed run, each `<prefix><file>: <key>: <why>`, as key → why. */
function problems(stderr: string, path: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    const at = line.indexOf(`${path}: `);
    if (at === -1) continue;
    const rest = line.slice(at + path.length + 2);
    const colon = rest.indexOf(': ');
    if (colon !== -1) found.set(rest.slice(0, colon), rest.slice(colon + 2));
  }
  return found;
}

describe('ops: config files', () => {
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'reactor-ops-config-'));
  }, { timeout: 5000 });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  }, { timeout: 5000 });

  it('validate accepts a good file: exit 0, "valid" on stdout, nothing on stderr', { timeout: 15_000 }, async () => {
    const path = await file('good.json', {
      host: '127.0.0.1',
      port: 9000,
      workers: 'auto',
      codec: 'line',
      idleTimeout: 30,
      checkInterval: 0.5,
      maxMessageBytes: '64K',
      highWaterMark: '1M',
      lowWaterMark: 65536,
      maxPendingOutput: '8M',
      logLevel: 'debug',
      metricsPort: 0,
    });
    const result = await runCli(['validate', '-c', path]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${path}: valid\n`);
    assert.equal(result.stderr, '');
  });

  it('validate rejects a bad file, naming every bad key and why', { timeout: 15_000 }, async () => {
    const path = await file('bad.json', {
      codec: 'line',
      bogusSetting: true,
      idleTimeout: 'soon',
      port: 70000,
      maxMessageBytes: '12Q',
    });
    const result = await runCli(['validate', '-c', path]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    const found = problems(result.stderr, path);
    assert.deepEqual([...found.keys()].sort(), ['bogusSetting', 'idleTimeout', 'maxMessageBytes', 'port'], result.stderr);
    assert.match(found.get('bogusSetting') ?? '', /unknown setting/);
    assert.match(found.get('idleTimeout') ?? '', /expected number, received string/);
    assert.match(found.get('port') ?? '', /65535/);
    assert.match(found.get('maxMessageBytes') ?? '', /size such as "64K"/);
  });

  it('validate applies the cross-field rule lowWaterMark <= highWaterMark', { timeout: 15_000 }, async () => {
    const path = await file('cross.json', { highWaterMark: '64K', lowWaterMark: '1M' });
    const okPath = await file('cross-ok.json', { highWaterMark: '1M', lowWaterMark: '64K' });
    const [result, ok] = await Promise.all([runCli(['validate', '-c', path]), runCli(['validate', '-c', okPath])]);
    assert.equal(result.code, 1);
    const found = problems(result.stderr, path);
    assert.deepEqual([...found.keys()], ['lowWaterMark'], result.stderr);
    // The message gives the limit (highWaterMark, 64K) and the value (1M) in bytes.
    assert.match(found.get('lowWaterMark') ?? '', /65536.*1048576/);

    // The same values the right way round are fine.
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('validate reports a missing, unreadable, non-JSON or non-object file with a message and exit 1', { timeout: 20_000 }, async () => {
    const subdir = join(dir, 'a-directory.json');
    await mkdir(subdir);
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.json'), /ENOENT/],
      [subdir, /EISDIR/],
      [await file('broken.json', '{"port": 9000,'), /JSON/],
      [await file('empty.json', ''), /JSON/],
      [await file('array.json', '[1, 2]'), /\(file\): .*expected object/],
    ];
    const results = await Promise.all(cases.map(([path]) => runCli(['validate', '-c', path])));
    for (const [i, [path, why]] of cases.entries()) {
      const result = results[i] as CliResult;
      assert.equal(result.code, 1, `${path}: exit ${result.code}`);
      assert.equal(result.stdout, '');
      assert.ok(result.stderr.includes(path), `${path}: stderr does not name the file: ${result.stderr}`);
      assert.match(result.stderr, why);
    }
  });

  it('config --sources: file beats default, env beats file, flag beats env', { timeout: 20_000 }, async () => {
    const path = await file('precedence.json', { idleTimeout: 30, checkInterval: 5, drainTimeout: 3, maxConnections: 100 });

    const env = { REACTOR_CHECK_INTERVAL: '7', REACTOR_DRAIN_TIMEOUT: '4', REACTOR_CODEC: 'length' };
    // Independent runs: in parallel.
    const [fileOnly, withEnv, withFlags, viaEnv, plain] = await Promise.all([
      sources(['-c', path]),
      sources(['-c', path], env),
      sources(['-c', path, '--drain-timeout', '9', '--max-connections', '5'], env),
      // REACTOR_CONFIG names the file too.
      sources([], { REACTOR_CONFIG: path }),
      runCli(['config', '-c', path, '--drain-timeout', '9'], { env }),
    ]);
    assert.deepEqual(fileOnly.idleTimeout, { value: 30, source: 'config' });
    assert.deepEqual(fileOnly.checkInterval, { value: 5, source: 'config' });
    assert.deepEqual(fileOnly.drainTimeout, { value: 3, source: 'config' });
    assert.deepEqual(fileOnly.maxConnections, { value: 100, source: 'config' });
    // Not in the file: defaults.
    assert.deepEqual(fileOnly.port, { value: 8888, source: 'default' });
    assert.deepEqual(fileOnly.codec, { value: 'seed', source: 'default' });
    assert.deepEqual(fileOnly.logLevel, { value: 'info', source: 'default' });

    assert.deepEqual(withEnv.idleTimeout, { value: 30, source: 'config' });
    assert.deepEqual(withEnv.checkInterval, { value: 7, source: 'env' });
    assert.deepEqual(withEnv.drainTimeout, { value: 4, source: 'env' });
    assert.deepEqual(withEnv.codec, { value: 'length', source: 'env' });

    assert.deepEqual(withFlags.idleTimeout, { value: 30, source: 'config' });
    assert.deepEqual(withFlags.checkInterval, { value: 7, source: 'env' });
    assert.deepEqual(withFlags.drainTimeout, { value: 9, source: 'cli' });
    assert.deepEqual(withFlags.maxConnections, { value: 5, source: 'cli' });
    assert.deepEqual(withFlags.port, { value: 8888, source: 'default' });

    assert.deepEqual(viaEnv.idleTimeout, { value: 30, source: 'config' });

    // Without --sources: the plain effective values.
    assert.equal(plain.code, 0, plain.stderr);
    const values = JSON.parse(plain.stdout) as Record<string, unknown>;
    assert.equal(values.idleTimeout, 30);
    assert.equal(values.checkInterval, 7);
    assert.equal(values.drainTimeout, 9);
  });

  it('byte sizes accept "64K" / "1M" strings in files, flags and the environment', { timeout: 20_000 }, async () => {
    const path = await file('sizes.json', { maxMessageBytes: '64K', highWaterMark: '2M', lowWaterMark: '1m', maxPendingOutput: 33554432 });
    const [fromFile, fromFlags, badFlag] = await Promise.all([
      sources(['-c', path]),
      sources(['--max-message-bytes', '64K', '--high-water-mark', '1M', '--low-water-mark', '512K'], { REACTOR_MAX_PENDING_OUTPUT: '4M' }),
      runCli(['config', '--max-message-bytes', '64X']),
    ]);
    assert.deepEqual(fromFile.maxMessageBytes, { value: 64 * 1024, source: 'config' });
    assert.deepEqual(fromFile.highWaterMark, { value: 2 * 1024 * 1024, source: 'config' });
    assert.deepEqual(fromFile.lowWaterMark, { value: 1024 * 1024, source: 'config' });
    assert.deepEqual(fromFile.maxPendingOutput, { value: 32 * 1024 * 1024, source: 'config' });

    assert.deepEqual(fromFlags.maxMessageBytes, { value: 65536, source: 'cli' });
    assert.deepEqual(fromFlags.highWaterMark, { value: 1048576, source: 'cli' });
    assert.deepEqual(fromFlags.lowWaterMark, { value: 524288, source: 'cli' });
    assert.deepEqual(fromFlags.maxPendingOutput, { value: 4194304, source: 'env' });

    assert.notEqual(badFlag.code, 0);
    assert.match(badFlag.stderr, /--max-message-bytes/);
  });

  it('the bound on unfinished input comes from a file, a flag or REACTOR_MAX_BUFFERED_INPUT; unset, config shows the default that follows maxMessageBytes', { timeout: 20_000 }, async () => {
    const path = await file('buffered.json', { maxBufferedInput: '64M' });
    const tooSmall = await file('buffered-small.json', { maxMessageBytes: '1M', maxBufferedInput: '1M' });
    const [fromFile, fromFlag, fromEnv, unset, followsMax, invalid, badStart] = await Promise.all([
      sources(['-c', path]),
      sources(['-c', path, '--max-buffered-input', '32M']),
      sources([], { REACTOR_MAX_BUFFERED_INPUT: '48M' }),
      sources([]),
      sources(['--max-message-bytes', '200M']),
      runCli(['validate', '-c', tooSmall]),
      runCli(['start', '--port', '0', '--max-buffered-input', '1M']),
    ]);
    assert.deepEqual(fromFile.maxBufferedInput, { value: 64 * 1024 * 1024, source: 'config' });
    assert.deepEqual(fromFlag.maxBufferedInput, { value: 32 * 1024 * 1024, source: 'cli' });
    assert.deepEqual(fromEnv.maxBufferedInput, { value: 48 * 1024 * 1024, source: 'env' });
    assert.deepEqual(unset.maxBufferedInput, { value: 256 * 1024 * 1024, source: 'default' });
    assert.deepEqual(followsMax.maxBufferedInput, { value: 400 * 1024 * 1024, source: 'default' });

    assert.equal(invalid.code, 1);
    assert.match(problems(invalid.stderr, tooSmall).get('maxBufferedInput') ?? '', /from 2097152 \(twice maxMessageBytes\).*got 1048576/, invalid.stderr);
    assert.equal(badStart.code, 1);
    assert.match(badStart.stderr, /invalid option maxBufferedInput: must be an integer from 2097152/);
    assert.doesNotMatch(badStart.stdout, /listening on/);
  });

  it('start -c bad.json exits 1 naming the key, and never serves', { timeout: 20_000 }, async () => {
    const bad = await file('start-bad.json', { port: 0, idleTimeout: -5, bogus: 1 });
    const cross = await file('start-cross.json', { port: 0, highWaterMark: '64K', lowWaterMark: '128K' });
    const [result, crossResult, missing] = await Promise.all([
      runCli(['start', '-c', bad], { timeoutMs: 10_000 }),
      runCli(['start', '-c', cross], { timeoutMs: 10_000 }),
      runCli(['start', '-c', join(dir, 'nope.json')], { timeoutMs: 10_000 }),
    ]);
    assert.equal(result.code, 1, `exit ${result.code} ${result.signal}: ${result.stderr}`);
    assert.doesNotMatch(result.stdout, /listening on/);
    assert.match(result.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: idleTimeout: .*>=0`));
    assert.match(result.stderr, /: bogus: unknown setting/);

    assert.equal(crossResult.code, 1, crossResult.stderr);
    // The rule between settings is checked on the merged values, before anything starts.
    assert.match(crossResult.stderr, /invalid option lowWaterMark: /);

    assert.equal(missing.code, 1, missing.stderr);
    assert.match(missing.stderr, /nope\.json: \(file\): .*ENOENT/);
  });

  it('precedence applies before the cross-field rule: a flag or env var lowering lowWaterMark below the file\'s highWaterMark is honoured', { timeout: 20_000 }, async () => {
    // Alone, this file breaks the rule against the default lowWaterMark (256K > 128K)...
    const path = await file('high-only.json', { highWaterMark: '128K' });
    // ...but the flag sets lowWaterMark to 64K, so the effective configuration is valid, as the
    // same two values given as flags are (`start --high-water-mark 128K --low-water-mark 64K` serves).
    const shown = await runCli(['config', '-c', path, '--low-water-mark', '64K', '--sources']);
    assert.equal(shown.code, 0, `config refused a valid effective configuration: ${shown.stderr}`);
    const values = JSON.parse(shown.stdout) as Record<string, Sourced>;
    assert.deepEqual(values.highWaterMark, { value: 131072, source: 'config' });
    assert.deepEqual(values.lowWaterMark, { value: 65536, source: 'cli' });

    const server = await startCli(['-c', path], { env: { REACTOR_LOW_WATER_MARK: '64K' } }).catch((err: unknown) => err as Error);
    assert.ok(!(server instanceof Error), `start refused a valid effective configuration: ${server instanceof Error ? server.message : ''}`);
    assert.equal((await server.stop()).code, 0);
  });

  it("start -c file.json serves with the file's settings (codec line, maxMessageBytes \"1K\")", { timeout: 20_000 }, async () => {
    const path = await file('line.json', { codec: 'line', maxMessageBytes: '1K', port: 1 });
    // --port 0 (a flag) beats the file's port 1.
    await withCli(['-c', path], async (server) => {
      // A raw socket sees line framing both ways: no length header in front of the reply.
      const socket = net.connect({ port: server.port, host: '127.0.0.1' });
      await once(socket, 'connect');
      socket.setEncoding('utf8');
      let received = '';
      const gotLine = new Promise<void>((resolve) =>
        socket.on('data', (text: string) => {
          received += text;
          if (received.includes('\n')) resolve();
        }),
      );
      socket.write('hi there\n');
      await within(gotLine, 5000, 'the line reply');
      assert.equal(received, `${REPLY_PREFIX}hi there\n`);
      socket.destroy();

      const client = await connect({ port: server.port, codec: 'line' });
      const long = 'x'.repeat(1024);
      assert.equal((await client.request(long, 5000)).toString(), `${REPLY_PREFIX}${long}`);
      // One byte over the file's 1K limit: a protocol error, the connection is closed.
      const closed = once(client, 'close');
      client.send(`${long}y\n`);
      await within(closed, 5000, 'closing the over-long line');
      assert.equal(client.isOpen, false);
    });
  });

  it('start -c file.json: REACTOR_IDLE_TIMEOUT overrides the file and the idle client is closed', { timeout: 20_000 }, async () => {
    const path = await file('idle.json', { idleTimeout: 300, checkInterval: 0.05 });
    await withCli(['-c', path], async (server) => {
      const client = await connect({ port: server.port });
      const closed = once(client, 'close');
      const sentAt = performance.now();
      assert.equal((await client.request('then silence', 5000)).toString(), `${REPLY_PREFIX}then silence`);
      // With the file's 300 s this would time out.
      await within(closed, 5000, 'the idle close');
      const idle = performance.now() - sentAt;
      assert.ok(idle >= 250, `closed after ${idle.toFixed(0)} ms: before the 0.3 s idle timeout`);
    }, { env: { REACTOR_IDLE_TIMEOUT: '0.3' } });
  });

  describe('config, validate and start refuse the same settings', () => {
    /** Settings start refuses, each as flags and as a file, with the setting it must name. */
    const refused: { flags: string[]; file: Record<string, unknown>; key: string; why: RegExp }[] = [
      { flags: ['--max-message-bytes', '4G'], file: { maxMessageBytes: '4G' }, key: 'maxMessageBytes', why: /from 1 to 4294967295, got 4294967296/ },
      { flags: ['--high-water-mark', '1K', '--low-water-mark', '2K'], file: { highWaterMark: '1K', lowWaterMark: '2K' }, key: 'lowWaterMark', why: /from 0 to 1024, got 2048/ },
      { flags: ['--metrics-port', '9464', '--port', '9464'], file: { metricsPort: 9464, port: 9464 }, key: 'metricsPort', why: /must differ from port: both are 127\.0\.0\.1:9464/ },
      { flags: ['--broker', 'http://127.0.0.1:6379'], file: { broker: 'http://127.0.0.1:6379' }, key: 'broker', why: /must be 'local' or redis:\/\/HOST:PORT\[\/DB\]: the scheme is http/ },
      { flags: ['--broker-outbox', '10'], file: { brokerOutbox: 10 }, key: 'brokerOutbox', why: /from 1024 to \d+, got 10/ },
      { flags: ['--instance-id', 'a b'], file: { instanceId: 'a b' }, key: 'instanceId', why: /1 to 64 letters, digits, '\.', '_' or '-', got string "a b"/ },
    ];

    it('config exits 1 naming each setting start would refuse, and prints no settings', { timeout: 20_000 }, async () => {
      const results = await Promise.all(refused.map(({ flags }) => runCli(['config', ...flags])));
      for (const [i, { flags, key, why }] of refused.entries()) {
        const result = results[i] as CliResult;
        assert.equal(result.code, 1, `config ${flags.join(' ')}: exit ${result.code}: ${result.stdout}`);
        assert.equal(result.stdout, '', `config ${flags.join(' ')} printed settings`);
        assert.match(result.stderr, new RegExp(`^reactor-server: invalid option ${key}: .*${why.source}`, 'm'), `config ${flags.join(' ')}`);
      }
    });

    it('validate exits 1 naming the setting, for a file start would refuse with the defaults it leaves out', { timeout: 20_000 }, async () => {
      const paths = await Promise.all(refused.map(({ file: content }, i) => file(`refused-${i}.json`, content)));
      const results = await Promise.all(paths.map((path) => runCli(['validate', '-c', path])));
      for (const [i, { key, why }] of refused.entries()) {
        const result = results[i] as CliResult;
        const path = paths[i] as string;
        assert.equal(result.code, 1, `${path}: exit ${result.code}: ${result.stdout}`);
        assert.equal(result.stdout, '');
        const found = problems(result.stderr, path);
        assert.deepEqual([...found.keys()], [key], result.stderr);
        assert.match(found.get(key) ?? '', why);
      }
    });

    it('start exits 1 naming each such setting, before it listens', { timeout: 20_000 }, async () => {
      // --port 0 first: a flag given later (the metrics case's --port) wins.
      const results = await Promise.all(refused.map(({ flags }) => runCli(['start', '--port', '0', ...flags])));
      for (const [i, { flags, key, why }] of refused.entries()) {
        const result = results[i] as CliResult;
        assert.equal(result.code, 1, `start ${flags.join(' ')}: exit ${result.code} ${result.signal}: ${result.stderr}`);
        assert.doesNotMatch(result.stdout, /listening on/, `start ${flags.join(' ')} served`);
        assert.match(result.stderr, new RegExp(`cannot start on 127\\.0\\.0\\.1:\\d+: invalid option ${key}: .*${why.source}`), `start ${flags.join(' ')}`);
      }
    });

    const bound = maxReactorCount();
    const boundWords = new RegExp(`'auto' or an integer from 1 to ${bound} \\(8 per core`);

    it(`--workers 1000000 is refused at once by start and config, naming the bound (${bound}), and nothing starts`, { timeout: 20_000 }, async () => {
      const started = performance.now();
      const [start, config, fromEnv] = await Promise.all([
        runCli(['start', '--port', '0', '--workers', '1000000'], { timeoutMs: 10_000 }),
        runCli(['config', '--workers', '1000000']),
        runCli(['start', '--port', '0'], { env: { REACTOR_WORKERS: String(bound + 1) }, timeoutMs: 10_000 }),
      ]);
      for (const [what, result] of [['start', start], ['config', config], ['start with REACTOR_WORKERS', fromEnv]] as const) {
        assert.equal(result.code, 1, `${what}: exit ${result.code} ${result.signal}: ${result.stderr}`);
        assert.equal(result.stdout, '', `${what} printed: ${result.stdout}`);
        assert.match(result.stderr, /--workers/, what);
        assert.match(result.stderr, boundWords, what);
      }
      // Refused while parsing its arguments: no reactor was ever forked.
      assert.ok(performance.now() - started < 8000, 'start took long enough to have started something');
      const help = await runCli(['start', '--help']);
      assert.match(help.stdout, new RegExp(`1 to\\s+${bound} \\(8 per core\\)`), help.stdout);
    });

    it('validate names workers above the bound, and checks reactorMode against what this runtime supports', { timeout: 20_000 }, async () => {
      const [many, threads] = await Promise.all([file('many-workers.json', { workers: 1_000_000 }), file('threads.json', { workers: 2, reactorMode: 'threads' })]);
      const [manyResult, threadsResult] = await Promise.all([runCli(['validate', '-c', many]), runCli(['validate', '-c', threads])]);
      assert.equal(manyResult.code, 1, manyResult.stdout);
      const found = problems(manyResult.stderr, many);
      assert.deepEqual([...found.keys()], ['workers'], manyResult.stderr);
      assert.match(found.get('workers') ?? '', boundWords);

      if (supportsReusePort()) {
        assert.equal(threadsResult.code, 0, threadsResult.stderr);
      } else {
        assert.equal(threadsResult.code, 1, threadsResult.stdout);
        assert.match(problems(threadsResult.stderr, threads).get('reactorMode') ?? '', /needs SO_REUSEPORT/);
      }
    });
  });
});
