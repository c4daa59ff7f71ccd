import { ByteBuffer } from '../core/byte-buffer.js';
import type { LoopStats } from '../core/loop-stats.js';
import type { ActivityClock } from '../core/activity-clock.js';
import type { CloseReason, ServerCallbacks } from '../callbacks.js';
import type { Codec, Decoder, MessageSink, Payload } from './codec.js';
import { OutputOverflowError } from '../core/errors.js';
import { formatConnectionId } from '../core/connection-id.js';
import { callHandler, isThenable, settleHandler } from './handler-call.js';
import type { InputBudget, InputClaim } from './input-budget.js';
import type { TlsInfo, TransportDriver, TransportSink } from '../transport/transport.js';
import type { ProxyInfo } from '../transport/proxy-gate.js';
import { MessageShaper, type ShapedConnection } from './message-shaper.js';

/** What a connection needs from the loop that owns it. */
export interface ConnectionHost<T> {
  readonly callbacks: ServerCallbacks<T>;
  readonly codec: Codec;
  readonly stats: LoopStats;
  /** Stamps traffic for the idle sweep. */
  readonly clock: ActivityClock;
  /** Drives the connection's socket (shared by every connection of the host). */
  readonly transport: TransportDriver;
  /** What the loop's connections may hold together of unfinished input (`maxBufferedInput`). */
  readonly inputBudget: InputBudget<Connection<T>>;
  /** An empty output buffer a connection handed back after flushing, for the next to use. */
  spareOutput: ByteBuffer | null;
  /**
   * Backpressure limits, in bytes of pending output; and the most messages a second each
   * connection delivers (0 or absent: no limit).
   */
  /** Replaced as a whole when the server is reconfigured: read it per use, never keep it. */
  options: Readonly<{ highWaterMark: number; lowWaterMark: number; maxPendingOutput: number; maxMessagesPerSecond?: number }>;
  /** Called once, when the socket is fully closed. */
  connectionClosed(conn: Connection<T>, reason: CloseReason): void;
  /** Called at most once per connection, with the first error it met. */
  connectionError(conn: Connection<T>, error: Error): void;
  /** This instance's id, the first part of every `globalId`. */
  readonly instanceId: string;
  /** Adds `conn` to `topic`'s members; false when it already was one or is not open. */
  joinTopic(conn: Connection<T>, topic: string): boolean;
  /** Removes `conn` from `topic`'s members; false when it was none. */
  leaveTopic(conn: Connection<T>, topic: string): boolean;
  /** The topics `conn` is a member of. */
  topicsOf(conn: Connection<T>): ReadonlySet<string>;
}

/** Lifecycle: open -> closing (flushing or destroying) -> closed. Never backwards. */
export type ConnectionState = 'open' | 'closing' | 'closed';

const DISPATCHING = 1 << 0; // inside a read callback: sends are flushed when it returns
const FLUSH_SCHEDULED = 1 << 1; // a flush is queued for the end of this tick
const AWAITING_DRAIN = 1 << 2; // the transport is backed up: keep coalescing until it is writable
const ERROR_REPORTED = 1 << 3; // onError fires at most once per connection
const PEER_ENDED = 1 << 4; // the peer half-closed while work was in flight: close when it settles
const ENDING = 1 << 5; // closeAfterWrite: send FIN once the output is flushed
const DESTROYED = 1 << 6; // close() destroyed the socket: the close reason is settled
const READ_PAUSED = 1 << 7; // pending output passed the high-water mark: not reading until it drains
const READ_ENDED = 1 << 8; // the peer's FIN was read: nothing more can arrive
const WRITABLE_LISTENED = 1 << 9; // the transport was asked for 'writable' (on the first backed-up write)
const READ_THROTTLED = 1 << 10; // over maxMessagesPerSecond: not reading until the held messages are delivered

/**
 * The largest piece handed to the transport at once. A bigger output goes a piece per 'writable',
 * so a slow but steady reader shows progress to the idle sweep (and no giant write is queued).
 */
const MAX_WRITE_BYTES = 256 * 1024;

/**
 * One accepted TCP connection: the seed's ConnectionHandler, Channel and SocketHandler in one.
 *
 * Reads are delivered through the codec to `onMessage`. `send()` frames a payload into the
 * output buffer; everything sent during one read callback (or one tick) leaves in a single
 * socket write. The socket is closed exactly once, whichever path closes it, and `onClose`
 * fires exactly once after it.
 *
 * Thread affinity: a connection belongs to the event loop that accepted it. Other threads
 * reach it through that loop's Dispatcher.
 */
/** Proxy details of proxied connections, kept aside: a direct connection carries no field for them. */
const proxyOf = new WeakMap<object, ProxyInfo>();

export class Connection<T = unknown> implements MessageSink, TransportSink, ShapedConnection {
  /** A slot for the application's per-connection state. */
  userData: T | undefined = undefined;
  /**
   * When traffic last went either way, on the `performance.now()` clock (ms): read from the
   * loop's ActivityClock, so rounded up by up to 1.5 clock resolutions (see ActivityClock).
   */
  lastActiveAt = 0;
  /** The client's IP address (the socket's peer unless the server was told otherwise), kept after the close. */
  readonly remoteAddress: string;
  /** The client's port. */
  readonly remotePort: number;

  private stateValue: ConnectionState = 'open';
  private flags = 0;
  private closeReason: CloseReason | null = null;
  private output: ByteBuffer | null = null;
  /** The unwritten rest of an output larger than MAX_WRITE_BYTES; written before `output`. */
  private spill: Buffer | null = null;
  private inFlight = 0;
  private readonly decoder: Decoder;
  /** This connection's entry in the loop's input budget; made on its first unfinished message. */
  private inputClaim: InputClaim<Connection<T>> | null = null;
  /** Write callback; only servers that listen for send-complete get one (it costs a closure). */
  private readonly afterWrite: (() => void) | undefined;
  /** Between the decoder and this connection when messages per second are capped; else null. */
  private readonly shaper: MessageShaper | null;

  /**
   * @param id unique within the server
   * @param rawSocket the accepted socket, of the host's transport; the connection takes it over
   * @param host the loop that owns the connection
   * @param peer the client's address and port; default: the socket's peer
   */
  constructor(
    readonly id: number,
    /**
     * The transport's own socket: a `net.Socket` with the node:net transport. An escape hatch
     * for what the connection does not offer (socket options, TLS details): reading, writing,
     * pausing or closing it directly bypasses framing, backpressure accounting and the close
     * bookkeeping.
     */
    readonly rawSocket: unknown,
    private readonly host: ConnectionHost<T>,
    /** Who the client is when the PROXY stage said so; else the socket's peer. */
    peer?: { readonly address: string; readonly port: number; readonly proxy?: ProxyInfo | null },
  ) {
    const transport = host.transport;
    if (peer === undefined) {
      this.remoteAddress = transport.remoteAddress(rawSocket);
      this.remotePort = transport.remotePort(rawSocket);
    } else {
      this.remoteAddress = peer.address;
      this.remotePort = peer.port;
      if (peer.proxy !== undefined && peer.proxy !== null) proxyOf.set(this, peer.proxy);
    }
    this.lastActiveAt = host.clock.now;
    this.decoder = host.codec.createDecoder();
    const perSecond = host.options.maxMessagesPerSecond ?? 0;
    this.shaper = perSecond > 0 ? new MessageShaper(this, perSecond) : null;
    // Only servers that listen for send-complete pay for a per-connection flush callback.
    this.afterWrite = host.callbacks.onSendComplete === undefined ? undefined : () => this.checkSendComplete();
    transport.attach(rawSocket, this);
  }

  /**
   * @deprecated the transport's socket is `rawSocket` (a `net.Socket` with the node:net
   * transport); this alias stays for code written before transports.
   */
  get socket(): import('node:net').Socket {
    return this.rawSocket as import('node:net').Socket;
  }

  /**
   * The proxy in front, when a PROXY header named this connection's client (then
   * `remoteAddress` is the client's): the proxy's own address and port, and the header with its
   * TLVs. Null for a direct connection (or a proxy's LOCAL health check).
   */
  get proxy(): ProxyInfo | null {
    return proxyOf.get(this) ?? null;
  }

  /** What the TLS handshake settled (protocol, cipher, ALPN, server name, client certificate); null without TLS. */
  get tls(): TlsInfo | null {
    return this.host.transport.tlsInfo?.(this.rawSocket) ?? null;
  }

  /**
   * This connection's id across every reactor and instance: `INSTANCE:ID`, the server's
   * `instanceId` and `id`. What `server.sendTo()` takes, from any instance.
   */
  get globalId(): string {
    return formatConnectionId(this.host.instanceId, this.id);
  }

  /**
   * Makes this connection a member of `topic`: `server.publish(topic, ...)` on any reactor of
   * any instance reaches it, until `leave(topic)` or its close.
   * @returns false when it already was a member, or is no longer open
   * @throws InvalidOptionError (option `topic`) for an empty topic or one over 1024 characters
   */
  join(topic: string): boolean {
    return this.host.joinTopic(this, topic);
  }

  /**
   * Ends this connection's membership of `topic`.
   * @returns false when it was no member
   */
  leave(topic: string): boolean {
    return this.host.leaveTopic(this, topic);
  }

  /** The topics this connection is a member of (empty once it has closed). */
  get topics(): ReadonlySet<string> {
    return this.host.topicsOf(this);
  }

  /** `open` until a close starts, `closing` while it completes, then `closed`. */
  get state(): ConnectionState {
    return this.stateValue;
  }

  /** True while `send()` is accepted. */
  get isOpen(): boolean {
    return this.stateValue === 'open';
  }

  /** Bytes sent but not yet handed to the kernel (ours plus the socket's own queue). */
  get pendingOutputBytes(): number {
    return (this.output === null ? 0 : this.output.length) + (this.spill === null ? 0 : this.spill.length) + this.host.transport.queuedBytes(this.rawSocket);
  }

  /**
   * Bytes read and not yet delivered: what the decoder holds waiting for the rest of a message,
   * and messages waiting for their turn under `maxMessagesPerSecond`.
   */
  get pendingInputBytes(): number {
    return this.decoder.bufferedBytes + (this.shaper === null ? 0 : this.shaper.bufferedBytes);
  }

  /** True while reading is paused because the peer is not keeping up with our output. */
  get isReadPaused(): boolean {
    return (this.flags & READ_PAUSED) !== 0;
  }

  /**
   * Open with nothing left to do: no partial input, no work in flight, no output pending.
   * A draining server closes a connection once it stays quiescent across a read.
   */
  get isQuiescent(): boolean {
    return this.stateValue === 'open' && this.inFlight === 0 && this.pendingInputBytes === 0 && this.pendingOutputBytes === 0;
  }

  /**
   * Frames `payload` with the server's codec and queues it. Sends made during one read
   * callback, or one tick, leave together in one socket write.
   * @returns false when the connection is no longer open (the payload is dropped)
   * @throws RangeError when the payload cannot be framed (over 4 GiB for a 4-byte length)
   */
  send(payload: Payload): boolean {
    if (this.stateValue !== 'open') return false;
    let output = this.output;
    if (output === null) {
      // An emptied output goes back to the loop: idle connections hold none, busy ones share.
      output = this.host.spareOutput ?? new ByteBuffer(0, 0);
      this.host.spareOutput = null;
      this.output = output;
    }
    this.host.codec.encode(payload, output);
    this.host.stats.messagesOut++;
    const pending = this.pendingOutputBytes;
    if (pending > this.host.options.maxPendingOutput) {
      this.fail(new OutputOverflowError(pending, this.host.options.maxPendingOutput));
      return false;
    }
    // Inside a read callback the read was stamped; outside it, this send is the traffic.
    if ((this.flags & DISPATCHING) === 0) {
      this.lastActiveAt = this.host.clock.refresh();
      if ((this.flags & FLUSH_SCHEDULED) === 0) {
        this.flags |= FLUSH_SCHEDULED;
        process.nextTick(flushScheduled, this);
      }
    }
    return true;
  }

  /** Closes now; output not yet written is discarded. Idempotent. */
  close(reason: CloseReason = 'closed'): void {
    // Already destroyed (by us, or by a socket error whose reason stands): nothing to do.
    if (this.stateValue === 'closed' || (this.flags & DESTROYED) !== 0 || this.host.transport.isClosed(this.rawSocket)) return;
    this.stateValue = 'closing';
    // Overrides the reason of a graceful close still in progress: this is what ends it.
    this.closeReason = reason;
    this.flags |= DESTROYED;
    this.output = null;
    this.spill = null;
    // Nothing more is read: its unfinished input is dropped with it, and no longer counts.
    if (this.inputClaim !== null) this.host.inputBudget.set(this.inputClaim, 0);
    this.host.transport.close(this.rawSocket);
  }

  /** Stops accepting sends, flushes what is queued, then closes. Idempotent. */
  closeAfterWrite(reason: CloseReason = 'closed'): void {
    if (this.stateValue !== 'open') return;
    this.stateValue = 'closing';
    this.closeReason = reason;
    this.flags |= ENDING;
    this.flush();
  }

  /**
   * Notes work in flight that will still send on this connection (a task on another thread,
   * say). A peer that half-closes meanwhile gets its replies: the close waits until every
   * `retain()` is matched by a `release()`. A handler's returned promise is retained for you.
   */
  retain(): void {
    this.inFlight++;
  }

  /** Ends one `retain()`. */
  release(): void {
    if (this.inFlight === 0) throw new RangeError('release() without a matching retain()');
    this.inFlight--;
    if (this.inFlight === 0 && (this.flags & PEER_ENDED) !== 0) this.closeAfterWrite('peer-closed');
  }

  /** Work retained and not yet released (see {@link retain}). */
  get inFlightWork(): number {
    return this.inFlight;
  }

  /** Reports `error` through `onError` (once per connection) and closes. */
  fail(error: Error): void {
    if (this.stateValue === 'closed') return;
    this.reportError(error);
    this.close('error');
  }

  /** @internal Called by the decoder for each complete message. */
  deliver(message: Buffer): void {
    if (this.stateValue !== 'open') return;
    this.host.stats.messagesIn++;
    const onMessage = this.host.callbacks.onMessage;
    if (onMessage === undefined) return;
    // A `void` callback may still return something (`(c, m) => c.send(m)` returns a boolean):
    // only a thenable means work in flight.
    const result = callHandler('onMessage', onMessage, this, message, Connection.failed);
    if (isThenable(result)) {
      this.retain();
      settleHandler('onMessage', result, this, Connection.failed, Connection.released);
    }
  }

  /** A handler's failure closes its connection. (Static: handed to callHandler, no closure per call.) */
  private static failed<U>(conn: Connection<U>, error: Error): void {
    conn.fail(error);
  }

  /** A handler's failure that must not close the connection by itself is only reported. */
  private static reported<U>(conn: Connection<U>, error: Error): void {
    conn.reportError(error);
  }

  private static released<U>(conn: Connection<U>): void {
    conn.release();
  }

  /** @internal The idle sweep decided this connection has been silent too long. */
  expire(idleMs: number): void {
    if (this.stateValue === 'closed') return;
    this.host.stats.idleClosed++;
    const onTimeout = this.host.callbacks.onTimeout;
    if (onTimeout !== undefined) callHandler('onTimeout', onTimeout, this, idleMs, Connection.reported);
    this.close('idle-timeout');
  }

  /** @internal Runs the application's onConnection; a throw closes this connection. */
  opened(): void {
    const onConnection = this.host.callbacks.onConnection;
    if (onConnection !== undefined) callHandler('onConnection', onConnection, this, undefined, Connection.failed);
  }

  /** @internal TransportSink */
  handleData(chunk: Buffer): void {
    if (this.stateValue !== 'open') return;
    this.lastActiveAt = this.host.clock.now;
    this.host.stats.bytesIn += chunk.length;
    this.flags |= DISPATCHING;
    const decoder = this.decoder;
    try {
      decoder.decode(chunk, this.shaper ?? this);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    // A read of whole messages leaves 0 held, as before it: one comparison, nothing else.
    const held = decoder.retainedBytes ?? decoder.bufferedBytes;
    if (held !== (this.inputClaim === null ? 0 : this.inputClaim.bytes)) this.holdInput(held);
    this.flags &= ~DISPATCHING;
    this.flush();
  }

  /** Tells the budget what the decoder holds now; past the bound, it closes the largest holders (maybe this one). */
  private holdInput(bytes: number): void {
    const budget = this.host.inputBudget;
    this.inputClaim ??= budget.claim(this);
    budget.set(this.inputClaim, bytes);
  }

  /** @internal TransportSink */
  handlePeerEnd(): void {
    this.flags |= READ_ENDED;
    if (this.inFlight > 0) this.flags |= PEER_ENDED;
    else this.closeAfterWrite('peer-closed');
  }

  /** @internal TransportSink: the transport takes writes again. */
  handleWritable(): void {
    // The peer is reading: a slow transfer is traffic, not idleness.
    this.lastActiveAt = this.host.clock.refresh();
    this.flags &= ~AWAITING_DRAIN;
    this.flush();
    if ((this.flags & READ_PAUSED) !== 0 && this.pendingOutputBytes <= this.host.options.lowWaterMark && this.stateValue === 'open') {
      this.flags &= ~READ_PAUSED;
      if ((this.flags & READ_THROTTLED) === 0) this.host.transport.resume(this.rawSocket);
    }
  }

  /** @internal ShapedConnection: over the message budget, messages wait: stop reading, and stay open for them. */
  throttle(): void {
    if ((this.flags & READ_THROTTLED) !== 0) return;
    this.flags |= READ_THROTTLED;
    this.host.stats.messageRatePauses++;
    if ((this.flags & READ_PAUSED) === 0) this.host.transport.pause(this.rawSocket);
    // Held messages are work in flight: a peer that half-closes meanwhile still gets them handled.
    this.retain();
  }

  /** @internal ShapedConnection: the budget has refilled: deliver as a read would. */
  deliverHeld(): void {
    if (this.stateValue !== 'open' || this.shaper === null) return;
    // Handling held messages is activity, however long ago they were read.
    this.lastActiveAt = this.host.clock.refresh();
    this.flags |= DISPATCHING;
    try {
      this.shaper.release();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    }
    this.flags &= ~DISPATCHING;
    this.flush();
  }

  /** @internal ShapedConnection: every held message is delivered: read again. */
  unthrottle(): void {
    if ((this.flags & READ_THROTTLED) === 0) return;
    this.flags &= ~READ_THROTTLED;
    if ((this.flags & READ_PAUSED) === 0 && this.stateValue === 'open') this.host.transport.resume(this.rawSocket);
    this.release();
  }

  /** @internal TransportSink */
  handleError(error: Error): void {
    this.reportError(error);
    if ((this.flags & DESTROYED) === 0) this.closeReason = 'error';
  }

  /** @internal TransportSink */
  handleClosed(hadError: boolean): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.output = null;
    this.spill = null;
    this.shaper?.stop();
    if (this.inputClaim !== null) this.host.inputBudget.set(this.inputClaim, 0);
    const reason = this.closeReason ?? (hadError ? 'error' : 'peer-closed');
    this.closeReason = reason;
    this.host.connectionClosed(this, reason);
  }

  /**
   * @internal Writes queued output until the socket is backed up; once everything is out and
   * a graceful close was asked for, sends FIN.
   */
  flush(): void {
    this.flags &= ~FLUSH_SCHEDULED;
    const transport = this.host.transport;
    const socket = this.rawSocket;
    if (transport.isClosed(socket)) return;
    while ((this.flags & AWAITING_DRAIN) === 0) {
      const chunk = this.nextChunk();
      if (chunk === null) break;
      // Only the batch's last piece reports completion: send-complete fires once per batch.
      const taken = transport.write(socket, chunk, this.spill === null ? this.afterWrite : undefined);
      this.host.stats.bytesOut += taken;
      // A transport without a write buffer of its own takes what fits; the rest goes first next time.
      if (taken < chunk.length) this.spill = this.spill === null ? chunk.subarray(taken) : Buffer.concat([chunk.subarray(taken), this.spill]);
      if (taken < chunk.length || transport.isFull(socket)) {
        this.flags |= AWAITING_DRAIN;
        if ((this.flags & WRITABLE_LISTENED) === 0) {
          this.flags |= WRITABLE_LISTENED;
          transport.listenWritable(socket);
        }
        // A transfer big enough to back up starts now, however long the handler took to make it.
        this.lastActiveAt = this.host.clock.refresh();
      }
    }
    if ((this.flags & (AWAITING_DRAIN | READ_PAUSED)) === AWAITING_DRAIN) this.checkHighWater();
    if ((this.flags & ENDING) !== 0 && this.spill === null && (this.output === null || this.output.length === 0)) {
      this.flags &= ~ENDING;
      if ((this.flags & READ_ENDED) !== 0 && transport.queuedBytes(socket) === 0) {
        // The peer's FIN is read and every byte we wrote is in the kernel: close(2) sends
        // them, then our FIN, with no shutdown(2) and no loop turn waiting for 'finish'.
        // (Only after the peer's FIN: with unread input, close(2) would send a reset.)
        transport.close(socket);
      } else {
        transport.shutdown(socket);
      }
    }
  }

  /** The next piece to write, at most MAX_WRITE_BYTES; null when nothing is queued. */
  private nextChunk(): Buffer | null {
    let chunk = this.spill;
    this.spill = null;
    if (chunk === null) {
      if (this.output === null || this.output.length === 0) return null;
      // The storage goes to the socket with the write; the next send starts a fresh one.
      chunk = this.output.detach();
      this.host.spareOutput = this.output;
      this.output = null;
    }
    if (chunk.length > MAX_WRITE_BYTES) {
      this.spill = chunk.subarray(MAX_WRITE_BYTES);
      chunk = chunk.subarray(0, MAX_WRITE_BYTES);
    }
    return chunk;
  }

  /** Stops reading while the peer leaves more than the high-water mark unread. */
  private checkHighWater(): void {
    const pending = this.pendingOutputBytes;
    if (pending <= this.host.options.highWaterMark || this.stateValue !== 'open') return;
    this.flags |= READ_PAUSED;
    this.host.transport.pause(this.rawSocket);
    this.host.stats.backpressurePauses++;
    const onHighWater = this.host.callbacks.onHighWater;
    if (onHighWater !== undefined) callHandler('onHighWater', onHighWater, this, pending, Connection.failed);
  }

  private checkSendComplete(): void {
    if (this.stateValue !== 'open' || this.pendingOutputBytes !== 0) return;
    const onSendComplete = this.host.callbacks.onSendComplete;
    if (onSendComplete !== undefined) callHandler('onSendComplete', onSendComplete, this, undefined, Connection.failed);
  }

  private reportError(error: Error): void {
    if ((this.flags & ERROR_REPORTED) !== 0) return;
    this.flags |= ERROR_REPORTED;
    this.host.connectionError(this, error);
  }

}

function flushScheduled(conn: Connection<unknown>): void {
  conn.flush();
}
