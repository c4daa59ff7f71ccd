import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ClientTlsOptions } from '../client/client-tls.js';

/** The TLS flags of the client commands, as commander gives them. */
export interface TlsClientFlags {
  tls?: boolean;
  tlsCa?: string;
  insecure?: boolean;
  servername?: string;
  tlsCert?: string;
  tlsKey?: string;
}

/** The TLS flags of `send` and `bench`. The files are read by `tlsFromFlags`, before anything connects. */
export function addTlsClientOptions(command: Command): Command {
  return command
    .option('--tls', "speak TLS; the server's certificate is verified against the system's CAs unless --tls-ca or --insecure")
    .option('--tls-ca <file>', "CA certificates (PEM) to verify the server's certificate against (with --tls)")
    .option('--insecure', "do not verify the server's certificate (with --tls; for test servers)")
    .option('--servername <name>', 'the name sent as SNI and verified in the certificate (with --tls; default: the host, unless it is an IP address)')
    .option('--tls-cert <file>', 'a client certificate (PEM) to present, with --tls-key (with --tls)')
    .option('--tls-key <file>', 'the private key (PEM) of --tls-cert (with --tls)');
}

/**
 * The client's `tls` option from the flags, their files read; undefined without --tls.
 * @param fail reports a usage error naming the flag and ends the command
 */
export function tlsFromFlags(flags: TlsClientFlags, fail: (message: string) => never): ClientTlsOptions | undefined {
  const given = (['tlsCa', 'insecure', 'servername', 'tlsCert', 'tlsKey'] as const).filter((key) => flags[key] !== undefined);
  if (flags.tls !== true) {
    if (given.length > 0) fail(`${flagName(given[0] as string)} needs --tls`);
    return undefined;
  }
  if (flags.insecure === true && flags.tlsCa !== undefined) fail('--insecure verifies nothing: give it or --tls-ca, not both');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) fail(flags.tlsCert === undefined ? '--tls-key needs --tls-cert' : '--tls-cert needs --tls-key');
  const read = (flag: string, file: string | undefined): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      return fail(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  return {
    ca: read('--tls-ca', flags.tlsCa),
    cert: read('--tls-cert', flags.tlsCert),
    key: read('--tls-key', flags.tlsKey),
    servername: flags.servername,
    rejectUnauthorized: flags.insecure !== true,
  };
}

/** `tlsCa` -> `--tls-ca`. */
function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
}
