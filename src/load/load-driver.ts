import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { clientTls, handshakeError, openSocket, type ClientTls, type ClientTlsOptions } from '../client/client-tls.js';
import { proxyPrelude } from '../client/proxy-prelude.js';
import type { ProxyHeaderInit } from '../proxy/proxy-header-encoder.js';
import { ClientWireFormat } from '../client/wire-format.js';
import { lazyModule } from '../core/lazy-module.js';
import type { Decoder, MessageSink } from '../net/codec.js';
import { ConnectionClosedError } from '../core/errors.js';
import { formatHostPort } from '../core/host-port.js';
import type { ByteOrder } from '../net/length-codec.js';
import type { CodecName } from '../server/options.js';
import { summarizeLatency, type LatencySummary } from './latency.js';

export type { LatencySummary } from './latency.js';

const hdr = lazyModule<typeof import('hdr-histogram-js')>('hdr-histogram-js');

export type BenchMode = 'pingpong' | 'connect' | 'hold';

export interface BenchOptions {
  host: string;
  port: number;
  /** Concurrent connections (ping-pong, hold) or concurrent sessions (connect). */
  connections: number;
  /** Seconds of load. */
  duration: number;
  /** Request payload size in bytes. */
  size: number;
  mode: BenchMode;
  codec: CodecName;
  /** Byte order of the `length` codec's headers. Default `little`. */
  byteOrder?: ByteOrder;
  /** Largest reply accepted, in bytes; a bigger one fails its connection. Default 16 MiB. */
  maxMessageBytes?: number;
  /** What the server puts in front of each reply; null skips verification. */
  expectPrefix: string | null;
  /** Speak TLS on every connection (`true`: verify against the system's CAs). Default: none. */
  tls?: boolean | ClientTlsOptions;
  /** Start every connection with this PROXY header (before TLS), as a proxy would. */
  proxyHeader?: ProxyHeaderInit;
  /** Called about four times a second with seconds elapsed and replies so far. */
  onProgress?: (elapsed: number, replies: number) => void;
}

export interface BenchResult {
  mode: BenchMode;
  /** Every connection spoke TLS (connect mode: every session made a full handshake). */
  tls: boolean;
  connections: number;
  seconds: number;
  /** Replies received and verified. */
  replies: number;
  repliesPerSecond: number;
  /** Completed connect-send-receive-close sessions (connect mode). */
  sessions: number;
  sessionsPerSecond: number;
  /** Connections that had their round trip and were still open at the end (hold mode). */
  held: number;
  /** Connections that failed or closed early. */
  errors: number;
  /**
   * The errors by code: the socket's (`ECONNRESET`, `ECONNREFUSED`, ...), the wire format's
   * (`ERR_FRAME_TOO_LARGE`, `ERR_LINE_TOO_LONG`), or `ERR_CONNECTION_CLOSED` for a connection
   * the server closed without an error.
   */
  errorsByCode: Record<string, number>;
  /** Replies that did not match what was sent. */
  wrongReplies: number;
  /** Reply latency in microseconds (sessions in connect mode). */
  latencyUs: LatencySummary;
}

/** How long the connection attempt before the load may take. */
const PROBE_TIMEOUT_MS = 5000;
/** The code of a connection the server closed without an error. */
const CLOSED = ConnectionClosedError.code;

/**
 * Drives a server speaking the seed, length or line protocol and measures it: one request in
 * flight per connection, every reply checked byte for byte. Requests are built once; replies
 * are parsed in place, so the driver stays light next to the server it measures. One
 * connection attempt comes first, so that a target that cannot be reached fails at once.
 * With TLS every connection makes its own full handshake (connect mode measures whole TLS
 * sessions) and the first attempt includes one, so a server that does not verify fails at once.
 * @rejects ConnectionClosedError "cannot reach HOST:PORT: CODE" when that attempt fails
 * @rejects TlsHandshakeError when its handshake fails
 * @throws InvalidOptionError for bad `tls` options
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const run = new BenchRun(options);
  return run.execute();
}

class BenchRun {
  private readonly wire: ClientWireFormat;
  private readonly tls: ClientTls | null;
  /** The PROXY header every connection starts with, or undefined. */
  private readonly prelude: Buffer | undefined;
  private readonly request: Uint8Array | string;
  private readonly expected: Buffer;
  private readonly histogram = hdr().build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  private replies = 0;
  private sessions = 0;
  private errors = 0;
  private readonly errorsByCode = new Map<string, number>();
  private wrong = 0;
  private deadline = 0;
  private readonly open = new Set<net.Socket>();
  /** Hold mode: connections that had their round trip. */
  private readonly holding = new Set<net.Socket>();
  private running = true;

  constructor(private readonly options: BenchOptions) {
    const body = Buffer.alloc(options.size);
    for (let i = 0; i < body.length; i++) body[i] = 0x61 + (i % 26);
    this.tls = clientTls(options.tls);
    this.prelude = options.proxyHeader === undefined ? undefined : proxyPrelude(options.proxyHeader, options.host, options.port);
    this.wire = new ClientWireFormat(options.codec, options.byteOrder, options.maxMessageBytes);
    this.request = this.wire.frame(body);
    this.expected = Buffer.concat([Buffer.from(options.expectPrefix ?? ''), body]);
  }

  async execute(): Promise<BenchResult> {
    await this.probe();
    const started = performance.now();
    this.deadline = started + this.options.duration * 1000;
    const progress = this.options.onProgress === undefined ? null : setInterval(() => this.options.onProgress?.((performance.now() - started) / 1000, this.replies), 250);
    const workers = Array.from({ length: this.options.connections }, () => (this.options.mode === 'connect' ? this.sessionLoop() : this.connection()));
    // Every mode ends with the duration: a hold whose replies never come must end too.
    await new Promise((resolve) => setTimeout(resolve, this.options.duration * 1000));
    this.running = false;
    const held = this.holding.size;
    for (const socket of this.open) socket.destroy();
    await Promise.allSettled(workers);
    if (progress !== null) clearInterval(progress);
    const seconds = (performance.now() - started) / 1000;
    return {
      mode: this.options.mode,
      tls: this.tls !== null,
      connections: this.options.connections,
      seconds,
      replies: this.replies,
      repliesPerSecond: this.replies / seconds,
      sessions: this.sessions,
      sessionsPerSecond: this.sessions / seconds,
      held: this.options.mode === 'hold' ? held : 0,
      errors: this.errors,
      errorsByCode: Object.fromEntries(this.errorsByCode),
      wrongReplies: this.wrong,
      latencyUs: summarizeLatency(this.histogram),
    };
  }

  /** One connection attempt (TLS: with its handshake), closed at once. */
  private probe(): Promise<void> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      const { socket, tcp, ready } = openSocket(host, port, this.tls, this.prelude);
      let connected = false;
      tcp.once('connect', () => (connected = true));
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`no connection within ${PROBE_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })), PROBE_TIMEOUT_MS);
      socket.once(ready, () => {
        clearTimeout(timer);
        socket.destroy();
        resolve();
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        if (this.tls !== null && connected && errorCode(error) !== 'ETIMEDOUT') reject(handshakeError(host, port, error));
        else reject(new ConnectionClosedError(`cannot reach ${formatHostPort(host, port)}: ${errorCode(error)}`, { cause: error }));
      });
    });
  }

  /** Ping-pong (or hold: one round trip, then stay open). Resolves when the connection ends. */
  private connection(): Promise<void> {
    return new Promise((resolve) => {
      const { socket, ready } = openSocket(this.options.host, this.options.port, this.tls, this.prelude);
      this.open.add(socket);
      let sentAt = 0;
      const send = (): void => {
        sentAt = performance.now();
        socket.write(this.request);
      };
      const reader = this.replyReader(socket, (reply) => {
        this.record(sentAt, reply);
        if (this.options.mode === 'hold') {
          this.holding.add(socket);
        } else if (this.running && performance.now() < this.deadline) {
          send();
        }
      });
      let failure: string | null = null;
      socket.once(ready, send);
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      socket.on('error', (error) => (failure ??= errorCode(error)));
      socket.once('close', () => {
        if (this.running) this.countError(failure ?? CLOSED);
        this.open.delete(socket);
        this.holding.delete(socket);
        resolve();
      });
    });
  }

  /** Connect, send, receive, close, again, until the deadline. */
  private async sessionLoop(): Promise<void> {
    while (this.running && performance.now() < this.deadline) {
      const failure = await this.session();
      if (failure !== null) this.countError(failure);
    }
  }

  /** One session; resolves with the code it failed with, or null. */
  private session(): Promise<string | null> {
    return new Promise((resolve) => {
      const started = performance.now();
      const { socket, ready } = openSocket(this.options.host, this.options.port, this.tls, this.prelude);
      this.open.add(socket);
      let done = false;
      const reader = this.replyReader(socket, (reply) => {
        if (done) return;
        done = true;
        this.record(started, reply);
        this.sessions++;
        socket.destroy();
      });
      let failure: string | null = null;
      socket.once(ready, () => socket.write(this.request));
      socket.on('data', (chunk: Buffer) => reader.push(chunk));
      socket.on('error', (error) => (failure ??= errorCode(error)));
      socket.once('close', () => {
        this.open.delete(socket);
        resolve(done || !this.running ? null : (failure ?? CLOSED));
      });
    });
  }

  /** Reads `socket`'s replies; a reply stream the wire format cannot parse fails the socket. */
  private replyReader(socket: net.Socket, onReply: (reply: Buffer) => void): ReplyReader {
    return new ReplyReader(this.wire, this.options.expectPrefix, this.options.size, onReply, (error) => socket.destroy(error));
  }

  private countError(code: string): void {
    this.errors++;
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
  }

  private record(sentAt: number, reply: Buffer): void {
    this.replies++;
    this.histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
    if (this.options.expectPrefix !== null && !reply.equals(this.expected)) this.wrong++;
  }
}

/** A failure's code: the socket's or ours, else the error's name. */
function errorCode(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error.name;
}

/**
 * Collects replies with the wire format's own decoder. With the seed codec a request the server
 * happened to read in pieces comes back as several frames, each with the prefix, which are
 * joined (prefix once) before comparing.
 */
class ReplyReader implements MessageSink {
  private readonly decoder: Decoder;
  private readonly joinFrames: boolean;
  private readonly prefixBytes: number;
  private readonly parts: Buffer[] = [];
  private bodyBytes = 0;

  constructor(
    wire: ClientWireFormat,
    prefix: string | null,
    /** How many body bytes a whole seed reply carries: the request's size. */
    private readonly expectedBodyBytes: number,
    private readonly onReply: (reply: Buffer) => void,
    readonly fail: (error: Error) => void,
  ) {
    this.decoder = wire.replyCodec.createDecoder();
    this.joinFrames = wire.codec === 'seed' && prefix !== null;
    this.prefixBytes = Buffer.byteLength(prefix ?? '');
  }

  /** Feeds bytes read from the socket. */
  push(chunk: Buffer): void {
    this.decoder.decode(chunk, this);
  }

  /** One frame or line from the decoder. */
  deliver(frame: Buffer): void {
    if (!this.joinFrames) {
      this.onReply(frame);
      return;
    }
    this.parts.push(this.parts.length === 0 ? frame : frame.subarray(this.prefixBytes));
    this.bodyBytes += frame.length - this.prefixBytes;
    if (this.bodyBytes < this.expectedBodyBytes) return;
    const reply = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts.length = 0;
    this.bodyBytes = 0;
    this.onReply(reply);
  }
}
