import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { lazyModule } from '../core/lazy-module.js';
import type { CodecName } from '../server/options.js';

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
  /** What the server puts in front of each reply; null skips verification. */
  expectPrefix: string | null;
  /** Called about four times a second with seconds elapsed and replies so far. */
  onProgress?: (elapsed: number, replies: number) => void;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface BenchResult {
  mode: BenchMode;
  connections: number;
  seconds: number;
  /** Replies received and verified. */
  replies: number;
  repliesPerSecond: number;
  /** Completed connect-send-receive-close sessions (connect mode). */
  sessions: number;
  sessionsPerSecond: number;
  /** Connections open at the end (hold mode). */
  held: number;
  /** Connections that failed or closed early. */
  errors: number;
  /** Replies that did not match what was sent. */
  wrongReplies: number;
  /** Reply latency in microseconds (sessions in connect mode). */
  latencyUs: LatencySummary;
}

/**
 * Drives a server speaking the seed, length or line protocol and measures it: one request in
 * flight per connection, every reply checked byte for byte. Requests are built once; replies
 * are parsed in place, so the driver stays light next to the server it measures.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const run = new BenchRun(options);
  return run.execute();
}

class BenchRun {
  private readonly request: Buffer;
  private readonly expected: Buffer;
  private readonly histogram = hdr().build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  private replies = 0;
  private sessions = 0;
  private errors = 0;
  private wrong = 0;
  private deadline = 0;
  private readonly open = new Set<net.Socket>();
  private running = true;

  constructor(private readonly options: BenchOptions) {
    const body = Buffer.alloc(options.size);
    for (let i = 0; i < body.length; i++) body[i] = 0x61 + (i % 26);
    this.request = frameRequest(body, options.codec);
    this.expected = Buffer.concat([Buffer.from(options.expectPrefix ?? ''), body]);
  }

  async execute(): Promise<BenchResult> {
    const started = performance.now();
    this.deadline = started + this.options.duration * 1000;
    const progress = this.options.onProgress === undefined ? null : setInterval(() => this.options.onProgress?.((performance.now() - started) / 1000, this.replies), 250);
    const workers = Array.from({ length: this.options.connections }, () => (this.options.mode === 'connect' ? this.sessionLoop() : this.connection()));
    if (this.options.mode === 'hold') {
      await Promise.all(workers);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, this.deadline - performance.now())));
    } else {
      await new Promise((resolve) => setTimeout(resolve, this.options.duration * 1000));
    }
    this.running = false;
    const held = [...this.open].filter((socket) => !socket.destroyed).length;
    for (const socket of this.open) socket.destroy();
    await Promise.allSettled(workers);
    if (progress !== null) clearInterval(progress);
    const seconds = (performance.now() - started) / 1000;
    const h = this.histogram;
    return {
      mode: this.options.mode,
      connections: this.options.connections,
      seconds,
      replies: this.replies,
      repliesPerSecond: this.replies / seconds,
      sessions: this.sessions,
      sessionsPerSecond: this.sessions / seconds,
      held: this.options.mode === 'hold' ? held : 0,
      errors: this.errors,
      wrongReplies: this.wrong,
      latencyUs: {
        p50: h.getValueAtPercentile(50),
        p90: h.getValueAtPercentile(90),
        p99: h.getValueAtPercentile(99),
        p999: h.getValueAtPercentile(99.9),
        max: h.maxValue,
        mean: h.mean,
      },
    };
  }

  /** Ping-pong (or hold: one round trip, then stay open). Resolves when the connection ends. */
  private connection(): Promise<void> {
    return new Promise((resolve) => {
      const socket = net.connect({ host: this.options.host, port: this.options.port, noDelay: true });
      this.open.add(socket);
      const reader = new ReplyReader(this.options.codec, this.options.expectPrefix, this.options.size);
      let sentAt = 0;
      const send = (): void => {
        sentAt = performance.now();
        socket.write(this.request);
      };
      socket.once('connect', send);
      socket.on('data', (chunk: Buffer) => {
        if (!reader.push(chunk)) return;
        const reply = reader.take();
        this.record(sentAt, reply);
        if (this.options.mode === 'hold') {
          resolve();
        } else if (this.running && performance.now() < this.deadline) {
          send();
        }
      });
      socket.on('error', () => undefined);
      socket.once('close', () => {
        if (this.running) this.errors++;
        this.open.delete(socket);
        resolve();
      });
    });
  }

  /** Connect, send, receive, close, again, until the deadline. */
  private async sessionLoop(): Promise<void> {
    while (this.running && performance.now() < this.deadline) {
      const ok = await this.session();
      if (!ok) this.errors++;
    }
  }

  private session(): Promise<boolean> {
    return new Promise((resolve) => {
      const started = performance.now();
      const socket = net.connect({ host: this.options.host, port: this.options.port, noDelay: true });
      this.open.add(socket);
      const reader = new ReplyReader(this.options.codec, this.options.expectPrefix, this.options.size);
      let done = false;
      socket.once('connect', () => socket.write(this.request));
      socket.on('data', (chunk: Buffer) => {
        if (!reader.push(chunk)) return;
        done = true;
        this.record(started, reader.take());
        this.sessions++;
        socket.destroy();
      });
      socket.on('error', () => undefined);
      socket.once('close', () => {
        this.open.delete(socket);
        resolve(done || !this.running);
      });
    });
  }

  private record(sentAt: number, reply: Buffer): void {
    this.replies++;
    this.histogram.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
    if (this.options.expectPrefix !== null && !reply.equals(this.expected)) this.wrong++;
  }
}

function frameRequest(body: Buffer, codec: CodecName): Buffer {
  switch (codec) {
    case 'seed':
      return body;
    case 'length': {
      const framed = Buffer.allocUnsafe(4 + body.length);
      framed.writeUInt32LE(body.length, 0);
      body.copy(framed, 4);
      return framed;
    }
    case 'line':
      return Buffer.concat([body, Buffer.from('\n')]);
  }
}

/**
 * Collects one reply. Seed and length replies are 4-byte little-endian length frames; with the
 * seed codec a request the server happened to read in pieces comes back as several frames,
 * each with the prefix, which are joined (prefix once) before comparing.
 */
class ReplyReader {
  private pending: Buffer = Buffer.alloc(0);
  private readonly parts: Buffer[] = [];
  private bodyBytes = 0;
  private complete: Buffer | null = null;

  constructor(
    private readonly codec: CodecName,
    private readonly prefix: string | null,
    /** How many body bytes a whole seed reply carries: the request's size. */
    private readonly expectedBodyBytes: number,
  ) {}

  /** Feeds bytes; true once a whole reply is in. */
  push(chunk: Buffer): boolean {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.codec === 'line') {
      const end = this.pending.indexOf(0x0a);
      if (end === -1) return false;
      this.complete = this.pending.subarray(0, end);
      this.pending = this.pending.subarray(end + 1);
      return true;
    }
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32LE(0);
      if (this.pending.length < 4 + length) return false;
      const frame = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      if (this.codec === 'length' || this.prefix === null) {
        this.complete = frame;
        return true;
      }
      this.parts.push(this.parts.length === 0 ? frame : frame.subarray(this.prefix.length));
      this.bodyBytes += frame.length - this.prefix.length;
      if (this.bodyBytes >= this.expectedBodyBytes) {
        this.complete = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
        return true;
      }
    }
    return false;
  }

  /** The reply just completed; resets for the next one. */
  take(): Buffer {
    const reply = this.complete as Buffer;
    this.complete = null;
    this.parts.length = 0;
    this.bodyBytes = 0;
    return reply;
  }
}
