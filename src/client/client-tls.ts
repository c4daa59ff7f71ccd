/**
 * How a client (the library's `connect()`, the load driver) opens its connection: plain TCP, or
 * TLS through node:tls. The TLS options are checked once and turned into one secure context
 * that every connection shares; each connection still makes its own full handshake.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { InvalidOptionError, TlsHandshakeError } from '../core/errors.js';
import { lazyModule } from '../core/lazy-module.js';
import { rejectUnknownOptions, requireOptionsObject } from '../core/option-checks.js';
import { formatHostPort } from '../core/host-port.js';

// Loaded by the first TLS client, not by importing this module (which every CLI command does):
// a plaintext client or server process does not carry node:tls and node:crypto.
const nodeTls = lazyModule<typeof import('node:tls')>('node:tls');
const nodeCrypto = lazyModule<typeof import('node:crypto')>('node:crypto');

/** TLS as a client speaks it. PEM material as text or bytes, not file names. */
export interface ClientTlsOptions {
  /** CAs trusted for the server's certificate, PEM. Default: the system's CAs. */
  ca?: string | Uint8Array;
  /** A client certificate chain to present, PEM (with `key`). */
  cert?: string | Uint8Array;
  /** Its private key, PEM (with `cert`). */
  key?: string | Uint8Array;
  /** The name sent as SNI and verified in the certificate. Default: the host, unless it is an IP address. */
  servername?: string;
  /** Refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** ALPN protocols offered, most preferred first. */
  alpn?: string[];
}

const CLIENT_TLS_OPTION_NAMES = Object.keys({
  ca: true,
  cert: true,
  key: true,
  servername: true,
  rejectUnauthorized: true,
  alpn: true,
} satisfies Record<keyof ClientTlsOptions, true>);

/** A checked TLS setup, ready for any number of connections. */
export interface ClientTls {
  readonly secureContext: tls.SecureContext;
  readonly servername: string | undefined;
  readonly rejectUnauthorized: boolean;
  readonly alpn: string[] | undefined;
}

/**
 * Checks the `tls` option (`true`, or an object of ClientTlsOptions) and builds its context;
 * null for no TLS (`undefined` or `false`).
 * @throws InvalidOptionError naming the key (`tls.ca`, ...); UnknownOptionError for a key that is none
 */
export function clientTls(value: unknown): ClientTls | null {
  if (value === undefined || value === false) return null;
  if (value === true) return clientTls({});
  requireOptionsObject('tls', value);
  const options = value as ClientTlsOptions;
  rejectUnknownOptions(options, CLIENT_TLS_OPTION_NAMES, 'tls.');
  for (const key of ['ca', 'cert', 'key'] as const) {
    const material = options[key];
    if (material !== undefined && typeof material !== 'string' && !(material instanceof Uint8Array)) {
      throw new InvalidOptionError(`tls.${key}`, `must be PEM text or bytes, got ${typeof material}`);
    }
  }
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new InvalidOptionError(options.cert === undefined ? 'tls.cert' : 'tls.key', `required with tls.${options.cert === undefined ? 'key' : 'cert'}`);
  }
  if (options.servername !== undefined && (typeof options.servername !== 'string' || options.servername === '')) {
    throw new InvalidOptionError('tls.servername', `must be a non-empty string, got ${JSON.stringify(options.servername)}`);
  }
  if (options.rejectUnauthorized !== undefined && typeof options.rejectUnauthorized !== 'boolean') {
    throw new InvalidOptionError('tls.rejectUnauthorized', `must be true or false, got ${typeof options.rejectUnauthorized}`);
  }
  if (options.alpn !== undefined && (!Array.isArray(options.alpn) || options.alpn.some((p) => typeof p !== 'string' || p === ''))) {
    throw new InvalidOptionError('tls.alpn', 'must be an array of non-empty strings');
  }
  const attempt = (key: string, context: tls.SecureContextOptions, what: string): tls.SecureContext => {
    try {
      return nodeTls().createSecureContext(context);
    } catch (err) {
      throw new InvalidOptionError(key, `${what}: ${(err as Error).message}`);
    }
  };
  const ca = options.ca === undefined ? undefined : pem(options.ca);
  const cert = options.cert === undefined ? undefined : pem(options.cert);
  const key = options.key === undefined ? undefined : pem(options.key);
  if (ca !== undefined) {
    // A secure context skips CA text that holds no certificate; parsing it does not.
    try {
      new (nodeCrypto().X509Certificate)(ca);
    } catch (err) {
      throw new InvalidOptionError('tls.ca', `not a PEM CA certificate: ${(err as Error).message}`);
    }
  }
  if (cert !== undefined) attempt('tls.cert', { cert }, 'not a PEM certificate');
  if (key !== undefined) attempt('tls.key', { key }, 'not a PEM private key');
  return {
    secureContext: attempt('tls.key', { ca, cert, key }, 'does not go with tls.cert'),
    servername: options.servername,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
    alpn: options.alpn,
  };
}

/** A socket on its way to `host:port`, and the event that says it is ready for requests. */
export interface OpeningSocket {
  readonly socket: net.Socket;
  /** The TCP socket under it (the same one without TLS): its 'connect' says TCP got through. */
  readonly tcp: net.Socket;
  /** `connect` for TCP; `secureConnect` for TLS, after the handshake. */
  readonly ready: 'connect' | 'secureConnect';
}

/**
 * Opens a connection, plain or (with `setup`) TLS. `prelude` (a PROXY header) is the first
 * thing on the wire, before any TLS handshake.
 */
export function openSocket(host: string, port: number, setup: ClientTls | null, prelude?: Buffer): OpeningSocket {
  if (setup === null || prelude !== undefined) {
    const tcp = net.connect({ host, port, noDelay: true });
    // Written before connecting, it is queued and goes out first.
    if (prelude !== undefined) tcp.write(prelude);
    if (setup === null) return { socket: tcp, tcp, ready: 'connect' };
    return { socket: nodeTls().connect({ socket: tcp, ...handshakeOptions(host, setup) }), tcp, ready: 'secureConnect' };
  }
  const socket = nodeTls().connect({ host, port, ...handshakeOptions(host, setup) });
  // tls.connect takes no noDelay option; set before connecting, it applies once connected.
  socket.setNoDelay(true);
  return { socket, tcp: socket, ready: 'secureConnect' };
}

function handshakeOptions(host: string, setup: ClientTls): tls.ConnectionOptions {
  return {
    secureContext: setup.secureContext,
    // SNI carries names only; for an IP address node:tls verifies the certificate's IP entries.
    servername: setup.servername ?? (net.isIP(host) === 0 ? host : undefined),
    rejectUnauthorized: setup.rejectUnauthorized,
    ALPNProtocols: setup.alpn,
  };
}

/**
 * The error for a connection that failed after TCP connected but before its handshake was
 * done: a TlsHandshakeError carrying the socket's code.
 */
export function handshakeError(host: string, port: number, error: Error): TlsHandshakeError {
  const code = (error as NodeJS.ErrnoException).code;
  return new TlsHandshakeError(formatHostPort(host, port), typeof code === 'string' ? code : error.name, error);
}

/** PEM bytes as node:tls takes them. */
function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}
