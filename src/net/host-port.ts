import { isIPv6 } from 'node:net';

/**
 * `host:port` as URLs and messages write it: an IPv6 address goes in brackets (`[::1]:8888`),
 * since its own colons would otherwise run into the port's.
 */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
