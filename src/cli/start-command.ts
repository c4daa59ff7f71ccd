import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { loadApplication, type Application } from '../reactors/app-loader.js';
import { ReactorGroup, defaultReactorCount } from '../reactors/reactor-group.js';
import { createLogger, loggingObserver } from '../ops/logging.js';
import { eventLoopLagMeter, startMetricsServer, type MetricsServer, type MetricsSource } from '../ops/metrics.js';
import { addStartSettings, refuseBadSettings, serverOptions, type StartSettings } from './server-options.js';

interface Running {
  shape: string;
  address: AddressInfo;
  metrics: MetricsSource;
  stop(): Promise<void>;
}

async function runSingle(settings: StartSettings, logger: Logger): Promise<Running> {
  // One reactor: the application runs right here, on this process's event loop.
  const app: Application = await loadApplication(settings.app ?? null, serverOptions(settings), settings.appExport);
  app.server.addObserver(loggingObserver(logger));
  const address = await app.start();
  const lag = eventLoopLagMeter();
  return {
    shape: '1 reactor',
    address,
    metrics: {
      sample: async () => [{ reactor: 0, stats: app.server.stats, eventLoopLagSeconds: lag.mean() }],
      serving: () => app.server.isRunning,
    },
    stop: () => app.stop().finally(() => lag.stop()),
  };
}

async function runGroup(settings: StartSettings, count: number, logger: Logger): Promise<Running> {
  const group = new ReactorGroup({
    ...serverOptions(settings),
    workers: count,
    reactorMode: settings.reactorMode,
    app: settings.app,
    appExport: settings.appExport,
    logLevel: settings.logLevel,
    onReactorExit: (reactor, code) => logger.error({ reactor: reactor.index, kind: reactor.kind, id: reactor.id, code }, 'sub-reactor exited; replacing it'),
  });
  const address = await group.start();
  return {
    shape: `${count} reactors on ${group.mode}`,
    address,
    metrics: {
      sample: async () => (await group.stats()).reactors.map((r) => ({ reactor: r.reactor.index, stats: r.stats, eventLoopLagSeconds: r.eventLoopLagSeconds })),
      serving: () => group.isRunning,
    },
    stop: () => group.stop(),
  };
}

async function start(settings: StartSettings): Promise<void> {
  refuseBadSettings(settings);
  const logger = createLogger(settings.logLevel, process.stdout.isTTY === true);
  const count = settings.workers === 'auto' ? defaultReactorCount() : settings.workers;
  let running: Running;
  try {
    running = count === 1 ? await runSingle(settings, logger) : await runGroup(settings, count, logger);
  } catch (err) {
    process.stderr.write(`reactor-server: cannot start on ${settings.host}:${settings.port}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  let metrics: MetricsServer | null = null;
  if (settings.metricsPort !== undefined) {
    try {
      metrics = await startMetricsServer(running.metrics, settings.metricsPort, settings.metricsHost);
    } catch (err) {
      process.stderr.write(`reactor-server: cannot serve metrics on ${settings.metricsHost}:${settings.metricsPort}: ${err instanceof Error ? err.message : String(err)}\n`);
      await running.stop();
      process.exit(1);
    }
    logger.info({ metrics: `http://${metrics.address.address}:${metrics.address.port}/metrics` }, 'metrics listening');
  }
  const { address } = running;
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal, drainTimeout: settings.drainTimeout }, 'stopping: draining connections');
    running
      .stop()
      .then(() => metrics?.close())
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'stop failed');
          process.exit(1);
        },
      );
  };
  // Installed before the ready line: stdout to a pipe is written synchronously, so whoever
  // waits for that line may signal us before the next statement runs.
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);

  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  // The ready line: what scripts wait for, and the one thing printed whatever the log level.
  process.stdout.write(`reactor-server listening on ${host}:${address.port} (${running.shape})\n`);
}

export function addStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run the server in the foreground (default application: the echo, replying "[Server Reply]: " + message)');
  addStartSettings(command).action((settings: StartSettings) => start(settings));
}
