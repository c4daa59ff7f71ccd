/**
 * The node:tls transport: the node:net driver over `tls.TLSSocket`s (a TLSSocket is a
 * net.Socket), accepted by a `tls.Server` once their handshake is done, so the application's
 * `onConnection` sees an encrypted, possibly client-authenticated peer. Handshakes that fail
 * (plaintext on the TLS port, garbage, a client certificate the CA did not sign, a peer that
 * stops mid-handshake) never become connections: each is reported with a reason.
 */
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type tls from 'node:tls';
import type { SecureContext, TLSSocket } from 'node:tls';
import { InvalidOptionError } from '../core/errors.js';
import { lazyModule } from '../core/lazy-module.js';
import { Acceptor } from './node-listener.js';
import { nodeNetDriver } from './node-net.js';
import { SniContexts, isServerNamePattern } from './sni-contexts.js';
import type { HandshakeFailure, HandshakeObserver, TlsInfo, Transport, TransportDriver } from './transport.js';
import { createProxyGate, type AcceptedPeer } from './proxy-gate.js';

/** A certificate and its key, PEM. */
export interface TlsCertificate {
  cert: string | Uint8Array;
  key: string | Uint8Array;
}

/** What a TLS server is configured with: PEM contents, not file names. */
export interface TlsOptions {
  /** The certificate chain, PEM. */
  cert: string | Uint8Array;
  /** Its private key, PEM. */
  key: string | Uint8Array;
  /** CAs trusted for client certificates, PEM. */
  ca?: string | Uint8Array;
  /** `none` (default): no client certificate; `request`: asked for, not required; `require`: refused without one the CA signed. */
  clientAuth?: 'none' | 'request' | 'require';
  /** Oldest protocol accepted: `1.2` (default) or `1.3`. */
  minVersion?: '1.2' | '1.3';
  /** Seconds a peer has to finish its handshake before it is closed. Default 10. */
  handshakeTimeout?: number;
  /** ALPN protocols offered, most preferred first. */
  alpn?: string[];
  /**
   * Certificates by the server name a client asks for (SNI): `api.example.com`, or a wildcard
   * `*.example.com` (one label). Other names, and clients that send none, get `cert`/`key`.
   */
  sni?: Record<string, TlsCertificate>;
}

/** The material `reloadTls` replaces; the rest of TlsOptions stays as the server started. */
export type TlsMaterial = Pick<TlsOptions, 'cert' | 'key' | 'ca' | 'sni'>;

export const TLS_CLIENT_AUTH = ['none', 'request', 'require'] as const;
export const TLS_MIN_VERSIONS = ['1.2', '1.3'] as const;
const DEFAULT_HANDSHAKE_TIMEOUT_S = 10;

// Loaded by the first TLS server, not by importing this module: node:tls and node:crypto add
// about 0.7 MB of heap and 3 MB of RSS to every process and reactor, plaintext ones included.
const nodeTls = lazyModule<typeof import('node:tls')>('node:tls');
const nodeCrypto = lazyModule<typeof import('node:crypto')>('node:crypto');

/**
 * Builds the secure context, naming the setting that is wrong.
 * @throws InvalidOptionError for an unreadable certificate, key or CA, or a key that does not
 *   match its certificate
 */
export function createTlsContext(options: TlsOptions): SecureContext {
  return checkedMaterial(options).context;
}

/** The default context and the SNI ones, every file checked, each failure naming its setting. */
function checkedMaterial(options: TlsOptions): { context: SecureContext; sni: SniContexts | null } {
  const attempt = (option: string, context: tls.SecureContextOptions, what: string): SecureContext => {
    try {
      return nodeTls().createSecureContext(context);
    } catch (err) {
      throw new InvalidOptionError(option, `${what}: ${(err as Error).message}`);
    }
  };
  attempt('tls.cert', { cert: pem(options.cert) }, 'not a PEM certificate');
  attempt('tls.key', { key: pem(options.key) }, 'not a PEM private key');
  if (options.ca !== undefined) {
    // node:tls accepts a CA bundle with no certificate in it at all: parse it to be sure.
    try {
      new (nodeCrypto().X509Certificate)(pem(options.ca));
    } catch (err) {
      throw new InvalidOptionError('tls.ca', `not a PEM CA certificate: ${(err as Error).message}`);
    }
  }
  if (!TLS_MIN_VERSIONS.includes(options.minVersion ?? '1.2')) {
    throw new InvalidOptionError('tls.minVersion', `must be one of ${TLS_MIN_VERSIONS.join(', ')}, got ${String(options.minVersion)}`);
  }
  const context = attempt('tls.key', contextOptions(options), 'does not go with tls.cert');
  if (options.sni === undefined) return { context, sni: null };
  const sni = SniContexts.from(options.sni, (name, entry) => {
    if (!isServerNamePattern(name)) throw new InvalidOptionError(`tls.sni`, `${JSON.stringify(name)} is not a server name (example.com or *.example.com)`);
    attempt(`tls.sni.${name}.cert`, { cert: pem(entry.cert) }, 'not a PEM certificate');
    attempt(`tls.sni.${name}.key`, { key: pem(entry.key) }, 'not a PEM private key');
    return attempt(`tls.sni.${name}.key`, contextOptions({ ...options, cert: entry.cert, key: entry.key }), `does not go with tls.sni.${name}.cert`);
  });
  return { context, sni };
}

/** Why a handshake failed, from OpenSSL's and Node's codes. */
export function handshakeFailureReason(error: Error): HandshakeFailure['reason'] {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_HTTPS_PROXY_REQUEST') return 'plaintext';
  if (code === 'ERR_SSL_NO_SHARED_CIPHER' || code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' || code === 'ERR_SSL_NO_PROTOCOLS_AVAILABLE') return 'no-shared-cipher';
  if (/CERTIFICATE|_CA$|PEER_DID_NOT_RETURN/.test(code)) return 'bad-certificate';
  // "socket hang up": the peer closed or reset before the handshake finished.
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'closed';
  return 'protocol';
}

function describeCertificateSubject(subject: tls.Certificate | undefined): string | null {
  if (subject === undefined || subject === null) return null;
  const parts = Object.entries(subject).map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : String(value)}`);
  return parts.length === 0 ? null : parts.join(', ');
}

export const nodeTlsDriver: TransportDriver<TLSSocket> = {
  ...(nodeNetDriver as TransportDriver<Socket> as TransportDriver<TLSSocket>),
  descriptor(socket) {
    // The descriptor belongs to the TCP handle under the TLS one where the runtime keeps one
    // apart (Node.js), else to the TLS socket's own (Bun). Not public API; -1 elsewhere.
    const fd = ((tcpSocketOf(socket) ?? socket) as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    return typeof fd === 'number' ? fd : -1;
  },
  tlsInfo(socket): TlsInfo {
    const cipher = socket.getCipher();
    const peer = socket.getPeerCertificate();
    const hasPeer = peer !== null && typeof peer === 'object' && Object.keys(peer).length > 0;
    return {
      protocol: socket.getProtocol(),
      cipher: cipher?.name ?? null,
      alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
      servername: typeof (socket as { servername?: unknown }).servername === 'string' ? (socket as unknown as { servername: string }).servername : null,
      authorized: socket.authorized,
      authorizationError: socket.authorizationError === undefined || socket.authorizationError === null ? null : String(socket.authorizationError),
      peerSubject: hasPeer ? describeCertificateSubject(peer.subject) : null,
    };
  },
};

/** The context options of `options`, as tls.Server takes them. */
function contextOptions(options: TlsOptions): tls.SecureContextOptions {
  return { cert: pem(options.cert), key: pem(options.key), ca: options.ca === undefined ? undefined : pem(options.ca), minVersion: `TLSv${options.minVersion ?? '1.2'}` as tls.SecureVersion };
}

/** PEM bytes as node:tls takes them (a Buffer that passed to another thread arrives as a Uint8Array). */
function pem(value: string | Uint8Array): string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** The TLS listener: an Acceptor over a tls.Server, whose material can be replaced while it runs. */
class TlsAcceptor extends Acceptor {
  /** The server that runs the handshakes: the listening one, or, behind the PROXY stage, one fed by it. */
  tlsServer: tls.Server | null = null;

  /** New handshakes use the new material; open connections keep theirs. */
  replaceMaterial(options: TlsOptions): void {
    this.tlsServer?.setSecureContext(contextOptions(options));
  }
}

/**
 * The socket a tls.Server's 'connection' event gave for this TLS socket, under which the
 * accept time and the PROXY stage's peer are kept. Node.js accepts a plain TCP socket and wraps
 * it (the TLS socket's `_parent`: not public API, stable for years); Bun accepts straight into
 * the TLS socket and hands that to 'connection' (its `_parent` is set only when a TLS socket
 * wraps a socket given to 'connection' by hand, as the PROXY stage does). Both are tried: the
 * TLS socket first, then its parent.
 */
function acceptedSocketOf<T>(socket: TLSSocket, keyed: WeakMap<Socket, T>): T | undefined {
  const own = keyed.get(socket);
  if (own !== undefined) return own;
  const parent = tcpSocketOf(socket);
  return parent === undefined ? undefined : keyed.get(parent);
}

/** The TCP socket under a server-side TLSSocket where the runtime keeps one apart (Node.js); else undefined. */
function tcpSocketOf(socket: TLSSocket): Socket | undefined {
  const parent = (socket as unknown as { _parent?: Socket | null })._parent;
  return parent === null || parent === undefined ? undefined : parent;
}

/** When each accepted socket arrived, for the handshake's duration (a WeakMap: no field added to the runtime's sockets). */
const acceptedAt = new WeakMap<Socket, number>();

function handshakeSeconds(socket: TLSSocket): number {
  const start = acceptedSocketOf(socket, acceptedAt);
  return start === undefined ? 0 : (performance.now() - start) / 1000;
}

/** A TLS transport whose certificates can be replaced while it serves. */
export type TlsTransport<H = unknown> = Transport<H> & {
  /** New handshakes use `material`; open connections keep theirs. @throws InvalidOptionError for bad material (the old stays) */
  reload(material: TlsMaterial): void;
};

/** A TLS transport for `options` (the context is built, and checked, at once). */
export function nodeTlsTransport(options: TlsOptions): TlsTransport<TLSSocket> {
  let material = options;
  let sni = checkedMaterial(options).sni;
  const clientAuth = options.clientAuth ?? 'none';
  const listeners = new Set<TlsAcceptor>();
  // One callback for every listener, reading the current map: a reload swaps `sni` for all.
  const SNICallback = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => done(null, sni?.lookup(servername));
  return {
    name: 'node:tls',
    driver: nodeTlsDriver,
    createListener(listenerOptions, onAccept, onError, handshakes?: HandshakeObserver) {
      // Behind a proxy the PROXY header comes first on the wire: each socket clears the PROXY
      // stage on plain TCP, then goes to the TLS server (which does not listen itself).
      const gate = listenerOptions.proxy === undefined ? null : createProxyGate(listenerOptions.proxy);
      const proxied = new WeakMap<Socket, AcceptedPeer>();
      /** Who a TLS socket is from: the PROXY stage's client, or the socket's peer. */
      const peerOf = (socket: TLSSocket): { address: string; port: number } => {
        return acceptedSocketOf(socket, proxied) ?? { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
      };
      let tlsServer: tls.Server | null = null;
      const acceptor: TlsAcceptor = new TlsAcceptor(listenerOptions, onAccept as (socket: Socket) => void, onError, (netOptions) => {
        const server = nodeTls().createServer(
          {
            ...netOptions,
            // With allowHalfOpen a TLS socket whose peer closes right after the handshake gets
            // no event at all and holds its descriptor (seen on Node 20 and 24). Without it, a
            // peer's close still lets the replies already queued go out, then closes.
            allowHalfOpen: false,
            ...contextOptions(material),
            requestCert: clientAuth !== 'none',
            // Checked below instead: Node's own refusal reaches tlsClientError as a bare
            // "socket hang up" under TLS 1.3, and the reason is what operators need.
            rejectUnauthorized: false,
            handshakeTimeout: (options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT_S) * 1000,
            ALPNProtocols: options.alpn,
            SNICallback,
          },
          (socket: TLSSocket) => {
            if (clientAuth === 'require' && !socket.authorized) {
              const peer = peerOf(socket);
              const why = socket.authorizationError === undefined || socket.authorizationError === null ? 'ERR_TLS_NO_CLIENT_CERTIFICATE' : String(socket.authorizationError);
              const error = Object.assign(new Error(`client certificate refused: ${why}`), { code: why });
              socket.destroy();
              handshakes?.failed({ reason: 'bad-certificate', error, peer });
              return;
            }
            handshakes?.completed(handshakeSeconds(socket));
            onAccept(socket, gate === null ? undefined : acceptedSocketOf(socket, proxied));
          },
        );
        if (handshakes !== undefined) server.on('connection', (raw: Socket) => acceptedAt.set(raw, performance.now()));
        server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
          const peer = peerOf(socket);
          // Closed here, whatever Node goes on to do: a failed handshake must not hold a descriptor.
          socket.destroy();
          handshakes?.failed({ reason: handshakeFailureReason(error), error, peer });
        });
        tlsServer = server;
        if (gate === null) return server;
        return net.createServer({ ...netOptions, allowHalfOpen: false }, (raw) =>
          gate(raw, (socket, peer, rest) => {
            if (peer.proxy !== null) proxied.set(socket, peer);
            // Paused with the bytes after the header back in front: the TLS socket reads those
            // first, then takes the stream over.
            socket.pause();
            if (rest.length > 0) socket.unshift(rest);
            server.emit('connection', socket);
          }),
        );
      });
      // Made by the factory above, during the Acceptor's construction.
      acceptor.tlsServer = tlsServer;
      listeners.add(acceptor);
      return acceptor;
    },
    reload(next) {
      // Built and checked first: a bad new file leaves the old material in use.
      const candidate: TlsOptions = { ...material, cert: next.cert, key: next.key, ca: next.ca ?? material.ca, sni: next.sni ?? material.sni };
      const checked = checkedMaterial(candidate);
      material = candidate;
      sni = checked.sni;
      for (const listener of listeners) listener.replaceMaterial(material);
    },
  };
}
