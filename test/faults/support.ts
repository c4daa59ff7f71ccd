/**
 * Shared pieces for the fault-injection suite. No tests here, and no side effects on import
 * (the runner only loads *.test.js, but `node --test build/test/` would load this too).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ByteOrder, Connection, NetServer } from '../../src/index.js';
import { CLI_PATH } from '../helpers/server-process.js';
import { expectedReply, snapshotHandles, waitForHandles, waitUntil, type HandleSnapshot } from '../race/harness.js';

export { expectedReply, snapshotHandles, waitForHandles, waitUntil, type HandleSnapshot };
export { ConnectionLedger, HOOK_TIMEOUT_MS, PEER_GONE_CODES, WarningRecorder, releaseLeftoverSockets } from '../race/harness.js';

export type WireCodec = 'seed' | 'length' | 'line';

export interface Wire {
  codec: WireCodec;
  /** Header byte order of the `length` codec, both ways. Default little. */
  byteOrder?: ByteOrder;
}

/** How the client closed, as its socket saw it. */
export interface ClientClose {
  hadError: boolean;
  /** The server's FIN arrived ('end') before the close. */
  sawEnd: boolean;
  error: Error | null;
}

/** Frames `message` as a request on `wire`. */
export function frameRequest(wire: Wire, message: Buffer | string): Buffer {
  const body = Buffer.from(message);
  switch (wire.codec) {
    case 'seed':
      return body;
    case 'line':
      return Buffer.concat([body, Buffer.from('\n')]);
    case 'length':
      return Buffer.concat([lengthHeader(body.length, wire.byteOrder ?? 'little'), body]);
  }
}

export function lengthHeader(length: number, byteOrder: ByteOrder = 'little'): Buffer {
  const header = Buffer.alloc(4);
  if (byteOrder === 'little') header.writeUInt32LE(length);
  else header.writeUInt32BE(length);
  return header;
}

/**
 * A client for any of the three codecs: requests framed for the wire, replies split back into
 * messages (seed and length: 4-byte length + body; line: up to '\n') and queued for `read()`.
 */
export class WireClient {
  readonly closed: Promise<ClientClose>;
  /** Reply messages received so far (read or not). */
  received = 0;
  /** Raw bytes received. */
  bytesReceived = 0;
  sawEnd = false;
  error: Error | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private readonly queue: Buffer[] = [];
  private readonly waiters: { resolve: (message: Buffer) => void; reject: (error: Error) => void }[] = [];
  private ended = false;

  private constructor(
    readonly socket: net.Socket,
    readonly wire: Wire,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('end', () => {
      this.sawEnd = true;
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (hadError) => {
        this.ended = true;
        for (const waiter of this.waiters.splice(0)) waiter.reject(this.error ?? new Error('connection closed before a reply arrived'));
        resolve({ hadError, sawEnd: this.sawEnd, error: this.error });
      });
    });
  }

  static async connect(port: number, wire: Wire): Promise<WireClient> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    const client = new WireClient(socket, wire);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('close', () => reject(client.error ?? new Error('closed before connecting')));
    });
    return client;
  }

  /** The server-side connection of this client. */
  connectionOn<T>(server: NetServer<T>): Connection<T> | undefined {
    for (const conn of server.connections()) if (conn.remotePort === this.socket.localPort) return conn;
    return undefined;
  }

  send(message: Buffer | string): boolean {
    return this.socket.write(frameRequest(this.wire, message));
  }

  /** The next reply message; rejects if the connection closes first. */
  read(): Promise<Buffer> {
    const message = this.queue.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (this.ended) return Promise.reject(this.error ?? new Error('connection closed before a reply arrived'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  async request(message: Buffer | string): Promise<Buffer> {
    this.send(message);
    return this.read();
  }

  /** Sends FIN and waits for the server to close its side. */
  async end(): Promise<ClientClose> {
    this.socket.end();
    return this.closed;
  }

  /**
   * Closes at once; with `reset`, an RST instead of a FIN. Not once the socket has ended its
   * write side (after the server's FIN): Node then fails the reset with EINVAL and never
   * closes the handle, so a plain destroy is used.
   */
  destroy(reset = false): void {
    if (reset && !this.socket.writableEnded && !this.socket.destroyed && !this.socket.connecting) this.socket.resetAndDestroy();
    else this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      let message: Buffer;
      if (this.wire.codec === 'line') {
        const newline = this.pending.indexOf(0x0a);
        if (newline === -1) break;
        message = this.pending.subarray(0, newline);
        this.pending = this.pending.subarray(newline + 1);
      } else {
        if (this.pending.length < 4) break;
        const length = this.wire.codec === 'length' && this.wire.byteOrder === 'big' ? this.pending.readUInt32BE(0) : this.pending.readUInt32LE(0);
        if (this.pending.length < 4 + length) break;
        message = this.pending.subarray(4, 4 + length);
        this.pending = this.pending.subarray(4 + length);
      }
      this.received++;
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter.resolve(message);
      else this.queue.push(message);
    }
  }
}

/** Rejects with `label` when `promise` has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// --- memory ------------------------------------------------------------------------------------

let gcFunction: (() => void) | null = null;

/** A full garbage collection (exposing V8's gc on first use, without a command-line flag). */
export function collectGarbage(): void {
  if (gcFunction === null) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

/** Bytes of ArrayBuffers (Node Buffers included) still alive after a full collection. */
export function liveArrayBuffers(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().arrayBuffers;
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Samples memory every `intervalMs` until stopped; reports the peaks. */
export class MemorySampler {
  peakArrayBuffers = 0;
  peakRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 25) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, usage.arrayBuffers);
    this.peakRss = Math.max(this.peakRss, usage.rss);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

// --- child-process servers -----------------------------------------------------------------------

export interface ChildServer {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** Settles when the process has exited (and its output pipes are closed). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last few KB the server printed (stdout and stderr), for failure messages. */
  output(): string;
  /** Sends `signal` if the process still runs (never a second one after it exited). */
  kill(signal?: NodeJS.Signals): void;
}

const OUTPUT_KEPT = 16 * 1024;

/**
 * Runs `reactor-server start --port 0 ...args` (the compiled CLI) in a child process, with its
 * soft file-descriptor limit lowered to `fdLimit` when given (through `sh -c 'ulimit -n'`), and
 * resolves once it prints its ready line. REACTOR_* variables of this process are not passed
 * on: the flags given here are the whole configuration.
 */
export async function spawnServer(args: readonly string[], options: { fdLimit?: number } = {}): Promise<ChildServer> {
  const argv = [CLI_PATH, 'start', '--host', '127.0.0.1', '--port', '0', ...args];
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REACTOR_')));
  const child =
    options.fdLimit === undefined
      ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env })
      : // "$0" "$@" passes node and its arguments through sh without any quoting.
        spawn('sh', ['-c', `ulimit -n ${options.fdLimit} && exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let output = '';
  const keep = (text: string): void => {
    output = (output + text).slice(-OUTPUT_KEPT);
  };
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8').on('data', keep);
  // 'close' rather than 'exit': it also waits for the pipes, so no descriptor is left behind.
  const exited = (once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>).then(([code, signal]) => ({ code, signal }));
  const port = await new Promise<number>((resolve, reject) => {
    let ready = false;
    let head = '';
    child.stdout!.on('data', (text: string) => {
      keep(text);
      if (ready) return;
      head += text;
      const match = /listening on \[?[^\]\s]+?\]?:(\d+)/.exec(head);
      if (match !== null) {
        ready = true;
        resolve(Number(match[1]));
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before it was ready: ${output}`)));
  });
  return {
    child,
    pid: child.pid as number,
    port,
    exited,
    output: () => output,
    kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}

/** Open file descriptors of process `pid` (Linux /proc). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A deterministic PRNG (mulberry32), so a failing random scenario can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytesFrom(random: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * Runs `body`, then checks what every fault scenario must leave behind: this process holding
 * exactly the handles and descriptors it held before. `cleanup` runs whatever happened.
 */
export async function leakChecked(body: () => Promise<void>, cleanup: () => Promise<void> = async () => {}, timeoutMs = 3000): Promise<void> {
  const baseline = snapshotHandles();
  try {
    await body();
  } finally {
    await cleanup();
  }
  // Shorter than any test's own timeout, so a leak is reported as such.
  await waitForHandles(baseline, timeoutMs);
}

/** Waits until `server` has no connection left (its own side closed, not forced by stop()). */
export async function connectionsDrained(server: NetServer, expected = 0, timeoutMs = 5000): Promise<void> {
  await waitUntil(
    () => server.connectionCount === expected,
    () => `server still has ${server.connectionCount} connections, expected ${expected}`,
    timeoutMs,
  );
  assert.equal(server.connectionCount, expected);
}
