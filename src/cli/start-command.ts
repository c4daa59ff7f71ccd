import type { AddressInfo } from 'node:net';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { loadApplication, type Application } from '../reactors/app-loader.js';
import { ReactorGroup, defaultReactorCount, describeExit } from '../reactors/reactor-group.js';
import { createLogger, loggingObserver } from '../ops/logging.js';
import { eventLoopLagMeter, serverMetricsSource, type MetricsSource } from '../ops/metrics.js';
import { formatHostPort } from '../core/host-port.js';
import { addStartSettings, refuseBadSettings, serverOptions, type StartSettings } from './server-options.js';
import { Shutdown } from './shutdown.js';
import { releaseHangup } from './early-signals.js';
import type { TlsOptions } from '../transport/node-tls.js';
import { Broker, type BrokerOptions, type BrokerStatus } from '../broker/broker.js';
import { parseBrokerUrl } from '../broker/broker-url.js';
import { migratesQueuedConnections } from '../transport/platform.js';
import type { ReplacedReactor } from './control-protocol.js';
import { SettingsReload } from './settings-reload.js';
import { MetricsEndpoint } from './metrics-endpoint.js';
import type { LiveOptions } from '../server/live-options.js';
import type { LogLevel } from '../ops/logging.js';
import { ServiceFiles, alreadyRunning } from './service-files.js';
import { statusReport, type StatusSource } from './status-report.js';

interface Running extends StatusSource {
  shape: string;
  address: AddressInfo;
  metrics: MetricsSource;
  stop(): Promise<void>;
  /** Replaces the TLS material for new handshakes. @throws for bad material (nothing changes) */
  reloadTls(material: TlsOptions): void;
  /** New live options and log level, in force in every reactor when it resolves. */
  reconfigure(changes: LiveOptions, logLevel: LogLevel): Promise<void>;
  /** Replaces every reactor (new threads or processes, modules loaded afresh); null with one reactor. */
  replaceReactors: (() => Promise<ReplacedReactor[]>) | null;
}

/**
 * The broker settings as BrokerOptions, logging each change of the connection's state: a
 * `down` once per outage (with why), `up` when it is back. Undefined for the local broker.
 */
function brokerOptions(settings: StartSettings, logger: Logger): BrokerOptions | undefined {
  const target = parseBrokerUrl(settings.broker);
  if (target.kind === 'local') return undefined;
  return {
    url: target.url,
    outboxBytes: settings.brokerOutbox,
    onStateChange: (state, err) => {
      if (state === 'down') logger.error({ broker: target.display, err }, 'broker down: messages for other instances wait in the outbox, then are dropped; local delivery goes on');
      else logger.info({ broker: target.display, state }, `broker ${state}`);
    },
  };
}

async function runSingle(settings: StartSettings, logger: Logger, shutdown: Shutdown): Promise<Running> {
  // One reactor: the application runs right here, on this process's event loop.
  const app: Application = await loadApplication(settings.app ?? null, serverOptions(settings), settings.appExport);
  app.server.addObserver(loggingObserver(logger));
  shutdown.add(() => app.stop());
  // With a shared broker, this process is the instance's hub; the local broker needs none.
  const sharing = brokerOptions(settings, logger);
  const broker = sharing === undefined ? null : new Broker(sharing, { instanceId: app.server.instanceId, reactorCount: 1, maxMessageBytes: app.server.options.maxMessageBytes });
  if (broker !== null) {
    broker.attachServer(app.server);
    broker.start();
    // After the server: what it sends while draining still goes out.
    shutdown.add(() => broker.stop());
  }
  const address = await app.start();
  const lag = eventLoopLagMeter();
  const metrics = serverMetricsSource(app.server, lag);
  return {
    shape: `1 reactor, ${app.server.transport.name.startsWith('bun') ? 'bun' : 'node'} sockets${broker === null ? '' : `, instance ${app.server.instanceId}`}`,
    address,
    metrics: broker === null ? metrics : withBroker(metrics, () => broker.status()),
    reactors: () => [{ index: 0, kind: 'inline', id: process.pid }],
    stop: () =>
      app
        .stop()
        .then(() => broker?.stop())
        .finally(() => lag.stop()),
    reloadTls: (material) => app.server.reloadTls(material),
    // The application logs through the CLI's own logger here: its level is set with the CLI's.
    reconfigure: async (changes) => {
      app.server.reconfigure(changes);
    },
    replaceReactors: null,
  };
}

async function runGroup(settings: StartSettings, count: number, logger: Logger, shutdown: Shutdown): Promise<Running> {
  const sharing = brokerOptions(settings, logger);
  const group = new ReactorGroup({
    ...serverOptions(settings),
    workers: count,
    reactorMode: settings.reactorMode,
    app: settings.app,
    appExport: settings.appExport,
    logLevel: settings.logLevel,
    ...(sharing === undefined ? {} : { broker: sharing }),
    onReactorExit: (reactor, exit) =>
      logger.error(
        { reactor: reactor.index, kind: reactor.kind, id: reactor.id, code: exit.code, err: exit.error, failures: exit.failures, restartInMs: exit.restartInMs },
        describeExit(reactor, exit),
      ),
  });
  shutdown.add(() => group.stop());
  const address = await group.start();
  if (group.mode === 'threads' && !migratesQueuedConnections()) {
    logger.warn('net.ipv4.tcp_migrate_req is not 1: when reload replaces the reactors, connections the kernel has queued on a closing listener are reset (see docs/deploy.md)');
  }
  const metrics: MetricsSource = {
    sample: async () => (await group.stats()).reactors.map((r) => ({ reactor: r.reactor.index, stats: r.stats, eventLoopLagSeconds: r.eventLoopLagSeconds })),
    health: () => ({
      draining: !group.isRunning,
      reactors: group.status().map((slot, i) => ({ index: slot.index, serving: slot.state === 'serving', restarts: group.reactors[i]?.restarts ?? 0 })),
    }),
  };
  const shared = group.brokerStatus().kind !== 'local';
  return {
    shape: `${count} reactors on ${group.mode}, ${group.transport} sockets${shared ? `, instance ${group.instanceId}` : ''}`,
    address,
    metrics: shared ? withBroker(metrics, () => group.brokerStatus()) : metrics,
    reactors: () => group.reactors,
    stop: () => group.stop(),
    reloadTls: (material) => group.reloadTls(material),
    reconfigure: (changes, logLevel) => group.reconfigure(changes, logLevel),
    replaceReactors: () => group.replaceReactors(),
  };
}

/** A metrics source that also reports the shared broker (its series, and its state in /health). */
function withBroker(source: MetricsSource, status: () => BrokerStatus): MetricsSource {
  return {
    ...source,
    broker: status,
    health: () => ({ ...source.health(), broker: status().bus?.state ?? 'up' }),
  };
}

/** The settings given by flag or REACTOR_* variable: a reload reads the file again, and these still win over it. */
function pinnedSettings(command: Command): Partial<StartSettings> {
  const pinned: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(command.opts())) {
    const source = command.getOptionValueSource(key);
    if (key !== 'config' && (source === 'cli' || source === 'env')) pinned[key] = value;
  }
  return pinned as Partial<StartSettings>;
}

async function start(settings: StartSettings, pinned: Partial<StartSettings>, configFile: string | undefined): Promise<void> {
  refuseBadSettings(settings);
  const logger = createLogger(settings.logLevel, process.stdout.isTTY === true);
  // Before anything starts: a second server on the same pid file is refused here.
  const serviceFiles = settings.pidFile === undefined ? null : ServiceFiles.claim(settings.pidFile, logger);
  const count = settings.workers === 'auto' ? defaultReactorCount() : settings.workers;
  // Signals are handled from the first moment: a stop while reactors are still starting stops
  // what has started and exits 0, like a stop of a running server.
  const shutdown = new Shutdown(logger, settings.drainTimeout);
  if (shutdown.requested) return shutdown.exitWhenStopped();
  let running: Running;
  try {
    running = count === 1 ? await runSingle(settings, logger, shutdown) : await runGroup(settings, count, logger, shutdown);
  } catch (err) {
    if (shutdown.requested) return shutdown.exitWhenStopped();
    process.stderr.write(`reactor-server: cannot start on ${formatHostPort(settings.host, settings.port)}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  if (shutdown.requested) return shutdown.exitWhenStopped();
  const tlsReloads = { succeeded: 0, failed: 0 };
  const metrics = new MetricsEndpoint(settings.tlsCert === undefined ? running.metrics : { ...running.metrics, tlsReloads: () => tlsReloads }, logger);
  try {
    await metrics.move(settings.metricsPort, settings.metricsHost);
  } catch (err) {
    process.stderr.write(`reactor-server: cannot serve metrics on ${formatHostPort(settings.metricsHost, settings.metricsPort ?? 0)}: ${err instanceof Error ? err.message : String(err)}\n`);
    await running.stop();
    process.exit(1);
  }
  // After the server, so a stop closes the metrics last: /health says "draining" meanwhile.
  shutdown.add(() => metrics.close());
  if (shutdown.requested) return shutdown.exitWhenStopped();
  // SIGHUP and the control socket's `reload` both come here, one reload at a time.
  const reloader = new SettingsReload(
    settings,
    pinned,
    configFile,
    {
      reconfigure: (changes, logLevel) => running.reconfigure(changes, logLevel),
      reloadTls: (material) => running.reloadTls(material),
      replaceReactors: running.replaceReactors,
      moveMetrics: (port, host) => metrics.move(port, host),
      setLogLevel: (level) => {
        logger.level = level;
      },
    },
    logger,
    tlsReloads,
  );
  if (serviceFiles !== null) {
    try {
      await serviceFiles.listen({
        status: () => statusReport(running, { drainTimeoutSeconds: reloader.settings.drainTimeout, stopping: shutdown.requested }),
        reload: () => reloader.reload('control socket'),
      });
    } catch (err) {
      process.stderr.write(`reactor-server: cannot serve the control socket ${serviceFiles.socketPath}: ${err instanceof Error ? err.message : String(err)}\n`);
      await running.stop();
      process.exit(1);
    }
    // After the server, like the metrics: `status` answers "draining" while it drains.
    shutdown.add(() => serviceFiles.close());
    logger.info({ control: serviceFiles.socketPath }, 'control socket listening');
  }
  if (shutdown.requested) return shutdown.exitWhenStopped();
  shutdown.started();
  process.on('SIGHUP', () => {
    // It never rejects: a reload that fails is a report, logged by the reloader.
    void reloader.reload('SIGHUP');
  });
  releaseHangup();

  if (serviceFiles !== null) {
    let other: number | null;
    try {
      other = serviceFiles.publish();
    } catch (err) {
      process.stderr.write(`reactor-server: cannot write pid file ${serviceFiles.pidFile}: ${err instanceof Error ? err.message : String(err)}\n`);
      await running.stop();
      process.exit(1);
    }
    if (other !== null) {
      // Another server claimed the file while this one started: it keeps it.
      process.stderr.write(alreadyRunning(other, serviceFiles.pidFile));
      await running.stop();
      process.exit(1);
    }
  }
  const { address } = running;
  // The ready line: what scripts wait for, and the one thing printed whatever the log level.
  const shape = settings.tlsCert === undefined ? running.shape : `${running.shape}, TLS`;
  process.stdout.write(`reactor-server listening on ${formatHostPort(address.address, address.port)} (${shape})\n`);
}

export function addStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run the server in the foreground (default application: the echo, replying "[Server Reply]: " + message)');
  addStartSettings(command).action((settings: StartSettings & { config?: string }, cmd: Command) => {
    const { config: configFile, ...values } = settings;
    return start(values, pinnedSettings(cmd), configFile);
  });
}
