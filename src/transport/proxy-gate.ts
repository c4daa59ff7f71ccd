/**
 * The PROXY protocol at accept: before a socket becomes a connection (and before a TLS
 * handshake, which follows the header on the wire), read the header a trusted proxy puts in
 * front of the client's bytes, and learn the client's address from it. A header is honoured
 * only from a trusted proxy; from anyone else it is refused unread, so no peer can choose the
 * address the application sees. Bytes after the header go on with the socket, first in line:
 * the application (or the TLS layer) reads them as if nothing had come before.
 */
import type { Socket } from 'node:net';
import { ProxyProtocolError } from '../core/errors.js';
import { detectProxyHeader, parseProxyHeader } from '../proxy/proxy-header-parser.js';
import type { ProxyHeader } from '../proxy/proxy-header.js';

/** Who a connection is from, once the PROXY stage is done. */
export interface AcceptedPeer {
  /** The client's address: from the header, or the socket's when there is none (or LOCAL). */
  readonly address: string;
  readonly port: number;
  /** The proxy's own socket address and its header, when a header named the client; else null. */
  readonly proxy: ProxyInfo | null;
}

/** What the proxy in front told about a connection. */
export interface ProxyInfo {
  /** The proxy's address and port: the socket's peer. */
  readonly address: string;
  readonly port: number;
  /** The header as parsed, TLVs included (ALPN, authority, unique id, SSL details). */
  readonly header: ProxyHeader;
}

/** Why the PROXY stage refused a socket. */
export type ProxyRefusal = 'proxy-untrusted' | 'proxy-invalid';

export interface ProxyGateOptions {
  /** `required`: every connection comes through a trusted proxy with a header; `optional`: a header is read when a trusted proxy sends one. */
  mode: 'required' | 'optional';
  /** The proxies whose headers are believed. */
  trusted: { contains(address: string): boolean };
  /** Seconds a peer has to send its header (or, in `optional` mode, its first bytes). */
  headerTimeout: number;
  /** The longest version 2 header accepted. */
  maxHeaderBytes: number;
  /** A socket was refused (and reset); the server counts and reports it. */
  onRefused(peer: { address: string; port: number }, reason: ProxyRefusal, error: ProxyProtocolError): void;
}

/**
 * Runs the PROXY stage on each accepted socket: `pass` gets the ones that clear it, with the
 * client and the bytes that came after the header (the application's first, possibly none),
 * which `pass` must deliver ahead of anything the socket reads next.
 */
export type ProxyGate = (socket: Socket, pass: (socket: Socket, peer: AcceptedPeer, rest: Buffer) => void) => void;

export function createProxyGate(options: ProxyGateOptions): ProxyGate {
  const { mode, trusted, headerTimeout, maxHeaderBytes, onRefused } = options;
  // Shared by every connection: the stage costs a few closures and one timer per socket.
  const parseOptions = { maxHeaderBytes };
  return (socket, pass) => {
    const peer = { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const fromProxy = trusted.contains(peer.address);
    if (!fromProxy && mode === 'required') {
      refuse(socket, peer, 'proxy-untrusted', new ProxyProtocolError('untrusted', `${peer.address} is not a trusted proxy`), onRefused);
      return;
    }
    /** The bytes of a header begun and not finished (or, from a stranger, of a first chunk too short to judge). */
    let held: Buffer | null = null;
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
    };
    const onData = (chunk: Buffer): void => {
      const data = held === null ? chunk : Buffer.concat([held, chunk]);
      held = null;
      const seen = detectProxyHeader(data);
      if (seen === 'incomplete') {
        held = data;
        return;
      }
      if (seen === 'none' && mode === 'optional') {
        // No header: served as itself, whoever it is.
        finish();
        pass(socket, { ...peer, proxy: null }, data);
        return;
      }
      if (!fromProxy) {
        // Optional mode, a peer that is not a proxy sending a header: never believed.
        finish();
        refuse(socket, peer, 'proxy-untrusted', new ProxyProtocolError('untrusted', `a ${seen} header from ${peer.address}, which is not a trusted proxy`, seen === 'v1' ? 1 : 2), onRefused);
        return;
      }
      const result = parseProxyHeader(data, parseOptions);
      if (result.status === 'incomplete') {
        // A copy: a chunk may be a slice of a larger buffer the stream reuses.
        held = data === chunk ? Buffer.from(chunk) : data;
        return;
      }
      finish();
      if (result.status === 'invalid') {
        refuse(socket, peer, 'proxy-invalid', result.error, onRefused);
        return;
      }
      const { header } = result;
      // LOCAL (the proxy's own health check) and UNSPEC carry no client: the socket's peer is it.
      const client = header.command === 'proxy' ? header.source : undefined;
      const accepted: AcceptedPeer = client === undefined ? { ...peer, proxy: null } : { address: client.address, port: client.port, proxy: { ...peer, header } };
      pass(socket, accepted, data.subarray(result.consumed));
    };
    const onGone = (): void => {
      // Gone (or half-closed) before its header: nothing to serve and nobody to tell.
      finish();
      socket.destroy();
    };
    const timer = setTimeout(() => {
      finish();
      if (socket.destroyed) return;
      const what = fromProxy ? 'a complete header' : 'its first bytes';
      refuse(socket, peer, 'proxy-invalid', new ProxyProtocolError('timeout', `${peer.address} sent no ${what} within ${headerTimeout} s`), onRefused);
    }, headerTimeout * 1000);
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('error', onGone);
  };
}

function refuse(socket: Socket, peer: { address: string; port: number }, reason: ProxyRefusal, error: ProxyProtocolError, onRefused: ProxyGateOptions['onRefused']): void {
  // RST: the peer learns at once and no TIME_WAIT is left here.
  socket.resetAndDestroy();
  onRefused(peer, reason, error);
}
