import { isIPv6 } from 'node:net';
import { InvalidOptionError } from './errors.js';
import { describeValue } from './option-checks.js';
import { formatIPv6, parseIPv4, parseIPv6Into } from './ip-address.js';

/**
 * `host:port` as URLs and messages write it: an IPv6 address goes in brackets (`[::1]:8888`),
 * since its own colons would otherwise run into the port's.
 */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * An IP address and port written `192.0.2.1:5000` or `[2001:db8::1]:5000` (as
 * `formatHostPort` writes them), such as `--proxy-source`. The IPv6 address comes back as
 * Node.js writes addresses (`[0:0::1]` gives `::1`).
 * @param option the setting it comes from, named in the error
 * @throws InvalidOptionError unless `text` is an address (no host name) and a port from 0 to 65535
 */
export function parseAddressPort(text: unknown, option: string): { address: string; port: number } {
  const refuse = () => new InvalidOptionError(option, `must be ADDRESS:PORT with an IPv4 address or a bracketed IPv6 one (192.0.2.1:5000, [2001:db8::1]:5000), got ${describeValue(text)}`);
  if (typeof text !== 'string') throw refuse();
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw refuse();
  const portText = text.slice(colon + 1);
  if (portText.length === 0 || portText.length > 5 || !/^\d+$/.test(portText) || Number(portText) > 0xffff) throw refuse();
  const port = Number(portText);
  const host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) {
    const bytes = new Uint8Array(16);
    if (!parseIPv6Into(host, bytes, 0, 1, host.length - 1)) throw refuse();
    return { address: formatIPv6(bytes), port };
  }
  if (parseIPv4(host) < 0) throw refuse();
  return { address: host, port };
}
