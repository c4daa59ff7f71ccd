/**
 * The entry point of one sub-reactor: a worker thread (reusePort mode) or a cluster worker
 * process (round-robin mode). It loads the application, joins it to the group (broadcasts go
 * through the supervisor), serves, answers stats requests, and stops when told.
 */
import cluster from 'node:cluster';
import { parentPort } from 'node:worker_threads';
import type { Application } from './app-loader.js';
import { loadApplication } from './app-loader.js';
import type { FromReactor, SubReactorConfig, ToReactor } from './messages.js';
import { createLogger, loggingObserver } from '../ops/logging.js';
import { eventLoopLagMeter } from '../ops/metrics.js';

interface Channel {
  send(message: FromReactor): void;
  onMessage(handler: (message: ToReactor) => void): void;
  /** Lets this reactor's thread or process end once the server has closed. */
  close(): void;
}

function threadChannel(port: NonNullable<typeof parentPort>): Channel {
  return {
    send: (message) => port.postMessage(message),
    onMessage: (handler) => port.on('message', handler),
    close: () => port.close(),
  };
}

function processChannel(): Channel {
  return {
    send: (message) => process.send?.(message),
    onMessage: (handler) => process.on('message', handler as (message: unknown) => void),
    close: () => process.disconnect?.(),
  };
}

/** Connection ids each reactor of a slot may hand out before the slot's next generation. */
const ID_RANGE_PER_GENERATION = 2 ** 32;

const channel = parentPort !== null ? threadChannel(parentPort) : processChannel();
let app: Application | null = null;
const lag = eventLoopLagMeter();

async function start(config: SubReactorConfig): Promise<void> {
  try {
    // Ids step by the group size from the slot's index, and a replacement starts in a range of
    // its own, so an id never names two connections in the group's lifetime.
    const idStart = config.index + 1 + config.generation * config.count * ID_RANGE_PER_GENERATION;
    app = await loadApplication(config.app, { ...config.options, idStart, idStep: config.count }, config.appExport);
    app.server.attachGroup({ broadcast: (payload) => channel.send({ t: 'broadcast', payload }) });
    if (config.logLevel !== 'silent') app.server.addObserver(loggingObserver(createLogger(config.logLevel, false, { reactor: config.index })));
    const address = await app.start();
    channel.send({ t: 'ready', address: address.address, family: address.family, port: address.port });
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    channel.send({ t: 'failed', message: error.message ?? String(err), code: error.code });
    channel.close();
  }
}

async function stop(drainTimeout: number | undefined): Promise<void> {
  await app?.stop({ drainTimeout });
  lag.stop();
  channel.send({ t: 'stopped' });
  channel.close();
}

channel.onMessage((message) => {
  switch (message.t) {
    case 'start':
      void start(message.config);
      break;
    case 'broadcast':
      app?.server.broadcastLocal(message.payload);
      break;
    case 'stats':
      if (app !== null) channel.send({ t: 'stats', requestId: message.requestId, stats: app.server.stats, eventLoopLagSeconds: lag.mean() });
      break;
    case 'stop':
      void stop(message.drainTimeout);
      break;
  }
});

channel.send({ t: 'hello' });

if (cluster.isWorker) {
  // A terminal's Ctrl-C reaches the whole process group: stopping is the supervisor's call.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  // Without the supervisor there is no one to stop us: close down.
  process.on('disconnect', () => void app?.stop().finally(() => process.exit(0)));
}
