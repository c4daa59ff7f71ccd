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
import { createLogger, loggingObserver, type LogLevel } from '../ops/logging.js';
import type { Logger } from 'pino';
import { eventLoopLagMeter } from '../ops/metrics.js';
import { AddressTable } from '../admission/address-table.js';
import { tableLimiter, type AddressLimiter } from '../admission/admission-control.js';
import { RemoteLimiter } from '../admission/remote-limiter.js';
import { deliverTo } from '../broker/deliver.js';

interface Channel {
  send(message: FromReactor): void;
  onMessage(handler: (message: ToReactor) => void): void;
  /** Lets this reactor's thread or process end once the server has closed. */
  close(): void;
  /** False once the supervisor is out of reach. */
  connected(): boolean;
}

function threadChannel(port: NonNullable<typeof parentPort>): Channel {
  return {
    send: (message) => port.postMessage(message),
    onMessage: (handler) => port.on('message', handler),
    close: () => port.close(),
    connected: () => true,
  };
}

function processChannel(): Channel {
  return {
    // Without a callback a failed send (the supervisor is gone: EPIPE) is an uncaught 'error'.
    send: (message) => process.send?.(message, undefined, undefined, ignoreSendError),
    onMessage: (handler) => process.on('message', handler as (message: unknown) => void),
    close: () => process.disconnect?.(),
    connected: () => process.connected === true,
  };
}

function ignoreSendError(): void {}

/** Connection ids each reactor of a slot may hand out before the slot's next generation. */
const ID_RANGE_PER_GENERATION = 2 ** 32;

const channel = parentPort !== null ? threadChannel(parentPort) : processChannel();
let app: Application | null = null;
const lag = eventLoopLagMeter();

/** The start in progress or done; a stop waits for it, so a reactor told to stop while starting never serves. */
let starting: Promise<void> | null = null;
let stopRequested = false;
/** The supervisor's per-address limits (processes mode), waiting for its answers. */
let remoteLimiter: RemoteLimiter | null = null;
let reactorIndex = -1;

/** This reactor's view of the group's per-address limits. */
function limiterOf(config: SubReactorConfig): AddressLimiter | undefined {
  const admission = config.admission;
  if (admission === null) return undefined;
  if (admission.kind === 'shared') return tableLimiter(AddressTable.attach(admission.table), config.column);
  remoteLimiter = new RemoteLimiter((ops) => channel.send({ t: 'admission', ops }), admission.countsConnections);
  return remoteLimiter;
}

async function start(config: SubReactorConfig): Promise<void> {
  try {
    // Ids step by the group size from the slot's index, and a replacement starts in a range of
    // its own, so an id never names two connections in the group's lifetime.
    const idStart = config.index + 1 + config.generation * config.count * ID_RANGE_PER_GENERATION;
    const loaded = await loadApplication(config.app, { ...config.options, idStart, idStep: config.count }, config.appExport);
    if (stopRequested) return;
    app = loaded;
    // What is for other reactors and instances goes to the supervisor's broker hub.
    app.server.attachBroker({
      broadcast: (payload) => channel.send({ t: 'broadcast', payload }),
      publish: (topic, payload) => channel.send({ t: 'publish', topic, payload }),
      sendTo: (instance, id, payload) => channel.send({ t: 'sendTo', instance, id, payload }),
      subscribe: (topic) => channel.send({ t: 'subscribe', topic }),
      unsubscribe: (topic) => channel.send({ t: 'unsubscribe', topic }),
    });
    const limiter = limiterOf(config);
    if (limiter !== undefined) app.server.attachLimiter(limiter);
    setLogLevel(config.logLevel, config.index);
    const address = await app.start();
    if (!stopRequested) channel.send({ t: 'ready', address: address.address, family: address.family, port: address.port });
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    channel.send({ t: 'failed', message: error.message ?? String(err), code: error.code });
    channel.close();
  }
}

/** This reactor's logger: made when a level other than silent is first asked for (at start or by a reconfigure). */
let logger: Logger | null = null;

function setLogLevel(level: LogLevel, index: number): void {
  if (logger !== null) logger.level = level;
  else if (level !== 'silent' && app !== null) {
    logger = createLogger(level, false, { reactor: index });
    app.server.addObserver(loggingObserver(logger));
  }
}

/** New live options and log level: checked by the supervisor, so a refusal here is a bug reported back, not a crash. */
function reconfigure(message: Extract<ToReactor, { t: 'reconfigure' }>): void {
  let error: string | undefined;
  try {
    if (app !== null) {
      app.server.reconfigure(message.options);
      if (message.logLevel !== undefined) setLogLevel(message.logLevel, reactorIndex);
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  channel.send({ t: 'reconfigured', requestId: message.requestId, error });
}

let stopping: Promise<void> | null = null;
/** Resolves the wait for the supervisor's `release`. */
let release: (() => void) | null = null;
/** How long a stopped reactor waits for the supervisor's `release` (it may be gone). */
const RELEASE_WAIT_MS = 5000;

function stop(drainTimeout: number | undefined): Promise<void> {
  stopping ??= shutdown(drainTimeout);
  return stopping;
}

async function shutdown(drainTimeout: number | undefined): Promise<void> {
  stopRequested = true;
  await starting;
  if (app !== null) {
    const stopped = app.stop({ drainTimeout });
    // The supervisor replacing this reactor waits for this: after it, no connection comes here.
    await app.server.notAccepting();
    channel.send({ t: 'notAccepting' });
    await stopped;
  }
  lag.stop();
  // Leave only once the supervisor has answered: a cluster primary may have handed us a
  // connection just before it learned our listener closed, and that message must be read (and
  // declined, so the primary gives the connection to another reactor) before the channel goes.
  const released = new Promise<void>((resolve) => {
    release = resolve;
    setTimeout(resolve, RELEASE_WAIT_MS).unref();
  });
  channel.send({ t: 'stopped' });
  if (channel.connected()) await released;
  channel.close();
}

channel.onMessage((message) => {
  switch (message.t) {
    case 'start':
      reactorIndex = message.config.index;
      starting = start(message.config);
      break;
    case 'reconfigure':
      // A reactor still starting takes the group's settings of the moment it said hello; it answers once it serves.
      void (starting ?? Promise.resolve()).then(() => reconfigure(message));
      break;
    case 'broadcast':
    case 'publish':
    case 'sendTo':
      if (app !== null) deliverTo(app.server, message);
      break;
    case 'stats':
      if (app !== null) channel.send({ t: 'stats', requestId: message.requestId, stats: app.server.stats, eventLoopLagSeconds: lag.mean() });
      break;
    case 'stop':
      void stop(message.drainTimeout);
      break;
    case 'release':
      release?.();
      break;
    case 'admitted':
      remoteLimiter?.answered(message.answers);
      break;
    case 'reloadTls':
      // Checked by the supervisor first; a failure here would leave the old material in use.
      app?.server.reloadTls(message.tls);
      break;
  }
});

channel.send({ t: 'hello' });

if (cluster.isWorker) {
  // A terminal's Ctrl-C reaches the whole process group: stopping is the supervisor's call.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => undefined);
  // A terminal's hangup reaches the whole group too; the supervisor alone reloads.
  process.on('SIGHUP', () => undefined);
  // Without the supervisor there is no one to stop us: close down.
  process.on('disconnect', () => void stop(undefined).finally(() => process.exit(0)));
  // The supervisor logs why a reactor died (a thread's error reaches it by itself): tell it, then die.
  process.on('uncaughtException', (error: unknown) => {
    const { name, message, stack } = error instanceof Error ? error : new Error(String(error));
    const exit = (): never => process.exit(1);
    if (process.connected) process.send?.({ t: 'fatal', name, message, stack } satisfies FromReactor, undefined, undefined, exit);
    else exit();
  });
}
