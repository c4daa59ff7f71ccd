import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_OPTIONS,
  InvalidOptionError,
  NetServer,
  SeedCodec,
  createCodec,
  resolveOptions,
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
    assert.ok(createCodec(options) instanceof SeedCodec);
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
    ['maxConnections', { maxConnections: -1 }],
    ['drainTimeout', { drainTimeout: -1 }],
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
