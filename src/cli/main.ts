#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { AddressInfo } from 'node:net';
import { loadApplication } from '../reactors/app-loader.js';
import { ReactorGroup, defaultReactorCount } from '../reactors/reactor-group.js';
import type { ReactorServerOptions } from '../server/reactor-server.js';
import { CODEC_NAMES, DEFAULT_OPTIONS, type CodecName } from '../server/options.js';
import { REPLY_PREFIX } from '../server/reply-prefix.js';
import { runBench, type BenchMode } from '../bench/load-driver.js';
import { connect } from '../client/client.js';
import { formatResult, progressLine } from '../bench/report.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError('must be an integer from 0 to 65535.');
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a number of seconds >= 0 (fractions allowed).');
  return n;
}

function positiveSeconds(value: string): number {
  const n = seconds(value);
  if (n === 0) throw new InvalidArgumentError('must be a number of seconds > 0 (fractions allowed).');
  return n;
}

function count(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be an integer >= 0.');
  return Number(value);
}

function bytes(value: string): number {
  const match = /^(\d+)([kKmMgG]i?[bB]?)?$/.exec(value.trim());
  if (match === null) throw new InvalidArgumentError('must be a number of bytes, optionally with a K, M or G suffix (powers of 1024).');
  const scale = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(match[2] ?? '').charAt(0).toLowerCase()] ?? 1;
  return Number(match[1]) * scale;
}

function choice<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}.`);
    return value as T;
  };
}

function workers(value: string): number | 'auto' {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("must be an integer >= 1 or 'auto'.");
  return Number(value);
}

interface StartFlags {
  workers: number | 'auto';
  codec: CodecName;
  maxMessageBytes: number;
  byteOrder: 'little' | 'big';
  highWaterMark: number;
  lowWaterMark: number;
  maxPendingOutput: number;
  maxConnections: number;
  drainTimeout: number;
  app?: string;
  appExport: string;
  host: string;
  port: number;
  idleTimeout: number;
  checkInterval: number;
  taskWorkers: number;
  taskModule?: string;
  taskExport: string;
}

async function start(flags: StartFlags): Promise<void> {
  const options: ReactorServerOptions & { codec: CodecName } = {
    codec: flags.codec,
    maxMessageBytes: flags.maxMessageBytes,
    byteOrder: flags.byteOrder,
    highWaterMark: flags.highWaterMark,
    lowWaterMark: flags.lowWaterMark,
    maxPendingOutput: flags.maxPendingOutput,
    maxConnections: flags.maxConnections,
    drainTimeout: flags.drainTimeout,
    host: flags.host,
    port: flags.port,
    idleTimeout: flags.idleTimeout,
    checkInterval: flags.checkInterval,
    taskWorkers: flags.taskWorkers,
    taskModule: flags.taskModule,
    taskExport: flags.taskExport,
  };
  const count = flags.workers === 'auto' ? defaultReactorCount() : flags.workers;
  let app: { start(): Promise<AddressInfo>; stop(): Promise<void> };
  let shape: string;
  if (count === 1) {
    // One reactor: the application runs right here, on this process's event loop.
    app = await loadApplication(flags.app ?? null, options, flags.appExport);
    shape = '1 reactor';
  } else {
    const group = new ReactorGroup({ ...options, workers: count, app: flags.app, appExport: flags.appExport });
    app = group;
    shape = `${count} reactors on ${group.mode}`;
  }
  const address = await app.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`reactor-server listening on ${host}:${address.port} (${shape})\n`);

  const stop = (signal: NodeJS.Signals): void => {
    process.stderr.write(`reactor-server: ${signal}, stopping\n`);
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`reactor-server: stop failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const program = new Command()
  .name('reactor-server')
  .description('A Reactor-pattern TCP server: the seed-compatible echo and the framework around it.')
  .version(pkg.version, '-v, --version')
  .showHelpAfterError();

program
  .command('start')
  .description('run the echo server in the foreground (replies "[Server Reply]: " + message, 4-byte LE length first)')
  .option('--host <host>', 'address to listen on', DEFAULT_OPTIONS.host)
  .option('-w, --workers <n|auto>', "sub-reactors, each with its own event loop ('auto': half the cores)", workers, 1)
  .option('--app <module>', 'application module every reactor runs (default: the echo)')
  .option('--app-export <name>', 'the export of --app to use', 'default')
  .option('-p, --port <port>', 'port to listen on (0 picks a free one)', port, DEFAULT_OPTIONS.port)
  .option('--idle-timeout <seconds>', 'close connections silent this long (0 disables)', seconds, DEFAULT_OPTIONS.idleTimeout)
  .option('--check-interval <seconds>', 'seconds between idle checks', positiveSeconds, DEFAULT_OPTIONS.checkInterval)
  .option('--codec <name>', `wire format: ${CODEC_NAMES.join(', ')}`, choice(CODEC_NAMES), DEFAULT_OPTIONS.codec as CodecName)
  .option('--max-message-bytes <bytes>', 'largest inbound frame (length) or line (line)', bytes, DEFAULT_OPTIONS.maxMessageBytes)
  .option('--byte-order <order>', 'length header byte order for --codec length: little, big', choice(['little', 'big'] as const), DEFAULT_OPTIONS.byteOrder)
  .option('--high-water-mark <bytes>', 'pending output above which a connection stops being read', bytes, DEFAULT_OPTIONS.highWaterMark)
  .option('--low-water-mark <bytes>', 'pending output below which reading resumes', bytes, DEFAULT_OPTIONS.lowWaterMark)
  .option('--max-pending-output <bytes>', 'pending output at which a connection is closed', bytes, DEFAULT_OPTIONS.maxPendingOutput)
  .option('--max-connections <n>', 'open connections (per reactor) beyond which new ones are refused; 0 = no limit', count, DEFAULT_OPTIONS.maxConnections)
  .option('--drain-timeout <seconds>', 'on SIGINT/SIGTERM, seconds to let connections finish', seconds, DEFAULT_OPTIONS.drainTimeout)
  .option('--task-workers <n>', 'worker threads for message handling (0 = inline on the event loop)', count, 0)
  .option('--task-module <path>', 'module whose export handles each message (default: the echo)')
  .option('--task-export <name>', 'the export of --task-module to call', 'default')
  .action(async (flags: StartFlags) => {
    try {
      await start(flags);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      process.stderr.write(`reactor-server: cannot start on ${flags.host}:${flags.port}: ${detail}\n`);
      process.exit(1);
    }
  });

interface BenchFlags {
  host: string;
  port: number;
  connections: number;
  duration: number;
  size: number;
  mode: BenchMode;
  codec: CodecName;
  prefix: string;
  verify: boolean;
  json: boolean;
}

program
  .command('bench')
  .description('measure a server: throughput, connection rate and latency percentiles, every reply verified')
  .option('--host <host>', 'server address', DEFAULT_OPTIONS.host)
  .option('-p, --port <port>', 'server port', port, DEFAULT_OPTIONS.port)
  .option('-c, --connections <n>', 'concurrent connections (connect mode: concurrent sessions)', count, 100)
  .option('-d, --duration <seconds>', 'seconds of load', positiveSeconds, 10)
  .option('-s, --size <bytes>', 'request payload size', bytes, 16)
  .option('-m, --mode <mode>', 'pingpong (one request in flight per connection), connect (connect/send/receive/close), hold (open, one round trip, stay open)', choice(['pingpong', 'connect', 'hold'] as const), 'pingpong')
  .option('--codec <name>', `wire format: ${CODEC_NAMES.join(', ')}`, choice(CODEC_NAMES), DEFAULT_OPTIONS.codec as CodecName)
  .option('--prefix <text>', 'what the server puts in front of each echoed request', REPLY_PREFIX)
  .option('--no-verify', 'do not check replies (for servers that are not echoes)')
  .option('--json', 'print the result as JSON')
  .action(async (flags: BenchFlags) => {
    const showProgress = !flags.json && process.stderr.isTTY === true;
    const result = await runBench({
      host: flags.host,
      port: flags.port,
      connections: flags.connections,
      duration: flags.duration,
      size: flags.size,
      mode: flags.mode,
      codec: flags.codec,
      expectPrefix: flags.verify ? flags.prefix : null,
      onProgress: showProgress ? (elapsed, replies) => process.stderr.write(progressLine(elapsed, flags.duration, replies)) : undefined,
    });
    if (showProgress) process.stderr.write('\n');
    process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${formatResult(result)}\n`);
    process.exitCode = result.wrongReplies > 0 || result.errors > 0 ? 1 : 0;
  });

interface SendFlags {
  host: string;
  port: number;
  codec: CodecName;
  timeout: number;
}

program
  .command('send')
  .description('send one message and print the reply')
  .argument('<message>', 'the message (UTF-8)')
  .option('--host <host>', 'server address', DEFAULT_OPTIONS.host)
  .option('-p, --port <port>', 'server port', port, DEFAULT_OPTIONS.port)
  .option('--codec <name>', `wire format: ${CODEC_NAMES.join(', ')}`, choice(CODEC_NAMES), DEFAULT_OPTIONS.codec as CodecName)
  .option('-t, --timeout <seconds>', 'seconds to wait for the reply', positiveSeconds, 5)
  .action(async (message: string, flags: SendFlags) => {
    try {
      const client = await connect({ host: flags.host, port: flags.port, codec: flags.codec, connectTimeout: flags.timeout * 1000 });
      const reply = await client.request(message, flags.timeout * 1000);
      process.stdout.write(`${reply.toString()}\n`);
      await client.close();
    } catch (err) {
      process.stderr.write(`reactor-server: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  });

await program.parseAsync();
