import type { Command } from 'commander';
import type { ClientTlsOptions } from '../client/client-tls.js';
import { DEFAULT_OPTIONS } from '../server/options.js';
import * as parse from './parsers.js';
import { addTlsClientOptions, tlsFromFlags, type TlsClientFlags } from './tls-client-options.js';
import { addWireOptions, type WireFlags } from './wire-options.js';

/** How `send` and `bench` reach a server: its address, its wire format, TLS. */
export interface TargetFlags extends WireFlags, TlsClientFlags {
  host: string;
  port: number;
}

/** The server's address and wire format, and the TLS flags, on a client command. */
export function addTargetOptions(command: Command): Command {
  command.option('--host <host>', 'server address', DEFAULT_OPTIONS.host).option('-p, --port <port>', 'server port', parse.port, DEFAULT_OPTIONS.port);
  return addTlsClientOptions(addWireOptions(command));
}

/**
 * The connection options the target flags give (TLS files read); a bad combination of TLS
 * flags ends the command with a usage error naming the flag.
 */
export function targetOf(flags: TargetFlags, command: Command): { host: string; port: number; codec: WireFlags['codec']; byteOrder: WireFlags['byteOrder']; maxMessageBytes: number; tls: ClientTlsOptions | undefined } {
  const tls = tlsFromFlags(flags, (problem) => command.error(`error: ${problem}`));
  return { host: flags.host, port: flags.port, codec: flags.codec, byteOrder: flags.byteOrder, maxMessageBytes: flags.maxMessageBytes, tls };
}
