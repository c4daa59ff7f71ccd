import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  DEFAULT_OPTIONS,
  InvalidOptionError,
  NetServer,
  ReactorServer,
  SeedCodec,
  ThreadPool,
  UnknownOptionError,
  connect,
  maxPoolSize,
  createCodec,
  resolveOptions,
  type ClientOptions,
  type NetServerOptions,
  type ReactorServerOptions,
  type ServerOptions,
} from '../../src/index.js';

/** The option a bad value was rejected for, checking the error's shape on the way. */
function rejectedOption(options: Partial<ServerOptions>): string {
  try {
    resolveOptions(options);
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_INVALID_OPTION');
    assert.equal(err.name, 'InvalidOptionError');
    assert.ok(err.message.includes(err.option), `message "${err.message}" does not name ${err.option}`);
    return err.option;
  }
  assert.fail(`${JSON.stringify(options)} was accepted`);
}

describe('resolveOptions', { timeout: 10000 }, () => {
  it('turns SO_KEEPALIVE on by default only when idle timeouts are off, and always obeys an explicit choice', () => {
    assert.equal(resolveOptions({ idleTimeout: 0 }).keepAlive, true);
    assert.equal(resolveOptions({ idleTimeout: 30 }).keepAlive, false);
    assert.equal(resolveOptions({ idleTimeout: 0, keepAlive: false }).keepAlive, false);
    assert.equal(resolveOptions({ idleTimeout: 30, keepAlive: true }).keepAlive, true);
  });

  it('fills in the documented defaults', () => {
    const options = resolveOptions();
    assert.equal(options.host, '127.0.0.1');
    assert.equal(options.port, 8888);
    assert.equal(options.idleTimeout, 300);
    assert.equal(options.checkInterval, 60);
    assert.equal(options.backlog, 511);
    assert.equal(options.noDelay, true);
    assert.equal(options.keepAlive, false, 'the idle sweep covers dead peers: no keep-alive by default');
    assert.equal(options.keepAliveInitialDelay, 60);
    assert.equal(options.reusePort, false);
    assert.equal(options.codec, 'seed');
    assert.equal(options.maxMessageBytes, 1024 * 1024);
    assert.equal(options.byteOrder, 'little');
    assert.equal(options.highWaterMark, 1024 * 1024);
    assert.equal(options.lowWaterMark, 256 * 1024);
    assert.equal(options.maxPendingOutput, 16 * 1024 * 1024);
    assert.equal(options.maxConnections, 0);
    assert.equal(options.drainTimeout, 10);
    assert.deepEqual([options.allow, options.deny], [[], []]);
    assert.equal(options.maxConnectionsPerIp, 0);
    assert.equal(options.connectRatePerIp, 0);
    assert.equal(options.maxTrackedAddresses, 65536);
    assert.equal(options.maxMessagesPerSecond, 0);
    assert.equal(options.maxBufferedInput, 256 * 1024 * 1024);
    assert.ok(createCodec(options) instanceof SeedCodec);
  });

  it('bounds unfinished input at 256 MiB by default, or at twice maxMessageBytes when that is more; an explicit bound must be at least that twice', () => {
    assert.equal(resolveOptions({ maxMessageBytes: 64 * 1024 * 1024 }).maxBufferedInput, 256 * 1024 * 1024);
    assert.equal(resolveOptions({ maxMessageBytes: 200 * 1024 * 1024 }).maxBufferedInput, 400 * 1024 * 1024);
    assert.equal(resolveOptions({ maxMessageBytes: 1000, maxBufferedInput: 2000 }).maxBufferedInput, 2000);
    assert.equal(
      optionError(() => resolveOptions({ maxMessageBytes: 1000, maxBufferedInput: 1999 })).message,
      'invalid option maxBufferedInput: must be an integer from 2000 (twice maxMessageBytes) to 9007199254740991, got 1999',
    );
  });

  it('keeps given values, and treats undefined as not given', () => {
    const codec = new SeedCodec();
    const options = resolveOptions({ host: '0.0.0.0', port: 0, idleTimeout: undefined, codec, noDelay: false });
    assert.equal(options.host, '0.0.0.0');
    assert.equal(options.port, 0);
    assert.equal(options.idleTimeout, 300);
    assert.equal(options.codec, codec);
    assert.equal(options.noDelay, false);
  });

  it('does not share or modify the defaults', () => {
    const a = resolveOptions({ port: 1 });
    const b = resolveOptions();
    assert.equal(b.port, 8888);
    assert.equal(DEFAULT_OPTIONS.port, 8888);
    assert.ok(Object.isFrozen(DEFAULT_OPTIONS));
    assert.equal(a.codec, 'seed');
    // Each server gets its own codec instance, so no decoder state can be shared.
    assert.notEqual(createCodec(a), createCodec(b));
  });

  it('accepts fractional seconds, zero idleTimeout and the port range edges', () => {
    const options = resolveOptions({ idleTimeout: 0.25, checkInterval: 0.5, keepAliveInitialDelay: 1.5 });
    assert.equal(options.idleTimeout, 0.25);
    assert.equal(options.checkInterval, 0.5);
    assert.equal(options.keepAliveInitialDelay, 1.5);
    assert.equal(resolveOptions({ idleTimeout: 0 }).idleTimeout, 0);
    assert.equal(resolveOptions({ port: 0 }).port, 0);
    assert.equal(resolveOptions({ port: 65535 }).port, 65535);
  });

  const bad: [string, Partial<ServerOptions>][] = [
    ['port', { port: -1 }],
    ['port', { port: 65536 }],
    ['port', { port: 1.5 }],
    ['port', { port: Number.NaN }],
    ['port', { port: '80' as unknown as number }],
    ['checkInterval', { checkInterval: 0 }],
    ['checkInterval', { checkInterval: -1 }],
    ['checkInterval', { checkInterval: Number.POSITIVE_INFINITY }],
    ['idleTimeout', { idleTimeout: -1 }],
    ['idleTimeout', { idleTimeout: Number.NaN }],
    ['idleTimeout', { idleTimeout: 3e6 }], // past what setInterval can wait
    ['host', { host: '' }],
    ['host', { host: 42 as unknown as string }],
    ['backlog', { backlog: 0 }],
    ['keepAliveInitialDelay', { keepAliveInitialDelay: -0.5 }],
    ['codec', { codec: 'xml' as unknown as 'seed' }],
    ['byteOrder', { byteOrder: 'middle' as unknown as 'little' }],
    ['maxMessageBytes', { maxMessageBytes: 0 }],
    ['maxMessageBytes', { maxMessageBytes: 2 ** 32 }],
    ['lowWaterMark', { highWaterMark: 1000, lowWaterMark: 1001 }],
    ['highWaterMark', { highWaterMark: 2000, maxPendingOutput: 1000 }],
    ['maxPendingOutput', { maxPendingOutput: 0 }],
    ['maxBufferedInput', { maxBufferedInput: 1024 * 1024 }], // below twice the default maxMessageBytes
    ['maxBufferedInput', { maxBufferedInput: 0 }],
    ['maxBufferedInput', { maxBufferedInput: 3e9 + 0.5 }],
    ['maxBufferedInput', { maxBufferedInput: '256M' as unknown as number }],
    ['maxConnections', { maxConnections: -1 }],
    ['drainTimeout', { drainTimeout: -1 }],
    ['noDelay', { noDelay: 'false' as unknown as boolean }],
    ['keepAlive', { keepAlive: 1 as unknown as boolean }],
    ['reusePort', { reusePort: 'yes' as unknown as boolean }],
    ['codec', { codec: {} as unknown as 'seed' }],
    ['allow', { allow: '10.0.0.1/8' }],
    ['allow', { allow: 42 as unknown as string }],
    ['deny', { deny: ['127.0.0.1', 'localhost'] }],
    ['maxConnectionsPerIp', { maxConnectionsPerIp: -1 }],
    ['maxConnectionsPerIp', { maxConnectionsPerIp: 65536 }],
    ['connectRatePerIp', { connectRatePerIp: 0.5 }],
    ['connectRatePerIp', { connectRatePerIp: -1 }],
    ['maxTrackedAddresses', { maxTrackedAddresses: 0 }],
    ['maxTrackedAddresses', { maxTrackedAddresses: 2 ** 22 + 1 }],
    ['maxMessagesPerSecond', { maxMessagesPerSecond: -1 }],
    ['maxMessagesPerSecond', { maxMessagesPerSecond: '10' as unknown as number }],
  ];
  for (const [option, options] of bad) {
    const shown = JSON.stringify(options, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
    it(`rejects ${shown} with InvalidOptionError naming ${option}`, () => {
      assert.equal(rejectedOption(options), option);
    });
  }

  it('is applied by the NetServer constructor, before anything listens', () => {
    assert.throws(() => new NetServer({ port: 70000 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'port');
    const server = new NetServer({ port: 0, idleTimeout: 0.5 });
    assert.equal(server.options.idleTimeout, 0.5);
    assert.ok(Object.isFrozen(server.options));
    assert.equal(server.address, null);
  });
});

/** The InvalidOptionError `make` throws, checking the error's shape on the way. */
function optionError(make: () => unknown): InvalidOptionError {
  try {
    make();
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.code, 'ERR_INVALID_OPTION');
    return err;
  }
  assert.fail('the options were accepted');
}

/** Casts options with a mistake in them past the type checker, as plain JavaScript would pass them. */
function untyped<T>(options: Record<string, unknown>): T {
  return options as T;
}

describe('options objects: unknown keys and wrong types', { timeout: 10000 }, () => {
  it('an unknown key is refused, naming the nearest valid option', () => {
    const err = optionError(() => new NetServer(untyped<NetServerOptions>({ idleTimout: 5 })));
    assert.ok(err instanceof UnknownOptionError);
    assert.equal(err.message, 'unknown option idleTimout (did you mean idleTimeout?)');
    assert.equal(err.option, 'idleTimout');
    assert.equal(err.suggestion, 'idleTimeout');
  });

  it('an unknown key with nothing near it is refused without a suggestion', () => {
    const err = optionError(() => new NetServer(untyped<NetServerOptions>({ banana: true })));
    assert.equal(err.message, 'unknown option banana');
    assert.equal((err as UnknownOptionError).suggestion, undefined);
  });

  it('a key given as undefined counts as not given', () => {
    assert.equal(new NetServer(untyped<NetServerOptions>({ port: 0, idleTimout: undefined })).options.idleTimeout, 300);
  });

  it('a value of the wrong type is reported with its type', () => {
    assert.equal(
      optionError(() => new NetServer(untyped<NetServerOptions>({ port: '20070' }))).message,
      'invalid option port: must be an integer from 0 to 65535, got string "20070"',
    );
    assert.equal(optionError(() => new NetServer({ port: 70000 })).message, 'invalid option port: must be an integer from 0 to 65535, got 70000');
    assert.match(optionError(() => resolveOptions(untyped<Partial<ServerOptions>>({ idleTimeout: '30' }))).message, /got string "30"$/);
    assert.match(optionError(() => resolveOptions(untyped<Partial<ServerOptions>>({ host: 42 }))).message, /host: must be a non-empty string, got 42$/);
    assert.match(optionError(() => resolveOptions(untyped<Partial<ServerOptions>>({ noDelay: 'false' }))).message, /noDelay: must be true or false, got string "false"$/);
    assert.match(optionError(() => resolveOptions(untyped<Partial<ServerOptions>>({ maxConnections: null }))).message, /got null$/);
    assert.match(optionError(() => resolveOptions(untyped<Partial<ServerOptions>>({ codec: ['seed'] }))).message, /codec: .*got an array$/);
  });

  it('unknown callbacks and callbacks that are not functions are refused, on construction and on setCallbacks()', () => {
    const onMesage = (): void => undefined;
    assert.equal(
      optionError(() => new NetServer(untyped<NetServerOptions>({ callbacks: { onMesage } }))).message,
      'unknown option callbacks.onMesage (did you mean onMessage?)',
    );
    assert.equal(
      optionError(() => new NetServer(untyped<NetServerOptions>({ callbacks: { onMessage: 'echo' } }))).message,
      'invalid option callbacks.onMessage: must be a function, got string "echo"',
    );
    const server = new NetServer({ port: 0 });
    assert.equal(optionError(() => server.setCallbacks(untyped({ onClsoe: onMesage }))).message, 'unknown option callbacks.onClsoe (did you mean onClose?)');
    assert.equal(server.callbacks.onClose, undefined);
  });

  it('idStart and idStep are checked', () => {
    assert.equal(optionError(() => new NetServer({ idStep: 0 })).option, 'idStep');
    assert.equal(optionError(() => new NetServer(untyped<NetServerOptions>({ idStart: '1' }))).option, 'idStart');
    assert.equal(optionError(() => new NetServer(untyped<NetServerOptions>({ idStrat: 1 }))).message, 'unknown option idStrat (did you mean idStart?)');
  });

  it("ReactorServer knows its task options and NetServer's, and nothing else", () => {
    assert.equal(optionError(() => new ReactorServer(untyped<ReactorServerOptions>({ taskWorker: 2 }))).message, 'unknown option taskWorker (did you mean taskWorkers?)');
    assert.equal(optionError(() => new ReactorServer(untyped<ReactorServerOptions>({ portt: 0 }))).message, 'unknown option portt (did you mean port?)');
    // Its callbacks are its methods: a callbacks object would be silently overridden.
    assert.equal(optionError(() => new ReactorServer(untyped<ReactorServerOptions>({ callbacks: {} }))).option, 'callbacks');
    assert.equal(optionError(() => new ReactorServer(untyped<ReactorServerOptions>({ taskWorkers: '2' }))).message, `invalid option taskWorkers: must be an integer from 0 to ${maxPoolSize()}, got string "2"`);
    assert.equal(optionError(() => new ReactorServer({ taskWorkers: 1_000_000 })).message, `invalid option taskWorkers: must be an integer from 0 to ${maxPoolSize()}, got 1000000`);
    assert.equal(optionError(() => new ReactorServer(untyped<ReactorServerOptions>({ taskModule: 42 }))).option, 'taskModule');
    assert.equal(optionError(() => new ReactorServer({ taskExport: '' })).option, 'taskExport');
    assert.equal(optionError(() => new ReactorServer({ port: 0, lowWaterMark: 2048, highWaterMark: 1024 })).option, 'lowWaterMark');
  });

  it('connect() checks its options before connecting', async () => {
    // A listener that counts connections: a refused option must not reach it.
    let accepted = 0;
    const listener = net.createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as net.AddressInfo;
    try {
      const cases: [Record<string, unknown>, string][] = [
        [{ port, requestTimout: 100 }, 'unknown option requestTimout (did you mean requestTimeout?)'],
        [{ port: String(port) }, `invalid option port: must be an integer from 1 to 65535, got string "${port}"`],
        [{ port, codec: 'json' }, 'invalid option codec: must be one of seed, length, line, got string "json"'],
        [{ port, connectTimeout: -1 }, 'invalid option connectTimeout: must be a number of milliseconds from 0 to 2147483647, got -1'],
      ];
      for (const [options, message] of cases) {
        const err = await connect(untyped<ClientOptions>(options)).then(
          () => assert.fail(`${JSON.stringify(options)} was accepted`),
          (error: unknown) => error,
        );
        assert.ok(err instanceof InvalidOptionError, `${JSON.stringify(options)}: ${String(err)}`);
        assert.equal(err.message, message);
      }
      assert.equal(accepted, 0, 'a connection was made with refused options');
    } finally {
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  it('ThreadPool.stop() refuses an unknown option instead of waiting without a bound', async () => {
    const pool = new ThreadPool(1);
    const err = await pool.stop(untyped({ timout: 100 })).then(
      () => assert.fail('stop() accepted { timout }'),
      (error: unknown) => error,
    );
    assert.ok(err instanceof UnknownOptionError, String(err));
    assert.equal(err.message, 'unknown option timout (did you mean timeout?)');
    await assert.rejects(pool.stop({ timeout: -5 }), (error: unknown) => error instanceof InvalidOptionError && error.option === 'timeout');
  });
});
