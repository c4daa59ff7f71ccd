import type { Codec } from '../net/codec.js';
import { InvalidOptionError } from '../net/errors.js';
import { SeedCodec } from '../net/seed-codec.js';

/** Everything a server can be configured with. Times are in seconds. */
export interface ServerOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  host: string;
  /** Port to listen on; 0 picks a free one. Default 8888. */
  port: number;
  /** Kernel accept queue length. Default 511. */
  backlog: number;
  /** Wire format. Default: the seed's (raw in, 4-byte little-endian length + payload out). */
  codec: Codec;
  /** Seconds of silence after which a connection is closed; 0 disables. Default 300. */
  idleTimeout: number;
  /** Seconds between idle checks. Default 60. */
  checkInterval: number;
  /** TCP_NODELAY on accepted sockets. Default true. */
  noDelay: boolean;
  /** SO_KEEPALIVE on accepted sockets. Default true. */
  keepAlive: boolean;
  /** Seconds before the first keep-alive probe. Default 60. */
  keepAliveInitialDelay: number;
  /** SO_REUSEPORT (Linux, Node.js >= 22.12). Default false. */
  reusePort: boolean;
}

export const DEFAULT_OPTIONS: Readonly<Omit<ServerOptions, 'codec'>> = Object.freeze({
  host: '127.0.0.1',
  port: 8888,
  backlog: 511,
  idleTimeout: 300,
  checkInterval: 60,
  noDelay: true,
  keepAlive: true,
  keepAliveInitialDelay: 60,
  reusePort: false,
});

/**
 * Fills in defaults and checks every value.
 * @throws InvalidOptionError naming the first bad option
 */
export function resolveOptions(options: Partial<ServerOptions> = {}): ServerOptions {
  const resolved: ServerOptions = { ...DEFAULT_OPTIONS, codec: new SeedCodec(), ...stripUndefined(options) };
  if (typeof resolved.host !== 'string' || resolved.host === '') throw new InvalidOptionError('host', 'must be a non-empty string');
  requireInteger('port', resolved.port, 0, 65535);
  requireInteger('backlog', resolved.backlog, 1, 2 ** 31 - 1);
  requireSeconds('idleTimeout', resolved.idleTimeout, true);
  requireSeconds('checkInterval', resolved.checkInterval, false);
  requireSeconds('keepAliveInitialDelay', resolved.keepAliveInitialDelay, true);
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function requireInteger(name: string, value: unknown, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(name, `must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

// setInterval cannot wait longer than 2^31-1 ms; anything above is a mistake, not a wish.
const MAX_SECONDS = (2 ** 31 - 1) / 1000;

function requireSeconds(name: string, value: unknown, zeroAllowed: boolean): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && (zeroAllowed ? value >= 0 : value > 0) && value <= MAX_SECONDS;
  if (!ok) {
    throw new InvalidOptionError(name, `must be a number of seconds ${zeroAllowed ? '>= 0' : '> 0'} and <= ${MAX_SECONDS}, got ${String(value)}`);
  }
}
