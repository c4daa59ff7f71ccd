#!/usr/bin/env node
/**
 * Soak test (not run in CI): runs the server (the compiled CLI, default echo, length codec) in a
 * child process under a mixed load for a while, checks every reply byte for byte, and samples
 * the server's RSS and open descriptors to show growth.
 *
 *   node build/bench/soak.js [--seconds 60] [--clients 16] [--churners 4] [--sample 5] [--max-rss-growth-mb 0]
 *
 * The load: ping-pong clients (request, check the reply, repeat), churners (connect, a few
 * requests, close by FIN or by reset, and now and then a reset in the middle of a frame), and
 * one slow reader that keeps requests flowing while reading its replies slowly.
 *
 * Exits 1 if any reply was wrong or missing, a client saw an unexpected error, the server died,
 * or the server held more descriptors after the load than before it; 0 otherwise. With
 * --max-rss-growth-mb N > 0, also fails when RSS grew more than N MB from the first sample
 * taken under load to the end of the load.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { REPLY_PREFIX_BYTES as PREFIX } from '../src/pool/reply-prefix.js';
import { CLI, rssBytes, startServer, type RunningServer } from './harness.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    clients: { type: 'string', default: '16' },
    churners: { type: 'string', default: '4' },
    sample: { type: 'string', default: '5' },
    'max-rss-growth-mb': { type: 'string', default: '0' },
  },
});
const SECONDS = positive('seconds', values.seconds);
const CLIENTS = positive('clients', values.clients);
const CHURNERS = positive('churners', values.churners);
const SAMPLE_SECONDS = positive('sample', values.sample);
const MAX_RSS_GROWTH_MB = Number(values['max-rss-growth-mb']);

function positive(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`soak: --${name} must be a number > 0, got ${String(value)}\n`);
    process.exit(2);
  }
  return n;
}

// --- counters ----------------------------------------------------------------------------------

const counts = { requests: 0, replies: 0, wrong: 0, lost: 0, connects: 0, resets: 0, midFrameResets: 0, unexpectedErrors: 0, slowReaderReplies: 0 };
const problems: string[] = [];

function problem(text: string): void {
  if (problems.length < 20) problems.push(text);
}

// --- the server --------------------------------------------------------------------------------

function startSoakServer(): Promise<RunningServer> {
  // The soak's settings only: REACTOR_* variables of the calling shell do not leak in.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REACTOR_')));
  return startServer(CLI, ['start', '--host', '127.0.0.1', '--port', '0', '--codec', 'length', '--log-level', 'warn'], undefined, env);
}

function rssMb(pid: number): number {
  return rssBytes(pid) / (1024 * 1024);
}

function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

// --- a framed client ---------------------------------------------------------------------------

function frame(body: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header.writeUInt32LE(body.length);
  return Buffer.concat([header, body]);
}

/** A length-codec client that matches every reply against its request, in order. */
class Client {
  readonly closed: Promise<void>;
  error: Error | null = null;
  private pending: Buffer = Buffer.alloc(0);
  /** Requests sent and not yet answered, oldest first, with a waiter for each. */
  private readonly outstanding: { message: Buffer; done: () => void }[] = [];
  private closedFlag = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => {
      this.error = error;
    });
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedFlag = true;
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<Client> {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', () => {});
    await once(socket, 'connect');
    counts.connects++;
    return new Client(socket);
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  get outstandingCount(): number {
    return this.outstanding.length;
  }

  /** Sends `message`; resolves when its reply came back (checked), or the connection closed. */
  send(message: Buffer): { written: boolean; replied: Promise<void> } {
    counts.requests++;
    let done!: () => void;
    const replied = new Promise<void>((resolve) => (done = resolve));
    this.outstanding.push({ message, done });
    const written = this.socket.write(frame(message));
    return { written, replied };
  }

  /** Requests sent but never answered, once the connection is gone. */
  abandon(): number {
    const n = this.outstanding.length;
    for (const entry of this.outstanding.splice(0)) entry.done();
    return n;
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4) {
      const length = this.pending.readUInt32LE(0);
      if (this.pending.length < 4 + length) break;
      const reply = this.pending.subarray(4, 4 + length);
      this.pending = this.pending.subarray(4 + length);
      const entry = this.outstanding.shift();
      counts.replies++;
      if (entry === undefined) {
        counts.wrong++;
        problem(`a reply nobody asked for (${reply.length} bytes)`);
        continue;
      }
      const expected = Buffer.concat([PREFIX, entry.message]);
      if (!reply.equals(expected)) {
        counts.wrong++;
        problem(`wrong reply: expected ${expected.length} bytes starting ${JSON.stringify(expected.subarray(0, 24).toString('latin1'))}, got ${reply.length} starting ${JSON.stringify(reply.subarray(0, 24).toString('latin1'))}`);
      }
      entry.done();
    }
  }
}

function randomMessage(maxBytes: number): Buffer {
  return randomBytes(1 + Math.floor(Math.random() * maxBytes));
}

// --- the load ----------------------------------------------------------------------------------

async function pingPong(port: number, until: number, id: number): Promise<void> {
  const client = await Client.connect(port);
  while (Date.now() < until && !client.isClosed) {
    await client.send(randomMessage(Math.random() < 0.05 ? 256 * 1024 : 4096)).replied;
  }
  finish(client, `ping-pong ${id}`);
  client.socket.end();
  await client.closed;
}

async function churn(port: number, until: number, id: number): Promise<void> {
  for (let round = 0; Date.now() < until; round++) {
    const client = await Client.connect(port);
    const n = 1 + Math.floor(Math.random() * 3);
    for (let i = 0; i < n; i++) await client.send(randomMessage(2048)).replied;
    finish(client, `churner ${id}`);
    const how = round % 10;
    if (how === 0) {
      // A reset in the middle of a frame: the header promises more than ever comes.
      client.socket.write(Buffer.concat([Buffer.from([0, 1, 0, 0]), randomBytes(100)]));
      client.socket.resetAndDestroy();
      counts.midFrameResets++;
    } else if (how < 4) {
      client.socket.resetAndDestroy();
      counts.resets++;
    } else {
      client.socket.end();
    }
    await client.closed;
  }
}

/** Keeps ~1 MiB of requests in flight while reading its replies slowly (a pause per chunk). */
async function slowReader(port: number, until: number): Promise<void> {
  const client = await Client.connect(port);
  client.socket.on('data', () => {
    client.socket.pause();
    setTimeout(() => client.socket.resume(), 20); // deliberately slow: the behaviour under load
  });
  let inFlight: Promise<void>[] = [];
  while (Date.now() < until && !client.isClosed) {
    const { written, replied } = client.send(randomMessage(16 * 1024));
    inFlight.push(replied.then(() => void counts.slowReaderReplies++));
    if (client.outstandingCount > 128) await inFlight[inFlight.length - 64];
    if (!written) await Promise.race([once(client.socket, 'drain'), client.closed]);
    if (inFlight.length > 1024) inFlight = inFlight.slice(-256);
  }
  await Promise.race([Promise.all(inFlight), client.closed]);
  finish(client, 'slow reader');
  client.socket.end();
  await client.closed;
}

/** A client that closed before its replies came is a lost reply; an error is unexpected. */
function finish(client: Client, who: string): void {
  if (client.isClosed) {
    const lost = client.abandon();
    if (lost > 0) {
      counts.lost += lost;
      problem(`${who}: connection closed with ${lost} replies missing (${client.error?.message ?? 'no error'})`);
    }
  }
  if (client.error !== null) {
    counts.unexpectedErrors++;
    problem(`${who}: ${client.error.message}`);
  }
}

// --- main --------------------------------------------------------------------------------------

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
  requests: number;
}

async function main(): Promise<number> {
  const server = await startSoakServer();
  const pid = server.child.pid as number;
  const started = Date.now();
  const until = started + SECONDS * 1000;
  const baselineFds = fds(pid);
  const samples: Sample[] = [];
  const takeSample = (): Sample => {
    const sample = { t: (Date.now() - started) / 1000, rssMb: rssMb(pid), fds: fds(pid), requests: counts.requests };
    samples.push(sample);
    const previous = samples.at(-2);
    const rate = previous === undefined ? 0 : (sample.requests - previous.requests) / Math.max(0.001, sample.t - previous.t);
    process.stdout.write(
      `t=${sample.t.toFixed(0).padStart(4)}s rss=${sample.rssMb.toFixed(1)} MB fds=${sample.fds} req/s=${rate.toFixed(0)} ` +
        `replies=${counts.replies} wrong=${counts.wrong} lost=${counts.lost} connects=${counts.connects} resets=${counts.resets + counts.midFrameResets}\n`,
    );
    return sample;
  };
  process.stdout.write(`soak: ${SECONDS} s against pid ${pid} port ${server.port}: ${CLIENTS} ping-pong, ${CHURNERS} churners, 1 slow reader\n`);
  takeSample();
  const sampler = setInterval(takeSample, SAMPLE_SECONDS * 1000);

  let serverDied = false;
  void server.exited.then(({ code, signal }) => {
    if (Date.now() < until) {
      serverDied = true;
      problem(`the server exited during the load (${code ?? signal})`);
    }
  });

  const work = [
    ...Array.from({ length: CLIENTS }, (_, i) => pingPong(server.port, until, i)),
    ...Array.from({ length: CHURNERS }, (_, i) => churn(server.port, until, i)),
    slowReader(server.port, until),
  ].map((p) =>
    p.catch((err: unknown) => {
      counts.unexpectedErrors++;
      problem(`a load task failed: ${err instanceof Error ? err.message : String(err)}`);
    }),
  );
  await Promise.all(work);
  clearInterval(sampler);
  const loaded = takeSample();

  // Let the server finish closing what the load left, then look again (a deliberate settle).
  let settledFds = serverDied ? -1 : fds(pid);
  for (let waited = 0; !serverDied && settledFds > baselineFds && waited < 5000; waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    settledFds = fds(pid);
  }

  await server.stop();
  const exit = await server.exited;

  const first = samples[0] as Sample;
  const peakRss = Math.max(...samples.map((s) => s.rssMb));
  const peakFds = Math.max(...samples.map((s) => s.fds));
  const rssGrowth = loaded.rssMb - first.rssMb;
  // From the first sample under load: warm-up (code, pools, buffers) is behind it.
  const warm = samples.length > 2 ? (samples[1] as Sample) : first;
  const rssGrowthUnderLoad = loaded.rssMb - warm.rssMb;
  process.stdout.write(
    [
      '',
      `requests ${counts.requests}, replies ${counts.replies} (slow reader ${counts.slowReaderReplies}), wrong ${counts.wrong}, lost ${counts.lost}`,
      `connects ${counts.connects}, resets ${counts.resets}, mid-frame resets ${counts.midFrameResets}, unexpected client errors ${counts.unexpectedErrors}`,
      `server RSS: idle ${first.rssMb.toFixed(1)} MB, first under load (t=${warm.t.toFixed(0)}s) ${warm.rssMb.toFixed(1)} MB, peak ${peakRss.toFixed(1)} MB, ` +
        `end of load ${loaded.rssMb.toFixed(1)} MB: growth ${signed(rssGrowth)} MB from idle, ${signed(rssGrowthUnderLoad)} MB under load`,
      `server fds: before ${baselineFds}, peak ${peakFds}, after the load settled ${settledFds}`,
      `server exit: ${exit.code ?? exit.signal}`,
      ...problems.map((p) => `problem: ${p}`),
      '',
    ].join('\n'),
  );

  const failures: string[] = [];
  if (counts.wrong > 0) failures.push(`${counts.wrong} wrong replies`);
  if (counts.lost > 0) failures.push(`${counts.lost} lost replies`);
  if (counts.unexpectedErrors > 0) failures.push(`${counts.unexpectedErrors} unexpected client errors`);
  if (serverDied) failures.push('the server died');
  if (exit.code !== 0) failures.push(`the server exited with ${exit.code ?? exit.signal} on SIGTERM`);
  if (!serverDied && settledFds > baselineFds) failures.push(`the server kept ${settledFds - baselineFds} descriptors after the load`);
  if (MAX_RSS_GROWTH_MB > 0 && rssGrowthUnderLoad > MAX_RSS_GROWTH_MB) failures.push(`RSS grew ${rssGrowthUnderLoad.toFixed(1)} MB under load (limit ${MAX_RSS_GROWTH_MB})`);
  if (counts.replies === 0) failures.push('no reply at all');
  process.stdout.write(failures.length === 0 ? 'soak: OK\n' : `soak: FAILED: ${failures.join('; ')}\n`);
  return failures.length === 0 ? 0 : 1;
}

function signed(n: number): string {
  return `${n >= 0 ? '+' : ''}${n.toFixed(1)}`;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
