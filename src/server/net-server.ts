import type { AddressInfo } from 'node:net';
import { Dispatcher } from '../core/dispatcher.js';
import type { LoopStats } from '../core/loop-stats.js';
import { emptyTlsStats, recordHandshake, type TlsStats } from '../core/tls-stats.js';
import { nodeNetTransport } from '../transport/node-net.js';
import { bunTransport } from '../transport/bun-net.js';
import { checkTlsTransport, resolveTransportName, type TransportName } from '../transport/transport-choice.js';
import type { HandshakeFailure, Transport, TransportDriver, TransportListener } from '../transport/transport.js';
import type { AcceptedPeer, ProxyGateOptions, ProxyInfo } from '../transport/proxy-gate.js';
import { CidrList } from '../net/cidr-list.js';
import { TLS_CLIENT_AUTH, TLS_MIN_VERSIONS, nodeTlsTransport, type TlsMaterial, type TlsOptions, type TlsTransport } from '../transport/node-tls.js';
import type { Codec } from '../net/codec.js';
import { flattenPayload, payloadByteLength, type Payload } from '../core/payload.js';
import { Connection, type ConnectionHost } from '../net/connection.js';
import { DescriptorGuard } from '../net/descriptor-guard.js';
import { DescriptorLimitError, InputBudgetExceededError, InvalidOptionError, PayloadTooLargeError, ServerStateError } from '../core/errors.js';
import { InputBudget } from '../net/input-budget.js';
import { defaultInstanceId, parseConnectionId, requireInstanceId } from '../core/connection-id.js';
import { requireTopic, type BrokerLink } from './broker-link.js';
import { TopicMembers } from './topic-members.js';
import { callHandler } from '../net/handler-call.js';
import type { CloseReason, RejectReason, ServerCallbacks } from '../callbacks.js';
import { createCodec, resolveOptions, SERVER_OPTION_NAMES, stripUndefined, type ServerOptions } from './options.js';
import { AdmissionControl, addressLimitsOf, tableLimiter, type AddressLimiter } from '../admission/admission-control.js';
import { AddressTable } from '../admission/address-table.js';
import { checkLiveChanges, type LiveOptions } from './live-options.js';
import { describeValue, rejectUnknownOptions, requireFunction, requireInteger, requireNumber, requireOneOf, requireOptionsObject } from '../core/option-checks.js';

export interface NetServerOptions<T = unknown> extends Partial<ServerOptions> {
  /** The application's callbacks; more can be set later with `setCallbacks()`. */
  callbacks?: ServerCallbacks<T>;
  /**
   * Connection ids are `idStart`, `idStart + idStep`, ... (default 1, 1). A ReactorGroup gives
   * each reactor its own start so ids stay unique across reactors.
   */
  idStart?: number;
  idStep?: number;
  /**
   * The sockets to listen for and serve: `auto` (default: Bun's own sockets on Bun, node:net
   * elsewhere), `node`, `bun`, or a Transport object. A transport object stays on its thread:
   * a ReactorGroup takes names only.
   */
  transport?: Transport | TransportName;
  /** Serve TLS with this material; see TlsOptions. With a named transport only (not a Transport object). */
  tls?: TlsOptions;
  /**
   * This instance's name among the instances that share a broker: the first part of every
   * `conn.globalId`. 1 to 64 letters, digits, `.`, `_`, `-`. Default: host name and process id.
   */
  instanceId?: string;
}

/** Every option a NetServer takes. */
export const NET_SERVER_OPTION_NAMES: readonly (keyof NetServerOptions)[] = [...SERVER_OPTION_NAMES, 'callbacks', 'idStart', 'idStep', 'transport', 'tls', 'instanceId'];

/** Every callback a server has (the keys of ServerCallbacks). */
const CALLBACK_NAMES = Object.keys({
  onConnection: true,
  onMessage: true,
  onSendComplete: true,
  onClose: true,
  onError: true,
  onTimeout: true,
  onHighWater: true,
  onConnectionRejected: true,
  onListenerError: true,
} satisfies Record<keyof ServerCallbacks, true>);

/**
 * @throws UnknownOptionError for a key that names no callback, InvalidOptionError for one
 *   that is not a function
 */
function checkCallbacks(callbacks: unknown): void {
  requireOptionsObject('callbacks', callbacks);
  rejectUnknownOptions(callbacks, CALLBACK_NAMES, 'callbacks.');
  for (const [name, callback] of Object.entries(callbacks)) if (callback !== undefined) requireFunction(`callbacks.${name}`, callback);
}

function requirePem(name: string, value: unknown): void {
  // A Buffer arrives in another thread as a plain Uint8Array: both are bytes of PEM text.
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw new InvalidOptionError(name, `must be PEM text (a string or bytes), got ${describeValue(value)}`);
}

/** @throws InvalidOptionError naming the first bad TLS setting (the material itself is checked when the context is built) */
function checkTlsOptions(tls: unknown): void {
  requireOptionsObject('tls', tls);
  rejectUnknownOptions(tls, ['cert', 'key', 'ca', 'clientAuth', 'minVersion', 'handshakeTimeout', 'alpn', 'sni'], 'tls.');
  const { cert, key, clientAuth = 'none', minVersion = '1.2', handshakeTimeout = 10, alpn, sni } = tls as TlsOptions;
  requirePem('tls.cert', cert);
  requirePem('tls.key', key);
  if (sni !== undefined) {
    requireOptionsObject('tls.sni', sni);
    for (const [name, entry] of Object.entries(sni)) {
      requireOptionsObject(`tls.sni.${name}`, entry);
      rejectUnknownOptions(entry, ['cert', 'key'], `tls.sni.${name}.`);
      requirePem(`tls.sni.${name}.cert`, entry.cert);
      requirePem(`tls.sni.${name}.key`, entry.key);
    }
  }
  requireOneOf('tls.clientAuth', clientAuth, TLS_CLIENT_AUTH);
  requireOneOf('tls.minVersion', minVersion, TLS_MIN_VERSIONS);
  requireNumber('tls.handshakeTimeout', handshakeTimeout, 0.001, (2 ** 31 - 1) / 1000, 'seconds');
  if (alpn !== undefined && (!Array.isArray(alpn) || alpn.some((p) => typeof p !== 'string' || p === ''))) {
    throw new InvalidOptionError('tls.alpn', `must be an array of protocol names, got ${describeValue(alpn)}`);
  }
  if (clientAuth !== 'none' && (tls as TlsOptions).ca === undefined) throw new InvalidOptionError('tls.ca', `is needed to verify client certificates (clientAuth ${clientAuth})`);
}

/** The plaintext transport a name stands for on this runtime. */
function plaintextTransport(name: TransportName = 'auto'): Transport {
  return (resolveTransportName(name) === 'bun' ? bunTransport : nodeNetTransport) as Transport;
}

/** @throws InvalidOptionError unless `transport` has a driver and makes listeners */
function checkTransport(transport: unknown): void {
  requireOptionsObject('transport', transport);
  const { driver, createListener } = transport as Partial<Transport>;
  if (typeof createListener !== 'function' || typeof driver !== 'object' || driver === null) {
    throw new InvalidOptionError('transport', `must be a Transport (name, driver, createListener), got ${describeValue(transport)}`);
  }
}

/**
 * Checks a NetServer's options as its constructor does, building nothing.
 * @returns the server options, defaults filled in
 * @throws InvalidOptionError naming the first bad option (UnknownOptionError for a key that is none)
 */
export function resolveNetServerOptions<T>(options: NetServerOptions<T>): ServerOptions {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, NET_SERVER_OPTION_NAMES);
  const { callbacks = {}, idStart = 1, idStep = 1, transport, tls, instanceId, ...serverOptions } = options;
  checkCallbacks(callbacks);
  if (instanceId !== undefined) requireInstanceId('instanceId', instanceId);
  if (typeof transport === 'string') resolveTransportName(transport);
  else if (transport !== undefined) checkTransport(transport);
  if (tls !== undefined) {
    if (transport !== undefined && typeof transport !== 'string') throw new InvalidOptionError('tls', 'cannot be set together with a Transport object (a TLS transport is made from it)');
    if (typeof transport === 'string') checkTlsTransport(transport);
    checkTlsOptions(tls);
  }
  requireInteger('idStart', idStart, 0, Number.MAX_SAFE_INTEGER);
  requireInteger('idStep', idStep, 1, 2 ** 32);
  return resolveOptions(serverOptions);
}

export type { BrokerLink, GroupLink } from './broker-link.js';
/** A client's address and port, as admission control and the connection see them. */
export interface Peer {
  readonly address: string;
  readonly port: number;
  /** The proxy in front, when a PROXY header named the client. */
  readonly proxy?: ProxyInfo | null;
}

/** How full the address table of a server's per-address limits is (see `NetServer.addressTracking`). */
export interface AddressTracking {
  /** Addresses in the table now (idle ones stay until their slot is needed). */
  tracked: number;
  /** The most it holds: `maxTrackedAddresses` rounded up to a power of two. */
  capacity: number;
  /** Idle addresses dropped before they expired, to make room for new ones. */
  evictions: number;
  /** New addresses refused (reason `rate`) because every slot they could take had open connections. */
  refusedForRoom: number;
}

/** Watches a server's connections come and go (logging, metrics). All methods optional. */
export interface ServerObserver {
  connectionOpened?(conn: Connection<unknown>): void;
  connectionClosed?(conn: Connection<unknown>, reason: CloseReason): void;
  connectionError?(conn: Connection<unknown>, error: Error): void;
  connectionRejected?(peer: { address: string; port: number }, reason: RejectReason, error?: Error): void;
  listenerError?(error: Error): void;
  /** A TLS handshake failed; the socket never became a connection. */
  handshakeFailed?(failure: HandshakeFailure): void;
}

/** The code an error is counted under. */
function errorCode(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : error.name;
}

/** How a failing onClose or onError is surfaced: a process warning (there is nothing left to close). */
function warn(_conn: unknown, error: Error): void {
  process.emitWarning(error);
}

/** At most one DescriptorLimitError report per this many ms. */
const DESCRIPTOR_REPORT_MS = 1000;

/** How often a draining server looks for connections that are done. */
const DRAIN_CHECK_MS = 20;
/** How long a draining server waits for the first message of a connection it has just accepted. */
const FIRST_MESSAGE_GRACE_MS = 1000;

/** Where a server is in its life; it only moves forward. */
export type ServerLifecycle = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The orchestrator, the seed's NetServer: an Acceptor, the loop's Dispatcher, the registry of
 * connections and the application's callbacks.
 *
 * ```ts
 * const server = new NetServer({ port: 9000, callbacks: {
 *   onMessage: (conn, msg) => conn.send(msg),
 * }});
 * await server.start();
 * ```
 */
export class NetServer<T = unknown> {
  private optionsInForce: Readonly<ServerOptions>;
  readonly dispatcher: Dispatcher<Connection<unknown>>;
  readonly callbacks: ServerCallbacks<T>;
  /** The sockets this server listens for and serves: node:net, node:tls, Bun's, or the given Transport. */
  readonly transport: Transport;
  private readonly driver: TransportDriver;
  private readonly listener: TransportListener;
  private readonly tlsTransport: TlsTransport | null;
  /** What every connection of this server reaches its loop through; not part of the public class. */
  private readonly host: ConnectionHost<T>;
  private lifecycle: ServerLifecycle = 'new';
  private nextConnectionId: number;
  private readonly idStart: number;
  private readonly idStep: number;
  /** Where broadcasts, publishes and direct sends for other reactors and instances go; null alone. */
  private broker: BrokerLink | null = null;
  /** A group's per-address limits, which count every reactor's connections; null outside a group. */
  private groupLimiter: AddressLimiter | null = null;
  /** Each topic's members on this reactor; the broker hears when a topic gets its first or loses its last. */
  private readonly members = new TopicMembers<Connection<T>>(
    (topic) => this.broker?.subscribe(topic),
    (topic) => this.broker?.unsubscribe(topic),
  );
  private readonly observers: ServerObserver[] = [];
  private starting: Promise<AddressInfo> | null = null;
  private stopping: Promise<void> | null = null;
  private acceptingEnded!: () => void;
  private readonly notAcceptingPromise = new Promise<void>((resolve) => (this.acceptingEnded = resolve));
  private listenerErrorCount = 0;
  private readonly descriptors = DescriptorGuard.forThisProcess();
  /** Connections refused for want of descriptors since the last report, and when that was. */
  private descriptorRefusals = 0;
  private descriptorReportAt = -Infinity;
  /** Admission control, settled at start (a group's limiter is attached before it); null when no option asks for it. */
  private admission: AdmissionControl | null = null;
  /** The per-address limits admission control consults, settled at start (kept when `reconfigure` changes the lists). */
  private limiter: AddressLimiter | null = null;
  /** Whether each admitted connection is released to admission control when it closes. */
  private releaseOnClose = false;
  /** The table of this server's per-address limits, when it keeps its own. */
  private addressTable: AddressTable | null = null;
  /** Accepted sockets whose admission answer is still on its way (a processes group asks its supervisor). */
  private readonly awaitingAdmission = new Set<unknown>();

  /**
   * @throws InvalidOptionError for a bad option (UnknownOptionError for a key that is none),
   *   UnsupportedError for reusePort where it is missing
   */
  constructor(options: NetServerOptions<T> = {}) {
    this.optionsInForce = Object.freeze(resolveNetServerOptions(options));
    const { callbacks, idStart = 1, idStep = 1 } = options;
    this.codec = createCodec(this.options);
    this.nextConnectionId = idStart;
    this.idStart = idStart;
    this.idStep = idStep;
    this.instanceId = options.instanceId ?? defaultInstanceId();
    this.callbacks = { ...callbacks };
    this.dispatcher = new Dispatcher<Connection<unknown>>({ idleTimeout: this.options.idleTimeout, checkInterval: this.options.checkInterval });
    this.stats = this.dispatcher.stats;
    this.tlsTransport = options.tls === undefined ? null : nodeTlsTransport(options.tls);
    const tlsStats = this.tlsTransport === null ? null : emptyTlsStats();
    this.dispatcher.stats.tls = tlsStats;
    this.transport = typeof options.transport === 'object' ? options.transport : ((this.tlsTransport ?? plaintextTransport(options.transport)) as Transport);
    this.driver = this.transport.driver;
    const maxBufferedInput = this.options.maxBufferedInput;
    this.host = {
      callbacks: this.callbacks,
      codec: this.codec,
      stats: this.dispatcher.stats,
      inputBudget: new InputBudget<Connection<T>>(maxBufferedInput, this.dispatcher.stats, (conn, held, total) => conn.fail(new InputBudgetExceededError(held, total, maxBufferedInput))),
      clock: this.dispatcher.clock,
      transport: this.driver,
      options: this.options,
      spareOutput: null,
      connectionClosed: (conn, reason) => this.connectionClosed(conn, reason),
      connectionError: (conn, error) => this.connectionError(conn, error),
      instanceId: this.instanceId,
      joinTopic: (conn, topic) => {
        requireTopic(topic);
        return conn.isOpen && this.members.join(conn, topic);
      },
      leaveTopic: (conn, topic) => this.members.leave(conn, topic),
      topicsOf: (conn) => this.members.topicsOf(conn),
    };
    this.listener = this.transport.createListener(
      { ...this.options, proxy: this.proxyGateOptions() },
      (socket, peer) => this.accept(socket, peer),
      (error) => this.listenerError(error),
      tlsStats === null ? undefined : { completed: (seconds) => recordHandshake(tlsStats, seconds), failed: (failure) => this.handshakeFailed(tlsStats, failure) },
    );
  }

  /** The wire format in use. */
  readonly codec: Codec;

  /** The options in force (a new object after each `reconfigure`). */
  get options(): Readonly<ServerOptions> {
    return this.optionsInForce;
  }

  /**
   * Changes options of the running server (or of one not started yet): the idle timeout and
   * check interval (from the next check, for every connection), the water marks and
   * maxPendingOutput (from each connection's next write), maxConnections, allow and deny (from
   * the next connection), the per-address limits' values (see `checkLiveChanges`: a limit
   * cannot turn on or off), maxMessagesPerSecond (for connections accepted from now on) and
   * drainTimeout. Everything is checked first, together with the options it joins: on any
   * problem nothing changes. In a ReactorGroup, change the group instead (it reaches every
   * reactor and the limits they share).
   * @returns the options now in force
   * @throws InvalidOptionError naming the first bad option, or one that cannot change while running
   */
  reconfigure(changes: LiveOptions): Readonly<ServerOptions> {
    const current = this.optionsInForce;
    checkLiveChanges(current, changes);
    const next = Object.freeze(resolveOptions({ ...current, ...stripUndefined(changes) }));
    const admission = this.admission === null && this.groupLimiter === null && !AdmissionControl.wanted(next) ? null : new AdmissionControl(next, this.limiter);
    if (next.idleTimeout !== current.idleTimeout || next.checkInterval !== current.checkInterval) this.dispatcher.setIdleTimeout(next.idleTimeout, next.checkInterval);
    // The group changes the limits it shares itself; a table of this server's own is changed here.
    // A rate may drop to 0 with no maximum: the table stays, limiting nothing.
    this.addressTable?.setLimits({ maxConnectionsPerIp: next.maxConnectionsPerIp, connectRatePerIp: next.connectRatePerIp });
    // Before start, admission is settled from the options at start.
    if (this.lifecycle !== 'new') this.admission = admission;
    this.optionsInForce = next;
    this.host.options = next;
    return next;
  }

  /** This instance's id (option `instanceId`): the first part of every `conn.globalId`. */
  readonly instanceId: string;

  /** This loop's counters (the dispatcher's, held here too: connections update them per message). */
  readonly stats: Readonly<LoopStats>;

  /**
   * How full this server's table of per-address limits is; null without per-address limits,
   * and in a ReactorGroup, whose reactors share one table.
   */
  get addressTracking(): AddressTracking | null {
    const table = this.addressTable;
    if (table === null) return null;
    return { tracked: table.size, capacity: table.capacity, evictions: table.evictions, refusedForRoom: table.refusedForRoom };
  }

  /** Accept errors seen by the listener (EMFILE and the like) since start. */
  get listenerErrors(): number {
    return this.listenerErrorCount;
  }

  /**
   * Sets or replaces callbacks. Connections accepted before the call see the new callbacks too,
   * except `onSendComplete`, which takes effect for connections accepted after it is set.
   */
  setCallbacks(callbacks: ServerCallbacks<T>): this {
    checkCallbacks(callbacks);
    Object.assign(this.callbacks, callbacks);
    return this;
  }

  /**
   * Starts listening and serving.
   * @returns the bound address (with the real port when `port` was 0)
   * @throws ServerStateError when already started; the listen error (EADDRINUSE, ...) otherwise
   */
  start(): Promise<AddressInfo> {
    if (this.lifecycle !== 'new') {
      return Promise.reject(new ServerStateError(`start() called on a server that is ${this.lifecycle}`));
    }
    this.lifecycle = 'starting';
    this.starting = this.listenAndServe();
    return this.starting;
  }

  /**
   * Graceful stop. Stops accepting at once; keeps serving the open connections and closes each
   * (reason `server-stop`, replies flushed first) as soon as it has nothing left to do: no
   * partial message, no work in flight, no output pending, and nothing new read since the
   * previous check. At the deadline the rest are closed. Resolves when the listener and all
   * sockets are closed and no timer or port of the server is left. Every call gets the same
   * promise.
   * @param options.drainTimeout seconds to let connections finish (default: the server's
   *   `drainTimeout`, 10 s); 0 closes every connection at once
   */
  stop(options: { drainTimeout?: number } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.shutdown(options.drainTimeout ?? this.options.drainTimeout);
    return this.stopping;
  }

  /** The bound address while listening, else null. */
  get address(): AddressInfo | null {
    return this.listener.address();
  }

  /** Where the server is in its life: new, starting, running, stopping, stopped. */
  get state(): ServerLifecycle {
    return this.lifecycle;
  }

  /** True between a successful `start()` and `stop()`. */
  get isRunning(): boolean {
    return this.lifecycle === 'running';
  }

  /** Connections open right now. */
  get connectionCount(): number {
    return this.dispatcher.connectionCount;
  }

  /** The open connections. */
  connections(): IterableIterator<Connection<T>> {
    return this.dispatcher.connections() as IterableIterator<Connection<T>>;
  }

  /**
   * Sends `payload` to every open connection except `except`: on this reactor and, in a
   * ReactorGroup, on every other reactor, and with a shared broker on every instance.
   * @returns how many connections of this reactor it was queued on
   * @throws PayloadTooLargeError over `maxMessageBytes` (nothing is sent)
   */
  broadcast(payload: Payload, except?: Connection<T>): number {
    this.checkPayload(payload);
    if (this.broker !== null) this.broker.broadcast(flattenPayload(payload));
    return this.broadcastLocal(payload, except);
  }

  /** Sends `payload` to every open connection of this reactor only, except `except`. */
  broadcastLocal(payload: Payload, except?: Connection<T>): number {
    let sent = 0;
    for (const conn of this.dispatcher.connections()) {
      if (conn !== except && conn.send(payload)) sent++;
    }
    return sent;
  }

  /**
   * Sends `payload` to every member of `topic` (see `conn.join()`) except `except`, on every
   * reactor and, with a shared broker, every instance. Membership is each reactor's own: the
   * topic's traffic goes only where it has members.
   * @returns how many members of this reactor it was queued on
   * @throws InvalidOptionError (option `topic`) for a bad topic; PayloadTooLargeError over `maxMessageBytes`
   */
  publish(topic: string, payload: Payload, except?: Connection<T>): number {
    requireTopic(topic);
    this.checkPayload(payload);
    if (this.broker !== null) this.broker.publish(topic, flattenPayload(payload));
    return this.publishLocal(topic, payload, except);
  }

  /** Sends `payload` to the members of `topic` on this reactor only, except `except`. */
  publishLocal(topic: string, payload: Payload, except?: Connection<T>): number {
    const members = this.members.membersOf(topic);
    if (members === undefined) return 0;
    let sent = 0;
    for (const conn of members) {
      if (conn !== except && conn.send(payload)) sent++;
    }
    return sent;
  }

  /**
   * Sends `payload` to one connection wherever it is: `connectionId` is its `globalId`
   * (`INSTANCE:ID`, from any instance), or a number, an `id` of this instance.
   * Delivery is at most once: a connection that closed, or an instance out of reach, drops it.
   * @returns true when it was queued on a connection of this reactor or handed on towards
   *   another reactor or instance; false when the connection is known to be gone (it was
   *   this reactor's), or it is another's and there is no broker to carry it
   * @throws InvalidOptionError (option `connectionId`) for a malformed id; PayloadTooLargeError over `maxMessageBytes`
   */
  sendTo(connectionId: string | number, payload: Payload): boolean {
    let instanceId = this.instanceId;
    let id: number;
    if (typeof connectionId === 'number') {
      if (!Number.isSafeInteger(connectionId) || connectionId < 1) throw new InvalidOptionError('connectionId', `must be a connection's globalId (INSTANCE:ID) or a number, got ${connectionId}`);
      id = connectionId;
    } else {
      ({ instanceId, id } = parseConnectionId(connectionId));
    }
    this.checkPayload(payload);
    if (instanceId === this.instanceId) {
      const conn = this.dispatcher.connection(id);
      if (conn !== undefined) return conn.send(payload);
      // Ids of this reactor step by idStep from idStart: one of those is gone for good.
      if ((id - this.idStart) % this.idStep === 0) return false;
    }
    if (this.broker === null) return false;
    this.broker.sendTo(instanceId, id, flattenPayload(payload));
    return true;
  }

  /** Sends `payload` to connection `id` if it is open on this reactor; false otherwise. */
  sendToLocal(id: number, payload: Payload): boolean {
    return this.dispatcher.connection(id)?.send(payload) ?? false;
  }

  /** The topics with members on this reactor. */
  topics(): IterableIterator<string> {
    return this.members.topics();
  }

  /**
   * @internal Joins this server to the other reactors and instances (a ReactorGroup's reactor
   * runtime, or a Broker). The topics it already has members of are subscribed at once.
   */
  attachBroker(link: BrokerLink): void {
    this.broker = link;
    for (const topic of this.members.topics()) link.subscribe(topic);
  }

  /** @internal @deprecated see attachBroker */
  attachGroup(link: BrokerLink): void {
    this.attachBroker(link);
  }

  /**
   * @internal Shares a group's per-address limits (set by the group's reactor runtime before
   * start); without it, a server with per-address limits keeps a table of its own.
   */
  attachLimiter(limiter: AddressLimiter): void {
    this.groupLimiter = limiter;
  }

  /** @throws PayloadTooLargeError when `payload` is over maxMessageBytes */
  private checkPayload(payload: Payload): void {
    const bytes = payloadByteLength(payload);
    if (bytes > this.options.maxMessageBytes) throw new PayloadTooLargeError(bytes, this.options.maxMessageBytes);
  }

  private connectionClosed(conn: Connection<T>, reason: CloseReason): void {
    this.dispatcher.unregister(conn as Connection<unknown>);
    if (this.releaseOnClose) this.admission!.released(conn.remoteAddress);
    this.members.leaveAll(conn);
    for (const observer of this.observers) observer.connectionClosed?.(conn as Connection<unknown>, reason);
    const onClose = this.callbacks.onClose;
    // The connection is already closed: a failure is surfaced without taking the server down.
    if (onClose !== undefined) callHandler('onClose', onClose, conn, reason, warn);
  }

  private connectionError(conn: Connection<T>, error: Error): void {
    const stats = this.dispatcher.stats;
    stats.errors++;
    const code = errorCode(error);
    stats.errorsByCode[code] = (stats.errorsByCode[code] ?? 0) + 1;
    for (const observer of this.observers) observer.connectionError?.(conn as Connection<unknown>, error);
    const onError = this.callbacks.onError;
    // Nothing left to close: a failure is surfaced without taking the server down.
    if (onError !== undefined) callHandler('onError', onError, conn, error, warn);
  }

  /**
   * Resolves once a stop has closed the listener (its descriptor is closed: no new connection
   * reaches this server), while open connections may still be draining.
   */
  notAccepting(): Promise<void> {
    return this.notAcceptingPromise;
  }

  /**
   * Adds an observer of connection lifecycle events (for logging and metrics). Observers see
   * events alongside the application's callbacks, never instead of them, and never per message.
   */
  addObserver(observer: ServerObserver): this {
    this.observers.push(observer);
    return this;
  }

  /** The PROXY stage's settings, or undefined when the PROXY protocol is off. */
  private proxyGateOptions(): ProxyGateOptions | undefined {
    const { proxyProtocol, trustedProxies, proxyHeaderTimeout, maxProxyHeaderBytes } = this.options;
    if (proxyProtocol === 'off') return undefined;
    return {
      mode: proxyProtocol,
      trusted: CidrList.parse(trustedProxies, 'trustedProxies'),
      headerTimeout: proxyHeaderTimeout,
      maxHeaderBytes: maxProxyHeaderBytes,
      onRefused: (peer, reason, error) => this.countRejection(peer, reason, error),
    };
  }

  private accept(socket: unknown, peer?: AcceptedPeer): void {
    // 'starting' too: a cluster worker can be handed a connection the primary had queued before
    // its own listen has finished (the two messages arrive in one read, the connection first).
    if (this.lifecycle !== 'running' && this.lifecycle !== 'starting') {
      this.driver.close(socket);
      return;
    }
    if (this.descriptors !== null && this.descriptors.inReserve(this.driver.descriptor(socket))) {
      this.reject(socket, 'fd-limit', peer);
      this.reportDescriptorLimit(this.descriptors);
      return;
    }
    const { maxConnections } = this.options;
    if (maxConnections > 0 && this.dispatcher.connectionCount >= maxConnections) {
      this.reject(socket, 'max-connections', peer);
      return;
    }
    this.admit(socket, peer ?? { address: this.driver.remoteAddress(socket), port: this.driver.remotePort(socket), proxy: null });
  }

  /**
   * Admission control, then the connection. The one place admission learns the client's
   * address: the one a trusted proxy's PROXY header names, else the socket's peer.
   */
  private admit(socket: unknown, peer: Peer): void {
    const admission = this.admission;
    if (admission === null) {
      this.open(socket, peer);
      return;
    }
    const verdict = admission.admit(peer.address);
    if (verdict === null) this.open(socket, peer);
    else if (typeof verdict === 'string') this.reject(socket, verdict, peer);
    else this.awaitAdmission(socket, peer, verdict);
  }

  /** The answer comes later (from a processes group's supervisor): the socket waits, unread. */
  private awaitAdmission(socket: unknown, peer: Peer, verdict: Promise<RejectReason | null>): void {
    this.driver.hold?.(socket);
    this.awaitingAdmission.add(socket);
    void verdict.then((refusal) => {
      this.awaitingAdmission.delete(socket);
      if (refusal !== null) {
        this.reject(socket, refusal, peer);
      } else if (this.lifecycle !== 'running' || this.driver.isClosed(socket)) {
        // Gone while we asked (the peer reset, or we are stopping): give the place back.
        this.admission?.released(peer.address);
        this.driver.close(socket);
      } else {
        this.open(socket, peer);
      }
    });
  }

  private open(socket: unknown, peer: Peer): void {
    const conn = new Connection<T>(this.nextConnectionId, socket, this.host, peer);
    this.nextConnectionId += this.idStep;
    this.dispatcher.register(conn as Connection<unknown>);
    for (const observer of this.observers) observer.connectionOpened?.(conn as Connection<unknown>);
    conn.opened();
  }

  /**
   * Replaces the TLS certificate, key and CA: new handshakes use them, open connections keep
   * theirs. The new material is checked first; a bad one throws and the old stays in use.
   * @throws ServerStateError on a server without `tls`; InvalidOptionError for bad material
   */
  reloadTls(tls: TlsMaterial): void {
    if (this.tlsTransport === null) throw new ServerStateError('reloadTls() on a server without tls');
    this.tlsTransport.reload({ ...tls });
  }

  private handshakeFailed(tlsStats: TlsStats, failure: HandshakeFailure): void {
    const failures = tlsStats.handshakeFailures;
    failures[failure.reason] = (failures[failure.reason] ?? 0) + 1;
    for (const observer of this.observers) observer.handshakeFailed?.(failure);
  }

  private reject(socket: unknown, reason: RejectReason, peer?: Peer): void {
    const who = peer ?? { address: this.driver.remoteAddress(socket), port: this.driver.remotePort(socket) };
    // RST at once: the peer learns now, no TIME_WAIT is left on our side, and the descriptor is free again.
    this.driver.reset(socket);
    this.countRejection({ address: who.address, port: who.port }, reason);
  }

  /** Counts and reports a connection refused at accept (already closed). */
  private countRejection(peer: { address: string; port: number }, reason: RejectReason, error?: Error): void {
    const stats = this.dispatcher.stats;
    stats.rejected++;
    stats.rejectedByReason[reason] = (stats.rejectedByReason[reason] ?? 0) + 1;
    for (const observer of this.observers) observer.connectionRejected?.(peer, reason, error);
    this.callbacks.onConnectionRejected?.(peer, reason, error);
  }

  /** At most once a second while refusing: counting the open descriptors reads /proc. */
  private reportDescriptorLimit(guard: DescriptorGuard): void {
    this.descriptorRefusals++;
    const now = performance.now();
    if (now - this.descriptorReportAt < DESCRIPTOR_REPORT_MS) return;
    this.descriptorReportAt = now;
    const error = new DescriptorLimitError(guard.limit, guard.openDescriptors(), this.descriptorRefusals);
    this.descriptorRefusals = 0;
    this.listenerError(error);
  }

  private listenerError(error: Error): void {
    this.listenerErrorCount++;
    for (const observer of this.observers) observer.listenerError?.(error);
    this.callbacks.onListenerError?.(error);
  }

  /** Settles admission control: the group's limiter if one was attached, else a table of this server's own. */
  private setUpAdmission(): void {
    const options = this.options;
    const limits = addressLimitsOf(options);
    let limiter = this.groupLimiter;
    if (limiter === null && limits !== null) {
      this.addressTable = AddressTable.create(options.maxTrackedAddresses, 1, limits);
      limiter = tableLimiter(this.addressTable, 0);
    }
    this.limiter = limiter;
    if (limiter === null && !AdmissionControl.wanted(options)) return;
    this.admission = new AdmissionControl(options, limiter);
    this.releaseOnClose = this.admission.countsConnections;
  }

  private async listenAndServe(): Promise<AddressInfo> {
    try {
      this.setUpAdmission();
      const address = await this.listener.listen();
      // stop() may have been called while the listen was in flight: it will close the listener.
      if (this.lifecycle === 'starting') {
        this.dispatcher.start();
        this.lifecycle = 'running';
      }
      return address;
    } catch (err) {
      this.lifecycle = 'stopped';
      throw err;
    }
  }

  private async shutdown(drainTimeout: number): Promise<void> {
    this.lifecycle = 'stopping';
    if (this.starting !== null) await this.starting.catch(() => undefined);
    const listenerClosed = this.listener.close();
    this.acceptingEnded();
    // Their answers find the server stopping and give their places back.
    for (const socket of this.awaitingAdmission) this.driver.close(socket);
    if (drainTimeout > 0 && this.dispatcher.connectionCount > 0) await this.drain(drainTimeout);
    this.dispatcher.stop();
    for (const conn of this.dispatcher.connections()) conn.close('server-stop');
    await Promise.all([listenerClosed, this.dispatcher.whenEmpty()]);
    this.lifecycle = 'stopped';
  }

  /**
   * Closes connections as they become quiescent, until none is left or the deadline passes.
   * A connection must look quiescent at two checks in a row with nothing read in between: the
   * event loop reads what arrived meanwhile, so bytes sent before the stop are not cut off.
   */
  private drain(drainTimeout: number): Promise<void> {
    const seenQuiet = new Map<Connection<unknown>, number>();
    return new Promise<void>((resolve) => {
      const deadline = setTimeout(finish, drainTimeout * 1000);
      const sweep = setInterval(() => {
        const now = performance.now();
        for (const conn of this.dispatcher.connections()) {
          const bytesRead = this.driver.bytesRead(conn.rawSocket);
          // A connection that has sent nothing yet, accepted a moment ago, is still on its way
          // to its first message (a busy client, or one accepted just before the listener closed).
          if (!conn.isQuiescent || (bytesRead === 0 && now - conn.lastActiveAt < FIRST_MESSAGE_GRACE_MS)) {
            seenQuiet.delete(conn);
          } else if (seenQuiet.get(conn) === bytesRead) {
            conn.closeAfterWrite('server-stop');
          } else {
            seenQuiet.set(conn, bytesRead);
          }
        }
      }, DRAIN_CHECK_MS);
      void this.dispatcher.whenEmpty().then(finish);
      function finish(): void {
        clearTimeout(deadline);
        clearInterval(sweep);
        resolve();
      }
    });
  }
}
