import type { Command } from 'commander';
import type { ClientTlsOptions } from '../client/client-tls.js';
import { DEFAULT_OPTIONS } from '../server/options.js';
import * as parse from './parsers.js';
import { parseAddressPort } from '../core/host-port.js';
import type { ProxyHeaderInit } from '../proxy/proxy-header-encoder.js';
import { addTlsClientOptions, tlsFromFlags, type TlsClientFlags } from './tls-client-options.js';
import { addWireOptions, type WireFlags } from './wire-options.js';

/** How `send` and `bench` reach a server: its address, its wire format, TLS, a PROXY header. */
export interface TargetFlags extends WireFlags, TlsClientFlags {
  host: string;
  port: number;
  proxyHeader?: 'v1' | 'v2';
  proxySource?: string;
}

/** The server's address and wire format, and the TLS and PROXY flags, on a client command. */
export function addTargetOptions(command: Command): Command {
  command
    .option('--host <host>', 'server address', DEFAULT_OPTIONS.host)
    .option('-p, --port <port>', 'server port', parse.port, DEFAULT_OPTIONS.port)
    .option('--proxy-header <version>', 'start each connection with a PROXY protocol header (v1 or v2), as a proxy in front would', parse.choice(['v1', 'v2'] as const))
    .option('--proxy-source <address:port>', 'the client address the PROXY header claims (with --proxy-header; default 192.0.2.1:40000)');
  return addTlsClientOptions(addWireOptions(command));
}

/** The documentation range (RFC 5737): an address no real client has. */
const DEFAULT_PROXY_SOURCE = '192.0.2.1:40000';

/**
 * The connection options the target flags give (TLS files read); a bad combination of TLS
 * flags ends the command with a usage error naming the flag.
 */
export function targetOf(flags: TargetFlags, command: Command): Target {
  const tls = tlsFromFlags(flags, (problem) => command.error(`error: ${problem}`));
  const target: Target = { host: flags.host, port: flags.port, codec: flags.codec, byteOrder: flags.byteOrder, maxMessageBytes: flags.maxMessageBytes, tls };
  if (flags.proxyHeader === undefined) {
    if (flags.proxySource !== undefined) command.error('error: --proxy-source needs --proxy-header v1|v2');
    return target;
  }
  let source: { address: string; port: number };
  try {
    source = parseAddressPort(flags.proxySource ?? DEFAULT_PROXY_SOURCE, '--proxy-source');
  } catch (err) {
    return command.error(`error: ${(err as Error).message}`);
  }
  return { ...target, proxyHeader: { version: flags.proxyHeader === 'v1' ? 1 : 2, source } };
}

/** Where and how `send` and `bench` connect. */
export interface Target {
  host: string;
  port: number;
  codec: WireFlags['codec'];
  byteOrder: WireFlags['byteOrder'];
  maxMessageBytes: number;
  tls: ClientTlsOptions | undefined;
  proxyHeader?: ProxyHeaderInit;
}
