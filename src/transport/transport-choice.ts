/**
 * Which sockets a server uses, by name: `node` (node:net, node:tls), `bun` (`Bun.listen`,
 * Bun's own sockets), or `auto`, the runtime's own: bun on Bun, node elsewhere. Names, unlike
 * Transport objects, cross to other threads and processes, so a group's reactors and the CLI
 * choose by name.
 */
import { UnsupportedError } from '../core/errors.js';
import { requireOneOf } from '../core/option-checks.js';
import { isBun } from './bun-api.js';

export type TransportName = 'auto' | 'node' | 'bun';
export const TRANSPORT_NAMES: readonly TransportName[] = ['auto', 'node', 'bun'];

/**
 * The transport `name` stands for on this runtime.
 * @throws InvalidOptionError for an unknown name; UnsupportedError for `bun` off Bun
 */
export function resolveTransportName(name: unknown, option = 'transport', onBun = isBun()): 'node' | 'bun' {
  requireOneOf(option, name, TRANSPORT_NAMES);
  if (name === 'auto') return onBun ? 'bun' : 'node';
  if (name === 'bun' && !onBun) throw new UnsupportedError(`${option} bun needs the Bun runtime; this is Node.js ${process.version}`, option);
  return name;
}

/**
 * TLS is served by node:tls, on Node.js and (through its node:tls) on Bun, where `auto` means
 * it. Bun's own TLS listener cannot yet replace its certificates while it listens
 * (`reloadTls`, SIGHUP) nor start TLS after a PROXY header on an accepted socket, so an
 * explicit `bun` with TLS is refused rather than served with less.
 * @throws UnsupportedError for `bun`
 */
export function checkTlsTransport(name: TransportName, option = 'transport'): void {
  if (name === 'bun') throw new UnsupportedError(`${option} bun serves plaintext only: TLS is served by node:tls (${option} auto or node)`, option);
}
