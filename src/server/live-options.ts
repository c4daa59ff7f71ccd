/**
 * The options a running server takes a new value of (`NetServer.reconfigure`), and the rules
 * for changing them. Everything else (the address, the codec, the TLS and PROXY settings, the
 * size of the address table) is built into the listener, the decoders or shared memory at
 * start, and needs a new server.
 */
import { InvalidOptionError } from '../core/errors.js';
import { requireOptionsObject } from '../core/option-checks.js';
import type { ServerOptions } from './options.js';

export const LIVE_OPTION_NAMES = [
  'idleTimeout',
  'checkInterval',
  'highWaterMark',
  'lowWaterMark',
  'maxPendingOutput',
  'maxConnections',
  'maxMessagesPerSecond',
  'allow',
  'deny',
  'maxConnectionsPerIp',
  'connectRatePerIp',
  'drainTimeout',
] as const satisfies readonly (keyof ServerOptions)[];

export type LiveOptionName = (typeof LIVE_OPTION_NAMES)[number];

/** New values for some of the options a running server can change. */
export type LiveOptions = Partial<Pick<ServerOptions, LiveOptionName>>;

/** True for the options `reconfigure` takes. */
export function isLiveOption(name: string): name is LiveOptionName {
  return (LIVE_OPTION_NAMES as readonly string[]).includes(name);
}

/**
 * Checks that `changes` names only live options (each refused by name otherwise), and that
 * the per-address limits keep their shape: a server that counts open connections per address
 * (maxConnectionsPerIp > 0) cannot stop counting, nor start, without losing count of the
 * connections it already has; and a server started with no per-address limit at all has no
 * table to hold new ones.
 * @throws InvalidOptionError naming the option
 */
export function checkLiveChanges(current: Readonly<ServerOptions>, changes: LiveOptions): void {
  requireOptionsObject('options', changes);
  for (const name of Object.keys(changes)) {
    if (!isLiveOption(name)) throw new InvalidOptionError(name, 'cannot change while the server runs (it needs a new server)');
  }
  const { maxConnectionsPerIp = current.maxConnectionsPerIp, connectRatePerIp = current.connectRatePerIp } = changes;
  if (maxConnectionsPerIp > 0 !== current.maxConnectionsPerIp > 0) {
    throw new InvalidOptionError('maxConnectionsPerIp', `can change while the server runs but not turn ${current.maxConnectionsPerIp > 0 ? 'off' : 'on'} (it is ${current.maxConnectionsPerIp}): that needs a new server`);
  }
  if (current.maxConnectionsPerIp === 0 && current.connectRatePerIp === 0 && connectRatePerIp > 0) {
    throw new InvalidOptionError('connectRatePerIp', 'cannot turn on while the server runs when it started with no per-address limit: that needs a new server');
  }
}

/** The names of the options whose values differ between `a` and `b` (lists compared by content). */
export function changedLiveOptions(a: Readonly<ServerOptions>, b: Readonly<ServerOptions>): LiveOptionName[] {
  return LIVE_OPTION_NAMES.filter((name) => JSON.stringify(a[name]) !== JSON.stringify(b[name]));
}
