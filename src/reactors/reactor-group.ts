import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { addStats, emptyStats, type LoopStats } from '../core/loop-stats.js';
import { InvalidOptionError, ReactorError, ServerStateError, UnsupportedError } from '../net/errors.js';
import { supportsReusePort } from '../net/platform.js';
import { flattenPayload, type Payload } from '../net/codec.js';
import { moduleUrl } from '../pool/module-url.js';
import { defaultPoolSize } from '../pool/thread-pool.js';
import { CODEC_NAMES, DEFAULT_OPTIONS, type CodecName } from '../server/options.js';
import { describeValue, rejectUnknownOptions, requireFunction, requireModule, requireName, requireOneOf, requireOptionsObject } from '../server/option-checks.js';
import { LOG_LEVELS, type LogLevel } from '../ops/logging.js';
import { REACTOR_SERVER_OPTION_NAMES, checkReactorServerOptions, type ReactorServerOptions } from '../server/reactor-server.js';
import type { FromReactor, SubReactorConfig } from './messages.js';
import { spawnProcess, spawnThread, type ReactorLink } from './reactor-link.js';

/** How sub-reactors run: worker threads with their own listeners, or cluster processes. */
export type ReactorMode = 'threads' | 'processes';

/** What `reactorMode` may be. */
export const REACTOR_MODES: readonly (ReactorMode | 'auto')[] = ['auto', 'threads', 'processes'];

export interface ReactorGroupOptions extends Omit<ReactorServerOptions, 'codec' | 'idStart' | 'idStep' | 'reusePort'> {
  /** A built-in codec by name (a Codec object cannot cross threads; an app factory can set one). */
  codec?: CodecName;
  /**
   * Number of sub-reactors, from 1 to `maxReactorCount()` (8 per core), or 'auto' for half the
   * cores (at least 1). Default 'auto'.
   */
  workers?: number | 'auto';
  /**
   * The application module every reactor runs (URL or path): its export is a ReactorServer
   * subclass, a factory returning a ReactorServer or NetServer, or an object of callbacks.
   * Default: the echo.
   */
  app?: string | URL;
  /** Which export of `app`. Default `"default"`. */
  appExport?: string;
  /**
   * 'threads' needs Linux and Node.js >= 22.12 (SO_REUSEPORT); 'processes' works everywhere.
   * Default (`auto`): threads where supported, else processes. The choice made is `group.mode`.
   */
  reactorMode?: ReactorMode | 'auto';
  /** Log level inside each sub-reactor (connection lifecycle is logged at debug). Default: silent. */
  logLevel?: LogLevel;
  /** A sub-reactor ended unexpectedly; it is being replaced. Default: a line on stderr. */
  onReactorExit?: (reactor: ReactorInfo, code: number | null) => void;
}

/** One sub-reactor as the supervisor sees it. */
export interface ReactorInfo {
  index: number;
  kind: 'thread' | 'process';
  /** Thread id (threads) or process id (processes). */
  id: number;
  /** Times this slot's reactor was replaced after dying. */
  restarts: number;
}

export interface ReactorStats {
  reactor: ReactorInfo;
  stats: LoopStats;
  /** Mean event-loop delay of that reactor since the previous stats() call, in seconds. */
  eventLoopLagSeconds: number;
}

export interface GroupStats {
  total: LoopStats;
  reactors: ReactorStats[];
}

/** A sub-reactor failed to start (bad application module, port in use, ...). */
export class ReactorStartError extends ReactorError {
  constructor(index: number, message: string, readonly causeCode: string | undefined) {
    super('ERR_REACTOR_START', `sub-reactor ${index} failed to start: ${message}`);
  }
}

interface Slot {
  index: number;
  link: ReactorLink;
  restarts: number;
  ready: boolean;
  waiters: { resolve: (info: AddressInfo) => void; reject: (err: Error) => void }[];
  /** Sent once the reactor says hello. */
  pendingConfig: SubReactorConfig | null;
}

/** Half the cores, at least one: the seed's number of socket dispatchers. */
export function defaultReactorCount(): number {
  return defaultPoolSize();
}

/** Sub-reactors per core a group may run at most. */
export const REACTORS_PER_CORE = 8;

/**
 * The most sub-reactors a group may run: 8 per core. Each is an event loop wanting a core of
 * its own, so past a few per core they only contend; and a mistyped count must be refused,
 * not forked until the machine stalls.
 */
export function maxReactorCount(): number {
  return REACTORS_PER_CORE * availableParallelism();
}

/** The range of `workers` in words, for every message that states it. */
export function reactorCountRange(): string {
  const cores = availableParallelism();
  return `an integer from 1 to ${maxReactorCount()} (${REACTORS_PER_CORE} per core, ${cores} core${cores === 1 ? '' : 's'} here: more reactors only contend for the cores)`;
}

/** Every option a ReactorGroup takes: a ReactorServer's, less what the group sets itself, and its own. */
const GROUP_OPTION_NAMES: readonly string[] = [
  ...REACTOR_SERVER_OPTION_NAMES.filter((name) => name !== 'idStart' && name !== 'idStep' && name !== 'reusePort'),
  ...Object.keys({ workers: true, app: true, appExport: true, reactorMode: true, logLevel: true, onReactorExit: true } satisfies Record<
    Exclude<keyof ReactorGroupOptions, keyof ReactorServerOptions>,
    true
  >),
];

/**
 * Checks a group's options as its constructor does, starting nothing.
 * @returns how many sub-reactors the group would run, and how
 * @throws InvalidOptionError naming the first bad option (UnknownOptionError for a key that is
 *   none); UnsupportedError (option `reactorMode`) for 'threads' where unsupported
 */
export function resolveGroupOptions(options: ReactorGroupOptions): { size: number; mode: ReactorMode } {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, GROUP_OPTION_NAMES);
  const { workers = 'auto', app, appExport = 'default', reactorMode = 'auto', logLevel = 'silent', onReactorExit, ...serverOptions } = options;
  if (workers !== 'auto' && (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1 || workers > maxReactorCount())) {
    throw new InvalidOptionError('workers', `must be 'auto' or ${reactorCountRange()}, got ${describeValue(workers)}`);
  }
  requireOneOf('reactorMode', reactorMode, REACTOR_MODES);
  if (app !== undefined) requireModule('app', app);
  requireName('appExport', appExport);
  requireOneOf('logLevel', logLevel, LOG_LEVELS);
  if (onReactorExit !== undefined) requireFunction('onReactorExit', onReactorExit);
  // By name only: a Codec object cannot be sent to another thread or process.
  if (serverOptions.codec !== undefined) requireOneOf('codec', serverOptions.codec, CODEC_NAMES);
  checkReactorServerOptions(serverOptions);
  if (reactorMode === 'threads' && !supportsReusePort()) {
    throw new UnsupportedError(`threads mode needs SO_REUSEPORT (Linux, Node.js >= 22.12); this is ${process.platform} ${process.version}`, 'reactorMode');
  }
  return {
    size: workers === 'auto' ? defaultReactorCount() : workers,
    mode: reactorMode === 'auto' ? (supportsReusePort() ? 'threads' : 'processes') : reactorMode,
  };
}

const STATS_TIMEOUT_MS = 2000;
/** How long past its drain deadline a reactor may take to end before it is terminated. */
const STOP_GRACE_MS = 15_000;
const DEFAULT_DRAIN_SECONDS = DEFAULT_OPTIONS.drainTimeout;

/**
 * N sub-reactors serving one address, the seed's NetServer with its socket dispatchers on
 * worker threads. Each sub-reactor runs the application with its own event loop, Dispatcher,
 * idle sweep and connection registry; the group supervises them, relays broadcasts between
 * them, aggregates their stats and replaces one that dies.
 *
 * ```ts
 * const group = new ReactorGroup({ workers: 2, port: 9000, app: new URL('./app.js', import.meta.url) });
 * await group.start();
 * ```
 */
export class ReactorGroup {
  readonly mode: ReactorMode;
  readonly size: number;
  private readonly config: Omit<SubReactorConfig, 'index' | 'generation'>;
  private readonly slots: Slot[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private address: AddressInfo | null = null;
  private nextRequestId = 1;
  private readonly statsRequests = new Map<number, (stats: LoopStats, eventLoopLagSeconds: number) => void>();
  private stopping: Promise<void> | null = null;

  /**
   * Checks the options (see `resolveGroupOptions`); starts nothing until `start()`.
   * @throws InvalidOptionError for a bad option, UnsupportedError for 'threads' where unsupported
   */
  constructor(private readonly options: ReactorGroupOptions = {}) {
    ({ size: this.size, mode: this.mode } = resolveGroupOptions(options));
    const { workers: _workers, app, appExport = 'default', reactorMode: _mode, logLevel = 'silent', onReactorExit: _onExit, ...serverOptions } = options;
    const taskModule = serverOptions.taskModule === undefined ? undefined : moduleUrl(serverOptions.taskModule);
    this.config = {
      count: this.size,
      app: app === undefined ? null : moduleUrl(app),
      appExport,
      logLevel,
      options: { ...serverOptions, taskModule, reusePort: this.mode === 'threads' },
    };
  }

  /**
   * Starts every sub-reactor; resolves with the address once all serve.
   * @throws ReactorStartError if a sub-reactor cannot start (the others are stopped)
   */
  async start(): Promise<AddressInfo> {
    if (this.state !== 'new') throw new ServerStateError(`start() called on a group that is ${this.state}`);
    this.state = 'starting';
    try {
      if (this.mode === 'processes' && (this.config.options.port ?? DEFAULT_OPTIONS.port) === 0) {
        // The primary's shared listener lives only while some worker listens: if every reactor
        // died, a replacement asking for port 0 would get a new port. Settle the port first.
        this.config.options.port = await freePort(this.config.options.host ?? DEFAULT_OPTIONS.host);
      }
      // With reusePort each listener binds by itself: the first one settles what port 0 means.
      this.address = await this.spawn(0);
      const others = Array.from({ length: this.size - 1 }, (_, i) => this.spawn(i + 1));
      await Promise.all(others);
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (this.state === 'starting') this.state = 'running';
    return this.address;
  }

  /**
   * Stops every sub-reactor (each stops accepting, drains its connections as
   * `NetServer.stop` does, and closes) and resolves when all threads or processes have ended.
   * Every call returns the same promise.
   */
  stop(options: { drainTimeout?: number } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.shutdown(options.drainTimeout ?? this.options.drainTimeout);
    return this.stopping;
  }

  /** True once every sub-reactor serves, until `stop()`. */
  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** The sub-reactors, in slot order. */
  get reactors(): ReactorInfo[] {
    return this.slots.map((slot) => this.info(slot));
  }

  /** Sends `payload` to every connection on every reactor. */
  broadcast(payload: Payload): void {
    const message = { t: 'broadcast' as const, payload: flattenPayload(payload) };
    for (const slot of this.slots) if (slot.ready) slot.link.send(message);
  }

  /** Counters of every reactor and their sum. Reactors that do not answer in time are left out. */
  async stats(): Promise<GroupStats> {
    const answers = await Promise.all(this.slots.filter((slot) => slot.ready).map((slot) => this.askStats(slot)));
    const reactors = answers.filter((answer): answer is ReactorStats => answer !== null);
    const total = emptyStats();
    for (const { stats } of reactors) addStats(total, stats);
    return { total, reactors };
  }

  /**
   * Ends sub-reactor `index` at once, as a crash would; the group replaces it.
   * @returns the replacement, once it serves
   */
  async terminateReactor(index: number): Promise<ReactorInfo> {
    const slot = this.slots[index];
    if (slot === undefined) throw new RangeError(`no sub-reactor ${index}`);
    const replaced = new Promise<AddressInfo>((resolve, reject) => slot.waiters.push({ resolve, reject }));
    slot.ready = false;
    slot.link.terminate();
    await replaced;
    return this.info(slot);
  }

  private info(slot: Slot): ReactorInfo {
    return { index: slot.index, kind: slot.link.kind, id: slot.link.id, restarts: slot.restarts };
  }

  private spawn(index: number): Promise<AddressInfo> {
    const link = this.mode === 'threads' ? spawnThread() : spawnProcess();
    let slot = this.slots[index];
    if (slot === undefined) {
      slot = { index, link, restarts: 0, ready: false, waiters: [], pendingConfig: null };
      this.slots[index] = slot;
    } else {
      slot.link = link;
      slot.ready = false;
    }
    const current = slot;
    const started = new Promise<AddressInfo>((resolve, reject) => current.waiters.push({ resolve, reject }));
    link.onMessage((message) => this.onReactorMessage(current, link, message));
    link.onExit((code) => this.onReactorExit(current, link, code));
    // Cluster workers share the primary's listener by its listen arguments, port 0 included;
    // reusePort listeners each bind for themselves, so after the first the real port is needed.
    const requested = this.config.options.port ?? DEFAULT_OPTIONS.port;
    const port = this.mode === 'processes' || this.address === null ? requested : this.address.port;
    current.pendingConfig = { ...this.config, index, generation: current.restarts, options: { ...this.config.options, port } };
    return started;
  }

  private onReactorMessage(slot: Slot, link: ReactorLink, message: FromReactor): void {
    if (slot.link !== link) return;
    switch (message.t) {
      case 'hello':
        if (slot.pendingConfig !== null) link.send({ t: 'start', config: slot.pendingConfig });
        slot.pendingConfig = null;
        break;
      case 'ready':
        slot.ready = true;
        for (const waiter of slot.waiters.splice(0)) waiter.resolve({ address: message.address, family: message.family, port: message.port });
        break;
      case 'failed':
        for (const waiter of slot.waiters.splice(0)) waiter.reject(new ReactorStartError(slot.index, message.message, message.code));
        break;
      case 'broadcast':
        for (const other of this.slots) if (other !== slot && other.ready) other.link.send(message);
        break;
      case 'stats':
        this.statsRequests.get(message.requestId)?.(message.stats, message.eventLoopLagSeconds);
        break;
      case 'stopped':
        break;
    }
  }

  private onReactorExit(slot: Slot, link: ReactorLink, code: number | null): void {
    if (slot.link !== link) return;
    slot.ready = false;
    if (this.state !== 'running') {
      for (const waiter of slot.waiters.splice(0)) waiter.reject(new ReactorStartError(slot.index, `exited with code ${code}`, undefined));
      return;
    }
    const reactor = this.info(slot);
    if (this.options.onReactorExit !== undefined) this.options.onReactorExit(reactor, code);
    else process.stderr.write(`reactor-server: sub-reactor ${slot.index} (${reactor.kind} ${reactor.id}) exited with code ${code}; replacing it\n`);
    slot.restarts++;
    this.spawn(slot.index).catch((err: unknown) => {
      process.stderr.write(`reactor-server: could not replace sub-reactor ${slot.index}: ${String(err)}\n`);
    });
  }

  private askStats(slot: Slot): Promise<ReactorStats | null> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.statsRequests.delete(requestId);
        resolve(null);
      }, STATS_TIMEOUT_MS);
      this.statsRequests.set(requestId, (stats, eventLoopLagSeconds) => {
        clearTimeout(timer);
        this.statsRequests.delete(requestId);
        resolve({ reactor: this.info(slot), stats, eventLoopLagSeconds });
      });
      slot.link.send({ t: 'stats', requestId });
    });
  }

  private async shutdown(drainTimeout: number | undefined): Promise<void> {
    this.state = 'stopping';
    await Promise.all(this.slots.map((slot) => this.stopReactor(slot.link, drainTimeout)));
    this.state = 'stopped';
  }

  /** Asks a reactor to stop; one that does not end in time is terminated. */
  private async stopReactor(link: ReactorLink, drainTimeout: number | undefined): Promise<void> {
    const timer = setTimeout(() => link.terminate(), (drainTimeout ?? DEFAULT_DRAIN_SECONDS) * 1000 + STOP_GRACE_MS);
    link.send({ t: 'stop', drainTimeout });
    await link.exited;
    clearTimeout(timer);
  }
}

/** A port free right now on `host`, found by binding port 0 and letting it go. */
async function freePort(host: string): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, host);
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
