/**
 * Every callback type in one place, named for the moment it fires (the seed's callbacks.h).
 * All are optional; a server without `onMessage` simply reads and discards.
 */
import type { Connection } from './net/connection.js';

/** Why a connection closed. Passed to `onClose`. */
export type CloseReason =
  /** The peer closed its side (FIN); pending replies were flushed first. */
  | 'peer-closed'
  /** The application called `close()` or `closeAfterWrite()`. */
  | 'closed'
  /** No traffic for longer than the idle timeout. */
  | 'idle-timeout'
  /** A socket error, a protocol error or a throwing handler; `onError` saw it first. */
  | 'error'
  /** The server is stopping. */
  | 'server-stop';

/** A new connection was accepted and registered. */
export type ConnectionCallback<T = unknown> = (conn: Connection<T>) => void;
/**
 * One inbound message. A returned promise (any thenable) is work in flight for the connection:
 * a half-closed peer still gets its replies, and a rejection counts as a throwing handler.
 * Any other return value is ignored, so `(conn, msg) => conn.send(msg)` is fine.
 */
export type MessageCallback<T = unknown> = (conn: Connection<T>, message: Buffer) => unknown;
/** Everything sent so far has been handed to the kernel (the seed's send-complete). */
export type SendCompleteCallback<T = unknown> = (conn: Connection<T>) => void;
/** The connection is gone; called exactly once per connection. */
export type CloseCallback<T = unknown> = (conn: Connection<T>, reason: CloseReason) => void;
/** Something went wrong on this connection; `onClose` follows. */
export type ErrorCallback<T = unknown> = (conn: Connection<T>, error: Error) => void;
/** The idle sweep is about to close this connection (the seed's timer callback); `onClose` follows. */
export type TimeoutCallback<T = unknown> = (conn: Connection<T>, idleMs: number) => void;
/** Pending output passed the high-water mark: reading from this connection pauses until it drains. */
export type HighWaterCallback<T = unknown> = (conn: Connection<T>, pendingBytes: number) => void;
/**
 * Why a new connection was turned away: `max-connections` (the reactor's limit), `fd-limit` (the
 * process is out of file descriptors, see DescriptorLimitError); admission control's: `deny`
 * (the client's address is in `deny`), `allow` (it is not in `allow`), `per-ip` (it holds
 * `maxConnectionsPerIp` already), `rate` (it used up `connectRatePerIp`, or the table of
 * tracked addresses had no room for it); the PROXY protocol's: `proxy-untrusted` (a peer outside
 * `trustedProxies` connected where a header is required, or sent one), `proxy-invalid` (a
 * trusted proxy's header was malformed or late; see ProxyProtocolError).
 */
export type RejectReason = 'max-connections' | 'fd-limit' | 'deny' | 'allow' | 'per-ip' | 'rate' | 'proxy-untrusted' | 'proxy-invalid';
/**
 * A new connection was closed at accept. `peer` is the client's address when known (after a
 * PROXY header), else the socket's; `error` says what was wrong for the `proxy-*` reasons.
 */
export type RejectCallback = (peer: { address: string; port: number }, reason: RejectReason, error?: Error) => void;
/**
 * The listener has a problem; the server keeps accepting. Out of file descriptors, it is a
 * DescriptorLimitError (code EMFILE), at most once a second while connections are refused.
 */
export type ListenerErrorCallback = (error: Error) => void;

/** The callback set of a server (the seed's NetSrvCallbacks). */
export interface ServerCallbacks<T = unknown> {
  onConnection?: ConnectionCallback<T>;
  onMessage?: MessageCallback<T>;
  onSendComplete?: SendCompleteCallback<T>;
  onClose?: CloseCallback<T>;
  onError?: ErrorCallback<T>;
  onTimeout?: TimeoutCallback<T>;
  onHighWater?: HighWaterCallback<T>;
  onConnectionRejected?: RejectCallback;
  onListenerError?: ListenerErrorCallback;
}
