import type { AddressInfo } from 'node:net';
import type { CloseReason } from '../callbacks.js';
import type { Connection } from '../net/connection.js';
import { NetServer } from './net-server.js';
import type { ServerOptions } from './options.js';

/** What the default application puts in front of every reply. */
export const REPLY_PREFIX = '[Server Reply]: ';
const REPLY_PREFIX_BYTES = Buffer.from(REPLY_PREFIX);

/**
 * The application base class, the seed's ReactorServer. Override the methods you need; the
 * default answers every message with `"[Server Reply]: " + message`, byte for byte.
 *
 * ```ts
 * class Upper extends ReactorServer {
 *   protected override processMessage(conn: Connection, msg: Buffer) {
 *     conn.send(msg.toString().toUpperCase());
 *   }
 * }
 * await new Upper({ port: 9000 }).start();
 * ```
 */
export class ReactorServer<T = unknown> {
  readonly server: NetServer<T>;

  constructor(options: Partial<ServerOptions> = {}) {
    this.server = new NetServer<T>(options);
    this.server.setCallbacks({
      onConnection: (conn) => this.onConnection(conn),
      onMessage: (conn, message) => this.processMessage(conn, message),
      onClose: (conn, reason) => this.onClose(conn, reason),
      onError: (conn, error) => this.onError(conn, error),
      onTimeout: (conn, idleMs) => this.onTimeout(conn, idleMs),
    });
    // A per-connection write callback costs memory and time: only wire it when overridden.
    if (this.onSendComplete !== ReactorServer.prototype.onSendComplete) {
      this.server.setCallbacks({ onSendComplete: (conn) => this.onSendComplete(conn) });
    }
  }

  /** Starts listening; resolves with the bound address. */
  start(): Promise<AddressInfo> {
    return this.server.start();
  }

  /** Closes the listener and every connection; resolves when all are closed. */
  stop(): Promise<void> {
    return this.server.stop();
  }

  /** A connection was accepted. */
  protected onConnection(_conn: Connection<T>): void {}

  /** One inbound message. Default: reply `"[Server Reply]: " + message`. */
  protected processMessage(conn: Connection<T>, message: Buffer): void | Promise<void> {
    conn.send([REPLY_PREFIX_BYTES, message]);
  }

  /** Everything sent so far has been handed to the kernel. */
  protected onSendComplete(_conn: Connection<T>): void {}

  /** A connection closed; called once per connection. */
  protected onClose(_conn: Connection<T>, _reason: CloseReason): void {}

  /** A socket, protocol or handler error on a connection; `onClose` follows. */
  protected onError(_conn: Connection<T>, _error: Error): void {}

  /** A connection is being closed for idleness; `onClose` follows. */
  protected onTimeout(_conn: Connection<T>, _idleMs: number): void {}
}
