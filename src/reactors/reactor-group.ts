import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { availableParallelism } from 'node:os';
import { addStats, emptyStats, type LoopStats } from '../core/loop-stats.js';
import { InvalidOptionError, PayloadTooLargeError, ReactorStartError, ServerStateError, UnsupportedError } from '../core/errors.js';
import { REUSE_PORT_SUPPORT, runtimeDescription, supportsReusePort } from '../transport/platform.js';
import { checkTlsTransport, resolveTransportName, type TransportName } from '../transport/transport-choice.js';
import { flattenPayload, payloadByteLength, type Payload } from '../core/payload.js';
import { defaultInstanceId, parseConnectionId } from '../core/connection-id.js';
import { Broker, resolveBrokerOptions, type BrokerOptions, type BrokerStatus } from '../broker/broker.js';
import { FROM_GROUP } from '../broker/broker-hub.js';
import { requireTopic } from '../server/broker-link.js';
import { moduleUrl } from '../pool/module-url.js';
import { defaultPoolSize } from '../pool/thread-pool.js';
import { CODEC_NAMES, DEFAULT_OPTIONS, SERVER_OPTION_NAMES, resolveOptions, stripUndefined, type CodecName, type ServerOptions } from '../server/options.js';
import { checkLiveChanges, type LiveOptions } from '../server/live-options.js';
import { describeValue, rejectUnknownOptions, requireFunction, requireModule, requireName, requireNumber, requireOneOf, requireOptionsObject } from '../core/option-checks.js';
import { LOG_LEVELS, type LogLevel } from '../ops/logging.js';
import { REACTOR_SERVER_OPTION_NAMES, checkReactorServerOptions, type ReactorServerOptions } from '../server/reactor-server.js';
import type { FromReactor, SubReactorConfig, ToReactor } from './messages.js';
import { createTlsContext, type TlsMaterial, type TlsOptions } from '../transport/node-tls.js';
import { spawnProcess, spawnThread, type ReactorLink } from './reactor-link.js';
import { AddressTable } from '../admission/address-table.js';
import { addressLimitsOf } from '../admission/admission-control.js';
import { applyAdmissionOps } from '../admission/remote-limiter.js';
import type { AddressTracking } from '../server/net-server.js';

/** How sub-reactors run: worker threads with their own listeners, or cluster processes. */
export type ReactorMode = 'threads' | 'processes';

/** What `reactorMode` may be. */
export const REACTOR_MODES: readonly (ReactorMode | 'auto')[] = ['auto', 'threads', 'processes'];

export interface ReactorGroupOptions extends Omit<ReactorServerOptions, 'codec' | 'idStart' | 'idStep' | 'reusePort' | 'transport'> {
  /** A built-in codec by name (a Codec object cannot cross threads; an app factory can set one). */
  codec?: CodecName;
  /**
   * The sockets every reactor serves with, by name: `auto` (default), `node`, `bun`. In
   * processes mode connections come from the cluster primary as node:net handles, so `auto`
   * means node there and `bun` is refused.
   */
  transport?: TransportName;
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
   * 'threads' needs SO_REUSEPORT (where {@link REUSE_PORT_SUPPORT} says); 'processes' works everywhere.
   * Default (`auto`): threads where supported, else processes. The choice made is `group.mode`.
   */
  reactorMode?: ReactorMode | 'auto';
  /** Log level inside each sub-reactor (connection lifecycle is logged at debug). Default: silent. */
  logLevel?: LogLevel;
  /**
   * A sub-reactor ended unexpectedly, or its replacement failed to start; it will be replaced
   * after `exit.restartInMs`. Called once per exit. Default: a line on stderr.
   */
  onReactorExit?: (reactor: ReactorInfo, exit: ReactorExit) => void;
  /** How soon a slot whose reactors keep dying is tried again. */
  restartBackoff?: Partial<RestartBackoff>;
  /**
   * How broadcasts, topic publishes and direct sends travel beyond one reactor: `local`
   * (default: between this group's reactors) or `redis://HOST:PORT[/DB]` (every instance on
   * that Redis), or BrokerOptions. Every instance sharing a Redis needs its own `instanceId`.
   */
  broker?: string | BrokerOptions;
}

/** What `onReactorExit` learns about one reactor's end. */
export interface ReactorExit {
  /** Its exit code; null when a signal killed it. */
  code: number | null;
  /** The uncaught exception it died of, or why it failed to start; undefined when it was killed. */
  error: Error | undefined;
  /** Failures of this slot in a row (1 after a reactor that had served well dies). */
  failures: number;
  /** Milliseconds until the replacement is started: 0 for the first failure, then growing. */
  restartInMs: number;
}

/**
 * The replacement schedule of a slot that keeps failing: the first failure is replaced at once,
 * then the wait doubles from `initialMs` up to `maxMs`, each wait drawn at random from its upper
 * half so that slots failing together do not retry in step. A reactor that serves for
 * `resetAfterMs` clears its slot's failures.
 */
export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
  resetAfterMs: number;
}

export const DEFAULT_RESTART_BACKOFF: Readonly<RestartBackoff> = Object.freeze({ initialMs: 100, maxMs: 30_000, resetAfterMs: 10_000 });

/** A slot's health: serving, starting (a reactor is on its way up), or down (waiting to retry). */
export interface ReactorStatus {
  index: number;
  state: 'serving' | 'starting' | 'down';
  /** Failures in a row (0 once a reactor has served for `resetAfterMs`). */
  failures: number;
  /** Why the slot's last reactor ended, if it failed. */
  lastError: Error | undefined;
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

/** A reactor being replaced: it drains its connections and then ends; nothing replaces it. */
interface Outgoing {
  link: ReactorLink;
  column: number;
  /** Resolves once it has closed its listener (or has gone). */
  notAccepting: Promise<void>;
  acceptingEnded: () => void;
}

interface Slot {
  index: number;
  link: ReactorLink;
  /**
   * Where the current reactor counts in the shared per-address table and in the broker hub:
   * the slot's index or index + size, the other one being free for the next replacement
   * while this one is still draining.
   */
  column: number;
  /** Reactors this slot has had before the current one (each gets a range of connection ids of its own). */
  generation: number;
  /** Replacements after a failure (not those asked for by `replaceReactors`). */
  restarts: number;
  ready: boolean;
  /** When the current reactor became ready (performance.now()), or -1. */
  readyAt: number;
  /** Failures in a row, see RestartBackoff. */
  failures: number;
  /** Why the current reactor said it could not start; it exits next. */
  startError: Error | undefined;
  lastError: Error | undefined;
  /** The wait before the next replacement, while the slot is down. */
  retry: NodeJS.Timeout | null;
  /** Whoever waits for this slot to serve: start(), terminateReactor(). */
  waiters: { resolve: (info: AddressInfo) => void; reject: (err: Error) => void }[];
  /** The port to start the reactor on, once it says hello (its config is built then, from the group's settings at that moment). */
  pendingPort: number | null;
  /** The reactor the current one replaces, while it still serves or drains. */
  outgoing: Outgoing | null;
  /** True while a new reactor starts in place of a serving one: a failure then keeps the old one. */
  replacing: boolean;
}

/** One slot's reactor replaced by `replaceReactors`: the thread or process before and after. */
export interface ReplacedReactorInfo {
  index: number;
  kind: 'thread' | 'process';
  from: number;
  to: number;
}

/** The options of a NetServer among a group's reactor options. */
function pickServerOptions(options: Record<string, unknown>): Partial<ServerOptions> {
  return Object.fromEntries(Object.entries(stripUndefined(options)).filter(([key]) => (SERVER_OPTION_NAMES as readonly string[]).includes(key))) as Partial<ServerOptions>;
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
  ...Object.keys({ workers: true, app: true, appExport: true, reactorMode: true, logLevel: true, onReactorExit: true, restartBackoff: true, broker: true } satisfies Record<
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
export function resolveGroupOptions(options: ReactorGroupOptions): { size: number; mode: ReactorMode; backoff: RestartBackoff; transport: 'node' | 'bun' } {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, GROUP_OPTION_NAMES);
  const { workers = 'auto', app, appExport = 'default', reactorMode = 'auto', logLevel = 'silent', onReactorExit, restartBackoff, broker, transport = 'auto', ...serverOptions } = options;
  const backoff = resolveBackoff(restartBackoff);
  resolveBrokerOptions(broker);
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
    throw new UnsupportedError(`threads mode needs SO_REUSEPORT (${REUSE_PORT_SUPPORT}); this is ${process.platform} ${runtimeDescription()}`, 'reactorMode');
  }
  const mode = reactorMode === 'auto' ? (supportsReusePort() ? 'threads' : 'processes') : reactorMode;
  const sockets = resolveTransportName(transport);
  if (serverOptions.tls !== undefined) checkTlsTransport(transport);
  if (mode === 'processes' && transport === 'bun') {
    throw new UnsupportedError('transport bun serves threads mode only: in processes mode every connection is accepted by the cluster primary and handed over as a node:net handle', 'transport');
  }
  const served = mode === 'processes' || serverOptions.tls !== undefined ? 'node' : sockets;
  return { size: workers === 'auto' ? defaultReactorCount() : workers, mode, backoff, transport: served };
}

/** Fresh ports tried when the probed one is taken before the cluster primary binds it. */
const FREE_PORT_ATTEMPTS = 3;
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
  private readonly config: Omit<SubReactorConfig, 'index' | 'generation' | 'column'>;
  private readonly slots: Slot[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  private address: AddressInfo | null = null;
  private nextRequestId = 1;
  private readonly statsRequests = new Map<number, (stats: LoopStats, eventLoopLagSeconds: number) => void>();
  private readonly reconfigureRequests = new Map<number, (error: string | undefined) => void>();
  /** The reconfiguration or replacement under way: the next waits for it. */
  private changing: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  /** The stop every reactor is told, once stop() was called (also to reactors that greet us later). */
  private stopRequest: (ToReactor & { t: 'stop' }) | null = null;
  private readonly backoff: RestartBackoff;
  /** The per-address limits of every reactor together, when set: shared memory (threads) or kept here (processes). */
  private readonly addressTable: AddressTable | null;
  /** Routes broadcasts, publishes and direct sends between the reactors, and to other instances. */
  private readonly broker: Broker;
  /** This instance's id, shared by every reactor: the first part of each `conn.globalId`. */
  readonly instanceId: string;
  /** The sockets the reactors serve with (the `transport` option as resolved for this runtime and mode). */
  readonly transport: 'node' | 'bun';
  private readonly maxMessageBytes: number;

  /**
   * Checks the options (see `resolveGroupOptions`); starts nothing until `start()`.
   * @throws InvalidOptionError for a bad option, UnsupportedError for 'threads' where unsupported
   */
  constructor(private readonly options: ReactorGroupOptions = {}) {
    const resolved = resolveGroupOptions(options);
    ({ size: this.size, mode: this.mode, backoff: this.backoff, transport: this.transport } = resolved);
    const { transport: _transport, workers: _workers, app, appExport = 'default', reactorMode: _mode, logLevel = 'silent', onReactorExit: _onExit, restartBackoff: _backoff, broker, ...serverOptions } = options;
    this.instanceId = serverOptions.instanceId ?? defaultInstanceId();
    this.maxMessageBytes = serverOptions.maxMessageBytes ?? DEFAULT_OPTIONS.maxMessageBytes;
    this.broker = new Broker(broker, { instanceId: this.instanceId, reactorCount: this.size, maxMessageBytes: this.maxMessageBytes });
    const taskModule = serverOptions.taskModule === undefined ? undefined : moduleUrl(serverOptions.taskModule);
    const limits = addressLimitsOf({
      ...DEFAULT_OPTIONS,
      ...stripUndefined(serverOptions),
    });
    // Two columns per slot: a replacement counts in one while the reactor it replaces drains in the other.
    this.addressTable = limits === null ? null : AddressTable.create(serverOptions.maxTrackedAddresses ?? DEFAULT_OPTIONS.maxTrackedAddresses, 2 * this.size, limits);
    this.config = {
      count: this.size,
      app: app === undefined ? null : moduleUrl(app),
      appExport,
      logLevel,
      admission: this.admissionLink(),
      options: { ...serverOptions, transport: resolved.transport, taskModule, reusePort: this.mode === 'threads', instanceId: this.instanceId },
    };
  }

  /**
   * Starts every sub-reactor; resolves with the address once all serve.
   * @throws ReactorStartError if a sub-reactor cannot start (the others are stopped)
   */
  async start(): Promise<AddressInfo> {
    if (this.state !== 'new') throw new ServerStateError(`start() called on a group that is ${this.state}`);
    this.state = 'starting';
    this.broker.start();
    try {
      const host = this.config.options.host ?? DEFAULT_OPTIONS.host;
      const port = this.config.options.port ?? DEFAULT_OPTIONS.port;
      if (this.mode === 'threads') {
        // SO_REUSEPORT lets any process of the same user join a port that is already served,
        // and the kernel would then share the traffic with it. An exclusive bind fails on any
        // listener, reusePort or not: refuse to start where someone already serves. (Port 0 is
        // a fresh port nobody serves; reactor 0 settles it and the others bind the same.)
        if (port !== 0) await probePort(host, port);
        this.address = await this.spawn(0);
      } else {
        this.address = port === 0 ? await this.spawnOnFreePort(host) : await this.spawn(0);
      }
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
    if (this.stopping === null) this.stopping = this.shutdown(options.drainTimeout ?? this.config.options.drainTimeout);
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

  /**
   * How full the table of per-address limits shared by every reactor is; null without
   * per-address limits.
   */
  get addressTracking(): AddressTracking | null {
    const table = this.addressTable;
    if (table === null) return null;
    return { tracked: table.size, capacity: table.capacity, evictions: table.evictions, refusedForRoom: table.refusedForRoom };
  }

  /** Each slot's health, in slot order: whether it serves, and why it does not. */
  status(): ReactorStatus[] {
    return this.slots.map((slot) => ({
      index: slot.index,
      state: slot.ready || (slot.replacing && slot.outgoing !== null) ? 'serving' : slot.retry !== null ? 'down' : 'starting',
      failures: slot.failures,
      lastError: slot.lastError,
    }));
  }

  /**
   * Replaces the TLS material of every reactor (and of any replacement started later) for new
   * handshakes; open connections keep theirs. Checked here first: bad material throws and
   * nothing changes.
   * @throws ServerStateError on a group without `tls`; InvalidOptionError for bad material
   */
  reloadTls(material: TlsMaterial): void {
    const current = this.config.options.tls;
    if (current === undefined) throw new ServerStateError('reloadTls() on a group without tls');
    const next: TlsOptions = { ...current, cert: material.cert, key: material.key, ca: material.ca ?? current.ca, sni: material.sni ?? current.sni };
    createTlsContext(next);
    this.config.options.tls = next;
    const tls: TlsMaterial = { cert: next.cert, key: next.key, ...(next.ca === undefined ? {} : { ca: next.ca }), ...(next.sni === undefined ? {} : { sni: next.sni }) };
    for (const slot of this.slots) if (slot.ready) slot.link.send({ t: 'reloadTls', tls });
  }

  /**
   * Changes live options (see `NetServer.reconfigure`) and the reactors' log level in every
   * reactor, and in the per-address limits they share; reactors started later take them too.
   * Checked here first: on any problem nothing changes. Resolves when every serving reactor
   * has them in force. One change (or replacement) at a time: a second call waits for the first.
   * @throws InvalidOptionError naming the option; ServerStateError once stopped
   */
  reconfigure(changes: LiveOptions, logLevel?: LogLevel): Promise<void> {
    const run = this.changing.then(() => this.applyChanges(changes, logLevel));
    this.changing = run.catch(() => undefined);
    return run;
  }

  /**
   * Replaces every reactor, one at a time, with a new thread or process that loads the
   * application and task modules afresh: the new reactor serves before the old one stops
   * accepting, and the old one then drains its connections (up to drainTimeout) as on stop.
   * Processes: the primary hands new connections only to reactors that listen, and one that a
   * closing reactor declines goes to another. Threads: the new listener joins the port before
   * the old one leaves it (connections the kernel queued on the old one move to another
   * listener only where `net.ipv4.tcp_migrate_req` is 1; see docs/deploy.md). A new reactor
   * that cannot start is stopped, its slot keeps the old one, and this rejects with its error
   * (slots replaced before it stay replaced). A slot whose reactor is down is left to its
   * restart, which loads the new code anyway; a slot whose previously replaced reactor still
   * drains waits for it to end first (at most its drainTimeout).
   * @returns each replaced slot, with its thread or process before and after
   * @throws ReactorStartError when a new reactor cannot start; ServerStateError unless running
   */
  replaceReactors(): Promise<ReplacedReactorInfo[]> {
    const run = this.changing.then(() => this.replaceAll());
    this.changing = run.catch(() => undefined);
    return run;
  }

  private async applyChanges(changes: LiveOptions, logLevel: LogLevel | undefined): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') throw new ServerStateError(`reconfigure() called on a group that is ${this.state}`);
    if (logLevel !== undefined) requireOneOf('logLevel', logLevel, LOG_LEVELS);
    const current = resolveOptions(pickServerOptions(this.config.options));
    checkLiveChanges(current, changes);
    const given = stripUndefined(changes);
    const next = resolveOptions({ ...current, ...given });
    // A rate may drop to 0 with no maximum: the table stays, limiting nothing.
    this.addressTable?.setLimits({ maxConnectionsPerIp: next.maxConnectionsPerIp, connectRatePerIp: next.connectRatePerIp });
    Object.assign(this.config.options, given);
    if (logLevel !== undefined) this.config.logLevel = logLevel;
    // Every reactor told to start has its settings from before this change, or gets it now.
    const links = this.slots.filter((slot) => slot.pendingPort === null && slot.retry === null).map((slot) => slot.link);
    const refusals = await Promise.all(links.map((link) => this.askReconfigure(link, given, logLevel)));
    const refused = refusals.find((error) => error !== undefined);
    if (refused !== undefined) throw new ServerStateError(`a reactor refused options the group accepted: ${refused}`);
  }

  private askReconfigure(link: ReactorLink, options: LiveOptions, logLevel: LogLevel | undefined): Promise<string | undefined> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const done = (error: string | undefined): void => {
        this.reconfigureRequests.delete(requestId);
        resolve(error);
      };
      this.reconfigureRequests.set(requestId, done);
      // A reactor that ends first has no settings to hold; its replacement starts with the new ones.
      void link.exited.then(() => done(undefined));
      link.send({ t: 'reconfigure', requestId, options, logLevel });
    });
  }

  private async replaceAll(): Promise<ReplacedReactorInfo[]> {
    if (this.state !== 'running') throw new ServerStateError(`replaceReactors() called on a group that is ${this.state}`);
    const replaced: ReplacedReactorInfo[] = [];
    for (const slot of this.slots) {
      if (this.state !== 'running') throw new ServerStateError('the group was stopped while replacing its reactors');
      if (!slot.ready) continue;
      replaced.push(await this.replaceSlot(slot));
    }
    return replaced;
  }

  private async replaceSlot(slot: Slot): Promise<ReplacedReactorInfo> {
    // The other column must be free: a reactor replaced before still draining there ends first.
    if (slot.outgoing !== null) await slot.outgoing.link.exited;
    let acceptingEnded = (): void => undefined;
    const notAccepting = new Promise<void>((resolve) => (acceptingEnded = resolve));
    const old: Outgoing = { link: slot.link, column: slot.column, notAccepting: Promise.race([notAccepting, slot.link.exited]), acceptingEnded };
    const oldReadyAt = slot.readyAt;
    slot.outgoing = old;
    slot.replacing = true;
    try {
      await this.spawn(slot.index, slot.column < this.size ? slot.column + this.size : slot.column - this.size);
    } catch (err) {
      // The new reactor is stopped if it still runs; it never served, so it holds nothing.
      const failedColumn = slot.column;
      slot.link.terminate();
      this.addressTable?.releaseReactor(failedColumn);
      this.broker.hub.detach(failedColumn);
      slot.link = old.link;
      slot.column = old.column;
      if (slot.outgoing === old) {
        // The old reactor never stopped serving: it stays.
        slot.outgoing = null;
        slot.ready = true;
        slot.readyAt = oldReadyAt;
      } else if (this.state === 'running') {
        // It died meanwhile (onReactorExit saw it go as an outgoing reactor): start its slot afresh.
        slot.restarts++;
        this.spawn(slot.index, old.column).catch(() => undefined);
      }
      throw err;
    } finally {
      slot.replacing = false;
    }
    // The new reactor serves: the old one stops accepting, drains, and ends (see onReactorExit).
    void this.stopReactor(old.link, { t: 'stop', drainTimeout: this.config.options.drainTimeout });
    // Done once no new connection can reach it; its open ones may drain for a while yet.
    await old.notAccepting;
    return { index: slot.index, kind: slot.link.kind, from: old.link.id, to: slot.link.id };
  }

  /**
   * Sends `payload` to every connection on every reactor and, with a shared broker, every instance.
   * @throws PayloadTooLargeError over `maxMessageBytes`
   */
  broadcast(payload: Payload): void {
    this.checkPayload(payload);
    this.broker.hub.fromReactor(FROM_GROUP, { t: 'broadcast', payload: flattenPayload(payload) });
  }

  /**
   * Sends `payload` to the members of `topic` on every reactor and, with a shared broker, every instance.
   * @throws InvalidOptionError (option `topic`); PayloadTooLargeError over `maxMessageBytes`
   */
  publish(topic: string, payload: Payload): void {
    requireTopic(topic);
    this.checkPayload(payload);
    this.broker.hub.fromReactor(FROM_GROUP, { t: 'publish', topic, payload: flattenPayload(payload) });
  }

  /**
   * Sends `payload` to one connection, by its `globalId` (`INSTANCE:ID`) or, on this instance, its `id`.
   * At most once: a connection that is gone drops it.
   * @throws InvalidOptionError (option `connectionId`); PayloadTooLargeError over `maxMessageBytes`
   */
  sendTo(connectionId: string | number, payload: Payload): void {
    const { instanceId, id } = typeof connectionId === 'number' ? { instanceId: this.instanceId, id: connectionId } : parseConnectionId(connectionId);
    if (!Number.isSafeInteger(id) || id < 1) throw new InvalidOptionError('connectionId', `must be a connection's globalId (INSTANCE:ID) or a number, got ${id}`);
    this.checkPayload(payload);
    this.broker.hub.fromReactor(FROM_GROUP, { t: 'sendTo', instance: instanceId, id, payload: flattenPayload(payload) });
  }

  /** The broker's kind, connection state and counters. */
  brokerStatus(): BrokerStatus {
    return this.broker.status();
  }

  private checkPayload(payload: Payload): void {
    const bytes = payloadByteLength(payload);
    if (bytes > this.maxMessageBytes) throw new PayloadTooLargeError(bytes, this.maxMessageBytes);
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
    this.broker.hub.detach(slot.column);
    slot.link.terminate();
    await replaced;
    return this.info(slot);
  }

  /**
   * How reactors reach the per-address limits. Threads share the table's memory: each admits
   * by itself, with no message. Processes cannot: each new connection is a question to this
   * supervisor, which keeps the table (see `onReactorMessage`).
   */
  private admissionLink(): SubReactorConfig['admission'] {
    const table = this.addressTable;
    if (table === null) return null;
    return this.mode === 'threads' ? { kind: 'shared', table: table.state } : { kind: 'supervisor', countsConnections: table.countsConnections };
  }

  private info(slot: Slot): ReactorInfo {
    return { index: slot.index, kind: slot.link.kind, id: slot.link.id, restarts: slot.restarts };
  }

  /**
   * Processes mode asked for port 0. The primary's shared listener lives only while some worker
   * listens: if every reactor died, a replacement asking for port 0 would get a new port. So the
   * port is settled first, by a probe; another process may take it before the primary binds it,
   * and then a fresh one is tried.
   */
  private async spawnOnFreePort(host: string): Promise<AddressInfo> {
    for (let attempt = 1; ; attempt++) {
      this.config.options.port = await probePort(host, 0);
      try {
        return await this.spawn(0);
      } catch (err) {
        if (attempt >= FREE_PORT_ATTEMPTS || !(err instanceof ReactorStartError) || err.causeCode !== 'EADDRINUSE') throw err;
      }
    }
  }

  /**
   * Starts a new reactor in slot `index` (the first, or one after the previous has gone, or,
   * with `column`, one beside a reactor it replaces); resolves once it serves.
   */
  private spawn(index: number, column = index): Promise<AddressInfo> {
    // stop() may come while start() is on its way: nothing new is started after it.
    if (this.stopRequest !== null) return Promise.reject(new ServerStateError('the group was stopped while starting'));
    const link = this.mode === 'threads' ? spawnThread() : spawnProcess();
    let slot = this.slots[index];
    if (slot === undefined) {
      slot = {
        index,
        link,
        column,
        generation: 0,
        restarts: 0,
        ready: false,
        readyAt: -1,
        failures: 0,
        startError: undefined,
        lastError: undefined,
        retry: null,
        waiters: [],
        pendingPort: null,
        outgoing: null,
        replacing: false,
      };
      this.slots[index] = slot;
    } else {
      slot.link = link;
      slot.column = column;
      slot.generation++;
      slot.ready = false;
    }
    const current = slot;
    const started = new Promise<AddressInfo>((resolve, reject) => current.waiters.push({ resolve, reject }));
    link.onMessage((message) => this.onReactorMessage(current, link, message));
    link.onExit((code, error) => this.onReactorExit(current, link, code, error));
    // Cluster workers share the primary's listener by its listen arguments, port 0 included;
    // reusePort listeners each bind for themselves, so after the first the real port is needed.
    const requested = this.config.options.port ?? DEFAULT_OPTIONS.port;
    current.pendingPort = this.mode === 'processes' || this.address === null ? requested : this.address.port;
    return started;
  }

  /** The column of `link` in `slot`: the current reactor's, or the outgoing one's; null for a link that is neither any more. */
  private columnOf(slot: Slot, link: ReactorLink): number | null {
    if (slot.link === link) return slot.column;
    if (slot.outgoing?.link === link) return slot.outgoing.column;
    return null;
  }

  private onReactorMessage(slot: Slot, link: ReactorLink, message: FromReactor): void {
    // Whatever became of it, a stopped reactor waits for this to leave (see sub-reactor-main.ts).
    if (message.t === 'stopped') {
      link.send({ t: 'release' });
      return;
    }
    const column = this.columnOf(slot, link);
    if (column === null) return;
    switch (message.t) {
      case 'hello':
        // A stop may have been sent before the reactor listened for it (processes lose those): repeat it.
        if (this.stopRequest !== null) link.send(this.stopRequest);
        else if (slot.pendingPort !== null && slot.link === link) {
          const config: SubReactorConfig = { ...this.config, index: slot.index, generation: slot.generation, column, options: { ...this.config.options, port: slot.pendingPort } };
          link.send({ t: 'start', config });
        }
        slot.pendingPort = null;
        break;
      case 'ready':
        if (slot.link !== link) break;
        slot.ready = true;
        slot.readyAt = performance.now();
        this.broker.hub.attach(column, (delivery) => {
          if (this.columnOf(slot, link) !== null) link.send(delivery);
        });
        for (const waiter of slot.waiters.splice(0)) waiter.resolve({ address: message.address, family: message.family, port: message.port });
        break;
      case 'failed': {
        if (slot.link !== link) break;
        const error = new ReactorStartError(slot.index, message.message, message.code);
        slot.startError = error;
        // Starting the group, or a replacement, fails as a whole; a restart is retried when it has exited.
        if (this.state !== 'running' || slot.replacing) for (const waiter of slot.waiters.splice(0)) waiter.reject(error);
        // It has nothing to serve: do not wait for whatever its module left running to let it end.
        link.terminate();
        break;
      }
      case 'fatal':
        break;
      case 'broadcast':
      case 'publish':
      case 'sendTo':
      case 'subscribe':
      case 'unsubscribe':
        this.broker.hub.fromReactor(column, message);
        break;
      case 'stats':
        this.statsRequests.get(message.requestId)?.(message.stats, message.eventLoopLagSeconds);
        break;
      case 'reconfigured':
        this.reconfigureRequests.get(message.requestId)?.(message.error);
        break;
      case 'admission': {
        if (this.addressTable === null) break;
        const answers = applyAdmissionOps(this.addressTable, column, message.ops);
        if (answers.length > 0) link.send({ t: 'admitted', answers });
        break;
      }
      case 'notAccepting':
        if (slot.outgoing?.link === link) slot.outgoing.acceptingEnded();
        break;

    }
  }

  private onReactorExit(slot: Slot, link: ReactorLink, code: number | null, fatal: Error | undefined): void {
    const column = this.columnOf(slot, link);
    if (column === null) return;
    // Whatever it still held open is gone with it; its replacement starts from nothing.
    this.addressTable?.releaseReactor(column);
    // Its connections, and with them its topic memberships, are gone.
    this.broker.hub.detach(column);
    if (slot.outgoing?.link === link) {
      // A replaced reactor that has drained: its successor serves already.
      slot.outgoing = null;
      return;
    }
    slot.ready = false;
    const error = fatal ?? slot.startError;
    slot.startError = undefined;
    if (this.state !== 'running' || slot.replacing) {
      const reason = error ?? new ReactorStartError(slot.index, `exited with code ${code}`, undefined);
      for (const waiter of slot.waiters.splice(0)) waiter.reject(reason);
      return;
    }
    if (slot.readyAt >= 0 && performance.now() - slot.readyAt >= this.backoff.resetAfterMs) slot.failures = 0;
    slot.readyAt = -1;
    slot.failures++;
    slot.lastError = error;
    const restartInMs = restartDelay(slot.failures, this.backoff);
    const reactor = this.info(slot);
    const exit: ReactorExit = { code, error, failures: slot.failures, restartInMs };
    if (this.options.onReactorExit !== undefined) this.options.onReactorExit(reactor, exit);
    else process.stderr.write(`reactor-server: ${describeExit(reactor, exit)}\n${exit.error?.stack === undefined ? '' : `${exit.error.stack}\n`}`);
    slot.retry = setTimeout(() => {
      slot.retry = null;
      if (this.state !== 'running') return;
      slot.restarts++;
      // A failed start is reported when that reactor exits, like any other end.
      this.spawn(slot.index, slot.column).catch(() => undefined);
    }, restartInMs);
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
    this.stopRequest = { t: 'stop', drainTimeout };
    const stopped = new ServerStateError('the group was stopped');
    for (const slot of this.slots) {
      if (slot.retry !== null) clearTimeout(slot.retry);
      slot.retry = null;
      for (const waiter of slot.waiters.splice(0)) waiter.reject(stopped);
    }
    const links = this.slots.flatMap((slot) => (slot.outgoing === null ? [slot.link] : [slot.link, slot.outgoing.link]));
    await Promise.all(links.map((link) => this.stopReactor(link, this.stopRequest!)));
    // After the reactors: what they sent while draining still goes out.
    await this.broker.stop();
    this.state = 'stopped';
  }

  /** Asks a reactor to stop; one that does not end in time is terminated. */
  private async stopReactor(link: ReactorLink, request: ToReactor & { t: 'stop' }): Promise<void> {
    const timer = setTimeout(() => link.terminate(), (request.drainTimeout ?? DEFAULT_DRAIN_SECONDS) * 1000 + STOP_GRACE_MS);
    link.send(request);
    await link.exited;
    clearTimeout(timer);
  }
}

/** The wait before a slot's next reactor after `failures` failures in a row. */
export function restartDelay(failures: number, backoff: RestartBackoff, random = Math.random): number {
  if (failures <= 1) return 0;
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** (failures - 2));
  return Math.round(ceiling * (0.5 + random() / 2));
}

function resolveBackoff(given: Partial<RestartBackoff> = {}): RestartBackoff {
  requireOptionsObject('restartBackoff', given);
  rejectUnknownOptions(given, Object.keys(DEFAULT_RESTART_BACKOFF), 'restartBackoff.');
  const backoff = { ...DEFAULT_RESTART_BACKOFF, ...stripUndefined(given) };
  for (const key of ['initialMs', 'maxMs', 'resetAfterMs'] as const) requireNumber(`restartBackoff.${key}`, backoff[key], 0, 2 ** 31 - 1, 'milliseconds');
  if (backoff.maxMs < backoff.initialMs) throw new InvalidOptionError('restartBackoff.maxMs', `must be >= initialMs (${backoff.initialMs}), got ${backoff.maxMs}`);
  return backoff;
}

/** One line on what became of a reactor, for logs and stderr. */
export function describeExit(reactor: ReactorInfo, exit: ReactorExit): string {
  const how = exit.code === null ? 'was killed' : `exited with code ${exit.code}`;
  const why = exit.error === undefined ? '' : `: ${exit.error.message}`;
  const next = exit.restartInMs === 0 ? 'replacing it' : `replacing it in ${exit.restartInMs} ms (failure ${exit.failures} in a row)`;
  return `sub-reactor ${reactor.index} (${reactor.kind} ${reactor.id}) ${how}${why}; ${next}`;
}

/**
 * Binds `host:port` exclusively (no SO_REUSEPORT) and lets it go: rejects with the listen error
 * (EADDRINUSE, ...) when something already listens there, else resolves with the port (a free
 * one when `port` is 0).
 */
async function probePort(host: string, port: number): Promise<number> {
  const probe = net.createServer();
  probe.listen({ host, port, exclusive: true });
  await once(probe, 'listening');
  const bound = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return bound;
}
