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

/** How the PROXY stage ended for one socket: served (as `peer`, with the bytes after the header), or refused (already counted and reported). */
export type ProxyStageOutcome = { readonly peer: AcceptedPeer; readonly rest: Buffer } | null;

/** One socket's PROXY stage, fed the socket's bytes by whichever transport owns it. */
export interface ProxyStage {
  /** Bytes arrived; the stage may end (its `done` is called) before this returns. */
  push(chunk: Buffer): void;
  /** The socket closed, half-closed or failed before the stage ended: nothing to serve, nobody to tell. */
  gone(): void;
}

/**
 * Starts the PROXY stage for a socket from `socket` (its own peer address): `done` is called
 * once, with the client and the bytes after the header (the application's first, possibly
 * none) which must be delivered ahead of anything the socket reads next, or with null when the
 * socket is refused (the caller resets it; the refusal is already counted). Returns null when
 * the peer is refused before reading anything (`done` is not called then either: reset it).
 * Socket-agnostic: the node:net and Bun transports feed it from their own read events.
 */
export function startProxyStage(options: ProxyGateOptions, socket: { address: string; port: number }, done: (outcome: ProxyStageOutcome) => void): ProxyStage | null {
  const { mode, trusted, headerTimeout, onRefused } = options;
  const peer = { address: socket.address, port: socket.port };
  const fromProxy = trusted.contains(peer.address);
  if (!fromProxy && mode === 'required') {
    onRefused(peer, 'proxy-untrusted', new ProxyProtocolError('untrusted', `${peer.address} is not a trusted proxy`));
    return null;
  }
  let ended = false;
  const end = (outcome: ProxyStageOutcome): void => {
    ended = true;
    clearTimeout(timer);
    done(outcome);
  };
  const refuse = (reason: ProxyRefusal, error: ProxyProtocolError): void => {
    end(null);
    onRefused(peer, reason, error);
  };
  /** The bytes of a header begun and not finished (or, from a stranger, of a first chunk too short to judge). */
  let held: Buffer | null = null;
  const timer = setTimeout(() => {
    if (ended) return;
    const what = fromProxy ? 'a complete header' : 'its first bytes';
    refuse('proxy-invalid', new ProxyProtocolError('timeout', `${peer.address} sent no ${what} within ${headerTimeout} s`));
  }, headerTimeout * 1000);
  const parseOptions = { maxHeaderBytes: options.maxHeaderBytes };
  return {
    push(chunk) {
      if (ended) return;
      const data = held === null ? chunk : Buffer.concat([held, chunk]);
      held = null;
      const seen = detectProxyHeader(data);
      if (seen === 'incomplete') {
        // A copy: a chunk may be a slice of a larger buffer the stream reuses.
        held = data === chunk ? Buffer.from(chunk) : data;
        return;
      }
      if (seen === 'none' && mode === 'optional') {
        // No header: served as itself, whoever it is.
        end({ peer: { ...peer, proxy: null }, rest: data });
        return;
      }
      if (!fromProxy) {
        // Optional mode, a peer that is not a proxy sending a header: never believed.
        refuse('proxy-untrusted', new ProxyProtocolError('untrusted', `a ${seen} header from ${peer.address}, which is not a trusted proxy`, seen === 'v1' ? 1 : 2));
        return;
      }
      const result = parseProxyHeader(data, parseOptions);
      if (result.status === 'incomplete') {
        held = data === chunk ? Buffer.from(chunk) : data;
        return;
      }
      if (result.status === 'invalid') {
        refuse('proxy-invalid', result.error);
        return;
      }
      const { header } = result;
      // LOCAL (the proxy's own health check) and UNSPEC carry no client: the socket's peer is it.
      const client = header.command === 'proxy' ? header.source : undefined;
      const accepted: AcceptedPeer = client === undefined ? { ...peer, proxy: null } : { address: client.address, port: client.port, proxy: { ...peer, header } };
      end({ peer: accepted, rest: data.subarray(result.consumed) });
    },
    gone() {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
    },
  };
}

/**
 * Runs the PROXY stage on each accepted node:net socket: `pass` gets the ones that clear it,
 * with the client and the bytes that came after the header (the application's first, possibly
 * none), which `pass` must deliver ahead of anything the socket reads next.
 */
export type ProxyGate = (socket: Socket, pass: (socket: Socket, peer: AcceptedPeer, rest: Buffer) => void) => void;

export function createProxyGate(options: ProxyGateOptions): ProxyGate {
  return (socket, pass) => {
    const stage = startProxyStage(options, { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }, (outcome) => {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
      // RST for a refusal: the peer learns at once and no TIME_WAIT is left here.
      if (outcome === null) socket.resetAndDestroy();
      else pass(socket, outcome.peer, outcome.rest);
    });
    if (stage === null) {
      socket.resetAndDestroy();
      return;
    }
    const onData = (chunk: Buffer): void => stage.push(chunk);
    const onGone = (): void => {
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
      stage.gone();
      socket.destroy();
    };
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('error', onGone);
  };
}
