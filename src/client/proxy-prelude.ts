/**
 * A client's PROXY header: what a proxy would write before the client's first byte, so a
 * server configured for a proxy can be reached (and tested) without one.
 */
import net from 'node:net';
import { InvalidOptionError } from '../core/errors.js';
import { requireOptionsObject } from '../core/option-checks.js';
import { encodeProxyHeader, type ProxyHeaderInit } from '../proxy/proxy-header-encoder.js';

/**
 * The bytes of the PROXY header `init` asks for; without a destination, the server's address
 * (when `host` is an IP address of the source's family; else the unspecified one) and `port`.
 * @throws InvalidOptionError naming the field (`proxyHeader.source.address`, ...)
 */
export function proxyPrelude(init: ProxyHeaderInit, host: string, port: number): Buffer {
  requireOptionsObject('proxyHeader', init);
  let header = init;
  const source = init.source as { address?: unknown } | undefined;
  if (source !== undefined && init.destination === undefined && typeof source.address === 'string') {
    const family = net.isIP(source.address);
    const address = net.isIP(host) === family ? host : family === 6 ? '::' : '0.0.0.0';
    header = { ...init, destination: { address, port } };
  }
  try {
    return encodeProxyHeader(header);
  } catch (err) {
    if (err instanceof InvalidOptionError) throw new InvalidOptionError(`proxyHeader.${err.option}`, err.reason);
    throw err;
  }
}

