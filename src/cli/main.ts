#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { AddressInfo } from 'node:net';
import { loadApplication } from '../reactors/app-loader.js';
import { ReactorGroup, defaultReactorCount } from '../reactors/reactor-group.js';
import type { ReactorServerOptions } from '../server/reactor-server.js';
import { DEFAULT_OPTIONS } from '../server/options.js';

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

function workers(value: string): number | 'auto' {
  if (value === 'auto') return value;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError("must be an integer >= 1 or 'auto'.");
  return Number(value);
}

interface StartFlags {
  workers: number | 'auto';
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
  const options: ReactorServerOptions = {
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

await program.parseAsync();
