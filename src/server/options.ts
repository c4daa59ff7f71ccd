import type { Codec } from '../net/codec.js';
import { InvalidOptionError } from '../core/errors.js';
import { LengthCodec, type ByteOrder } from '../net/length-codec.js';
import { LineCodec } from '../net/line-codec.js';
import { SeedCodec } from '../net/seed-codec.js';
import { CidrList } from '../net/cidr-list.js';
import { checkMaxHeaderBytes } from '../proxy/proxy-header-parser.js';
import { DEFAULT_MAX_PROXY_HEADER_BYTES } from '../proxy/proxy-header.js';
import { MAX_CAPACITY, MAX_CONNECTIONS_PER_IP } from '../admission/address-table.js';
import { describeValue, rejectUnknownOptions, requireBoolean, requireInteger, requireName, requireOneOf, requireOptionsObject } from '../core/option-checks.js';

/** The built-in wire formats, by name. */
export type CodecName = 'seed' | 'length' | 'line';
export const CODEC_NAMES: readonly CodecName[] = ['seed', 'length', 'line'];

/** Everything a server can be configured with. Times are in seconds. */
export interface ServerOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  host: string;
  /** Port to listen on; 0 picks a free one. Default 8888. */
  port: number;
  /** Kernel accept queue length. Default 511. */
  backlog: number;
  /**
   * Wire format: `seed` (default: raw in, 4-byte length + payload out), `length` (4-byte
   * length-prefixed frames both ways), `line` (newline-delimited both ways), or a Codec.
   */
  codec: CodecName | Codec;
  /** Largest inbound frame (`length`) or line (`line`) in bytes; more is a protocol error. Default 1 MiB. */
  maxMessageBytes: number;
  /**
   * Bytes all connections of one reactor may hold together for messages begun and not yet
   * complete; past it, the connections holding the most are closed with
   * InputBudgetExceededError until the total is back under it. At least twice
   * `maxMessageBytes`. Default 256 MiB, or twice `maxMessageBytes` when that is more.
   */
  maxBufferedInput: number;
  /** Byte order of the `length` codec's header. Default `little`. */
  byteOrder: ByteOrder;
  /** Pending output above which a connection stops being read (and `onHighWater` fires). Default 1 MiB. */
  highWaterMark: number;
  /** Pending output below which reading resumes. Default 256 KiB. */
  lowWaterMark: number;
  /** Pending output above which the connection is closed with OutputOverflowError. Default 16 MiB. */
  maxPendingOutput: number;
  /** Open connections (per reactor) beyond which new ones are closed at once. Default 0: no limit. */
  maxConnections: number;
  /** Seconds `stop()` lets open connections finish before closing them. Default 10. */
  drainTimeout: number;
  /** Seconds of silence after which a connection is closed; 0 disables. Default 300. */
  idleTimeout: number;
  /** Seconds between idle checks. Default 60. */
  checkInterval: number;
  /** TCP_NODELAY on accepted sockets. Default true. */
  noDelay: boolean;
  /**
   * SO_KEEPALIVE on accepted sockets. Default: on only when `idleTimeout` is 0. The idle sweep
   * already closes a peer that died silently; keep-alive probes matter when nothing else would,
   * and setting them costs two or more system calls per accepted connection (8 % of connection
   * churn, docs/benchmarks.md).
   */
  keepAlive: boolean;
  /** Seconds before the first keep-alive probe. Default 60. */
  keepAliveInitialDelay: number;
  /** SO_REUSEPORT, where `REUSE_PORT_SUPPORT` (transport/platform.ts) says it works. Default false. */
  reusePort: boolean;
  /**
   * The PROXY protocol (versions 1 and 2, told apart by their first bytes): `off` (default);
   * `required`: every connection comes from a trusted proxy and starts with a header; `optional`:
   * a trusted proxy's header is read when it sends one. Needs `trustedProxies`.
   */
  proxyProtocol: ProxyProtocolMode;
  /** The proxies whose headers are believed: CIDR ranges or addresses, IPv4 and IPv6 (an array, or one comma-separated string). */
  trustedProxies: readonly string[];
  /** Seconds a connection has to send its PROXY header. Default 5. */
  proxyHeaderTimeout: number;
  /** The longest PROXY version 2 header accepted, TLVs included. Default 16384 (HAProxy's buffer). */
  maxProxyHeaderBytes: number;
  /**
   * Only clients in these IPv4/IPv6 ranges may connect (a comma-separated string or an array;
   * see CidrList). Default empty: everyone.
   */
  allow: string | readonly string[];
  /** Clients in these ranges are refused, even when `allow` has them. Default empty. */
  deny: string | readonly string[];
  /** Open connections per client address, across every reactor of the server. Default 0: no limit. */
  maxConnectionsPerIp: number;
  /**
   * New connections per second per client address, across every reactor: a token bucket that
   * holds this many and refills this many a second. Default 0: no limit.
   */
  connectRatePerIp: number;
  /**
   * Client addresses the per-address limits keep track of at once, rounded up to a power of two
   * (about 40 bytes each, allocated when a per-address limit is set). Default 65536.
   */
  maxTrackedAddresses: number;
  /**
   * Messages per second each connection delivers to the application; past it, reading pauses
   * until the budget refills (nothing is dropped). Default 0: no limit.
   */
  maxMessagesPerSecond: number;
}

export type ProxyProtocolMode = 'off' | 'required' | 'optional';
export const PROXY_PROTOCOL_MODES: readonly ProxyProtocolMode[] = ['off', 'required', 'optional'];

/**
 * The default bound on unfinished input per reactor. Buffers live outside the JS heap, so the
 * heap limit says nothing about them; 256 MiB lets a thousand peers each hold a quarter of a
 * default-sized (1 MiB) message at once, or 255 hold a whole one, and keeps what a crowd of
 * stalled peers can pin well inside a small server's memory. See docs/deploy.md.
 */
export const DEFAULT_MAX_BUFFERED_INPUT = 256 * 1024 * 1024;

/** `maxBufferedInput` when it is not given: the default, or twice `maxMessageBytes` when that is more. */
export function defaultMaxBufferedInput(maxMessageBytes: number): number {
  return Math.max(DEFAULT_MAX_BUFFERED_INPUT, 2 * maxMessageBytes);
}

export const DEFAULT_OPTIONS: Readonly<ServerOptions> = Object.freeze({
  host: '127.0.0.1',
  port: 8888,
  backlog: 511,
  codec: 'seed' as CodecName,
  maxMessageBytes: 1024 * 1024,
  // With the default maxMessageBytes; resolveOptions raises it to twice a larger one.
  maxBufferedInput: DEFAULT_MAX_BUFFERED_INPUT,
  byteOrder: 'little' as ByteOrder,
  highWaterMark: 1024 * 1024,
  lowWaterMark: 256 * 1024,
  maxPendingOutput: 16 * 1024 * 1024,
  maxConnections: 0,
  drainTimeout: 10,
  idleTimeout: 300,
  checkInterval: 60,
  noDelay: true,
  // With the default idleTimeout; resolveOptions turns it on when idleTimeout is 0.
  keepAlive: false,
  keepAliveInitialDelay: 60,
  reusePort: false,
  proxyProtocol: 'off' as ProxyProtocolMode,
  trustedProxies: [] as readonly string[],
  proxyHeaderTimeout: 5,
  maxProxyHeaderBytes: DEFAULT_MAX_PROXY_HEADER_BYTES,
  allow: Object.freeze([]) as readonly string[],
  deny: Object.freeze([]) as readonly string[],
  maxConnectionsPerIp: 0,
  connectRatePerIp: 0,
  maxTrackedAddresses: 65536,
  maxMessagesPerSecond: 0,
});

/** The highest `connectRatePerIp`: a million new connections a second from one address is no limit. */
const MAX_CONNECT_RATE = 1_000_000;
/** The highest `maxMessagesPerSecond`. */
const MAX_MESSAGE_RATE = 1_000_000_000;

/** The name of every server option. */
export const SERVER_OPTION_NAMES: readonly (keyof ServerOptions)[] = Object.keys(DEFAULT_OPTIONS) as (keyof ServerOptions)[];

/**
 * Fills in defaults and checks every value: no unknown key, each value of its type and in
 * its range, and the rules between them (`lowWaterMark <= highWaterMark <= maxPendingOutput`).
 * An option given as `undefined` counts as not given.
 * @throws InvalidOptionError naming the first bad option (UnknownOptionError for a key that is none)
 */
export function resolveOptions(options: Partial<ServerOptions> = {}): ServerOptions {
  requireOptionsObject('options', options);
  rejectUnknownOptions(options, SERVER_OPTION_NAMES);
  const resolved: ServerOptions = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
  resolved.keepAlive = options.keepAlive ?? resolved.idleTimeout === 0;
  requireName('host', resolved.host);
  requireInteger('port', resolved.port, 0, 65535);
  requireInteger('backlog', resolved.backlog, 1, 2 ** 31 - 1);
  requireSeconds('idleTimeout', resolved.idleTimeout, true);
  requireSeconds('checkInterval', resolved.checkInterval, false);
  requireSeconds('keepAliveInitialDelay', resolved.keepAliveInitialDelay, true);
  requireSeconds('drainTimeout', resolved.drainTimeout, true);
  requireInteger('maxMessageBytes', resolved.maxMessageBytes, 1, 0xffff_ffff);
  resolved.maxBufferedInput = options.maxBufferedInput ?? defaultMaxBufferedInput(resolved.maxMessageBytes);
  checkMaxBufferedInput(resolved.maxBufferedInput, resolved.maxMessageBytes);
  requireInteger('maxConnections', resolved.maxConnections, 0, 2 ** 31 - 1);
  requireInteger('maxPendingOutput', resolved.maxPendingOutput, 1, Number.MAX_SAFE_INTEGER);
  requireInteger('highWaterMark', resolved.highWaterMark, 1, resolved.maxPendingOutput);
  requireInteger('lowWaterMark', resolved.lowWaterMark, 0, resolved.highWaterMark);
  requireOneOf('byteOrder', resolved.byteOrder, ['little', 'big']);
  if (!isCodec(resolved.codec)) {
    throw new InvalidOptionError('codec', `must be one of ${CODEC_NAMES.join(', ')} or a Codec, got ${describeValue(resolved.codec)}`);
  }
  requireBoolean('noDelay', resolved.noDelay);
  requireBoolean('keepAlive', resolved.keepAlive);
  requireBoolean('reusePort', resolved.reusePort);
  requireOneOf('proxyProtocol', resolved.proxyProtocol, PROXY_PROTOCOL_MODES);
  // Kept as the canonical ranges (plain strings: options travel to other threads and processes).
  resolved.trustedProxies = CidrList.parse(resolved.trustedProxies, 'trustedProxies').entries;
  if (resolved.proxyProtocol !== 'off' && resolved.trustedProxies.length === 0) {
    throw new InvalidOptionError('trustedProxies', `is needed with proxyProtocol ${resolved.proxyProtocol}: a header is believed only from a trusted proxy`);
  }
  requireSeconds('proxyHeaderTimeout', resolved.proxyHeaderTimeout, false);
  checkMaxHeaderBytes(resolved.maxProxyHeaderBytes, 'maxProxyHeaderBytes');
  CidrList.parse(resolved.allow, 'allow');
  CidrList.parse(resolved.deny, 'deny');
  requireInteger('maxConnectionsPerIp', resolved.maxConnectionsPerIp, 0, MAX_CONNECTIONS_PER_IP);
  requireInteger('connectRatePerIp', resolved.connectRatePerIp, 0, MAX_CONNECT_RATE);
  requireInteger('maxTrackedAddresses', resolved.maxTrackedAddresses, 1, MAX_CAPACITY);
  requireInteger('maxMessagesPerSecond', resolved.maxMessagesPerSecond, 0, MAX_MESSAGE_RATE);
  return resolved;
}

/**
 * At least twice maxMessageBytes: a peer sending the largest message holds up to that and its
 * header, so two such peers at once must fit, or one of them would be closed for doing nothing
 * wrong whenever another sends a large message too.
 */
function checkMaxBufferedInput(value: unknown, maxMessageBytes: number): void {
  const min = 2 * maxMessageBytes;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidOptionError('maxBufferedInput', `must be an integer from ${min} (twice maxMessageBytes) to ${Number.MAX_SAFE_INTEGER}, got ${describeValue(value)}`);
  }
}

/** A built-in codec's name, or an object that can be one (it makes decoders and encodes). */
function isCodec(value: unknown): value is CodecName | Codec {
  if (typeof value === 'string') return (CODEC_NAMES as readonly string[]).includes(value);
  const codec = value as Partial<Codec> | null;
  return typeof codec === 'object' && codec !== null && typeof codec.createDecoder === 'function' && typeof codec.encode === 'function';
}

/** The Codec the options name (a Codec given directly is used as it is). */
export function createCodec(options: Pick<ServerOptions, 'codec' | 'maxMessageBytes' | 'byteOrder'>): Codec {
  const { codec } = options;
  if (typeof codec !== 'string') return codec;
  switch (codec) {
    case 'seed':
      return new SeedCodec();
    case 'length':
      return new LengthCodec(options.maxMessageBytes, options.byteOrder);
    case 'line':
      return new LineCodec(options.maxMessageBytes);
  }
}

/** `value` without its keys set to undefined: an option given as undefined counts as not given. */
export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

// setInterval cannot wait longer than 2^31-1 ms; anything above is a mistake, not a wish.
const MAX_SECONDS = (2 ** 31 - 1) / 1000;

function requireSeconds(name: string, value: unknown, zeroAllowed: boolean): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && (zeroAllowed ? value >= 0 : value > 0) && value <= MAX_SECONDS;
  if (!ok) {
    throw new InvalidOptionError(name, `must be a number of seconds ${zeroAllowed ? '>= 0' : '> 0'} and <= ${MAX_SECONDS}, got ${describeValue(value)}`);
  }
}
