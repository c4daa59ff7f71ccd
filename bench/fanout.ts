/**
 * Fan-out through the broker: one publisher, N subscribers of one topic, publish-to-receipt
 * latency and deliveries per second, for the local broker on one instance against the Redis
 * broker with the subscribers spread over two instances (the publisher on the first).
 *
 *   node build/bench/fanout.js [--subscribers 1000] [--rates 50,200,500] [--seconds 5] [--workers 1]
 *
 * Each rate is an open loop: the publisher sends `rate` messages a second, each carrying its
 * send time (this process's clock, which every subscriber shares), for `seconds`; every
 * subscriber notes when each arrives. Reported per rate: messages and deliveries per second
 * actually received (deliveries = messages x subscribers reached), the latency p50, p99 and max,
 * how many deliveries were missing at the end, and the CPU each server (and Redis) used, as a
 * share of one core (with --workers 1: with more, the reactors' threads count in it). Needs `redis-server` (started here, on a free
 * port, persistence off) and, for the numbers to mean much, a quiet machine: the servers, Redis
 * and this client share its cores.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { CLI, ROOT, startServer, type RunningServer } from './harness.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '50,200,500' },
    seconds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const RATES = (values.rates as string).split(',').map(Number);
const SECONDS = Number(values.seconds);
const WORKERS = values.workers as string;
const APP = `${ROOT}build/bench/fanout-app.js`;

/** CPU seconds process `pid` has used (user + system), from /proc; NaN where there is none. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; in clock ticks (100 a second here).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Processes whose CPU use is reported per rate, by name. */
type Watched = Record<string, number | undefined>;

interface Result {
  rate: number;
  /** Per watched process: the share of one core it used during the run, in %. */
  cpu: Record<string, number>;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  missing: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function startRedis(): Promise<{ url: string; pid: number | undefined; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (text: string) => {
      out += text;
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
  child.stdout!.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

function instance(name: string, broker: string): Promise<RunningServer> {
  return startServer(CLI, ['start', '--port', '0', '--workers', WORKERS, '--codec', 'line', '--app', APP, '--broker', broker, '--instance-id', name, '--log-level', 'warn', '--max-connections', '0']);
}

/** A connection that reads `\n`-terminated lines and hands each to `onLine`. */
async function lineSocket(port: number, onLine: (line: string) => void): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  let rest = '';
  socket.setEncoding('latin1');
  socket.on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() as string;
    for (const line of lines) onLine(line);
  });
  return socket;
}

/** Latencies of one run, in ms, kept whole for exact percentiles. */
class Samples {
  private values = new Float64Array(1 << 20);
  count = 0;
  add(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }
  percentile(p: number): number {
    const sorted = this.values.subarray(0, this.count).sort();
    return sorted[Math.min(this.count - 1, Math.floor((p / 100) * this.count))] ?? Number.NaN;
  }
}

async function measure(label: string, subscriberPorts: number[], publisherPort: number, watched: Watched): Promise<Result[]> {
  let samples = new Samples();
  const sockets: net.Socket[] = [];
  let subscribed = 0;
  // The subscribers, spread evenly over the given ports.
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const socket = await lineSocket(subscriberPorts[i % subscriberPorts.length] as number, (line) => {
      if (line === 'subscribed') {
        subscribed++;
        return;
      }
      const at = line.indexOf(' ');
      samples.add(performance.now() - Number(line.slice(at + 1)));
    });
    socket.write('sub\n');
    sockets.push(socket);
  }
  while (subscribed < SUBSCRIBERS) await new Promise((resolve) => setTimeout(resolve, 10));
  const publisher = await lineSocket(publisherPort, () => undefined);
  // Let every instance's subscription reach Redis before the first message.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const results: Result[] = [];
  for (const rate of RATES) {
    samples = new Samples();
    const total = Math.round(rate * SECONDS);
    const cpuBefore = Object.fromEntries(Object.entries(watched).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const started = performance.now();
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      let batch = '';
      for (; sent < due; sent++) batch += `pub ${sent} ${performance.now()}\n`;
      if (batch !== '') publisher.write(batch);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const expected = total * SUBSCRIBERS;
    const deadline = performance.now() + 10_000;
    while (samples.count < expected && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const elapsed = (performance.now() - started) / 1000;
    const cpu = Object.fromEntries(Object.entries(watched).map(([name, pid]) => [name, Math.round(((cpuSeconds(pid) - (cpuBefore[name] as number)) / elapsed) * 100)]));
    const result: Result = {
      rate,
      cpu,
      messagesPerSecond: Math.round(samples.count / SUBSCRIBERS / elapsed),
      deliveriesPerSecond: Math.round(samples.count / elapsed),
      p50Ms: Number(samples.percentile(50).toFixed(2)),
      p99Ms: Number(samples.percentile(99).toFixed(2)),
      maxMs: Number(samples.percentile(100).toFixed(2)),
      missing: expected - samples.count,
    };
    results.push(result);
    console.log(
      `${label.padEnd(34)} rate ${String(rate).padStart(5)}/s  got ${String(result.messagesPerSecond).padStart(5)} msg/s = ${String(result.deliveriesPerSecond).padStart(7)} deliveries/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  max ${result.maxMs} ms  missing ${result.missing}  cpu ${Object.entries(cpu).map(([name, pct]) => `${name} ${pct}%`).join(' ')}`,
    );
  }
  for (const socket of [...sockets, publisher]) socket.destroy();
  return results;
}

const local = await instance('solo', 'local');
try {
  await measure(`local broker, 1 instance`, [local.port], local.port, { server: local.child.pid });
} finally {
  await local.stop();
}

const redis = await startRedis();
try {
  const a = await instance('a', redis.url);
  const b = await instance('b', redis.url);
  try {
    await measure(`redis broker, 2 instances`, [a.port, b.port], a.port, { a: a.child.pid, b: b.child.pid, redis: redis.pid });
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
} finally {
  await redis.stop();
}
