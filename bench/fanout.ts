/**
 * Fan-out through the broker: one publisher, N subscribers of one topic, publish-to-receipt
 * latency and deliveries per second, for the local broker on one instance against the Redis
 * broker with the subscribers spread over two instances (the publisher on the first).
 *
 *   node build/bench/fanout.js [--subscribers 1000] [--rates 50,200,500] [--seconds 5] [--workers 1] [--client-threads 2]
 *
 * Each rate is an open loop: the publisher sends `rate` messages a second, each carrying its
 * send time (the wall clock at high resolution, `performance.timeOrigin + now()`, which every
 * thread of this process shares), for `seconds`; every subscriber notes when each arrives. The
 * subscribers are spread over `client-threads` worker threads so that reading them is not one
 * event loop's work; the client's own CPU use is reported beside the servers'. Reported per rate: messages and deliveries per second
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
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { CLI, ROOT, startServer, type RunningServer } from './harness.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    rates: { type: 'string', default: '50,200,500' },
    seconds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '1' },
    'client-threads': { type: 'string', default: '2' },
  },
});
const CLIENT_THREADS = Number(values['client-threads']);
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

/** Now on the clock every thread of this process shares, in ms. */
function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Latencies in ms, kept whole for exact percentiles. */
class Samples {
  values = new Float64Array(1 << 18);
  count = 0;
  add(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }
}

/** Messages between the main thread and a subscriber thread. */
type ToSubscribers = { t: 'reset' } | { t: 'count' } | { t: 'collect' } | { t: 'close' };
type FromSubscribers = { t: 'ready' } | { t: 'count'; count: number } | { t: 'samples'; values: Float64Array; count: number };

/** A subscriber thread: `count` subscribers over `ports`, each reporting the latency of every message. */
async function subscriberThread(ports: number[], count: number, offset: number): Promise<void> {
  const port = parentPort!;
  let samples = new Samples();
  let subscribed = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = await lineSocket(ports[(offset + i) % ports.length] as number, (line) => {
      if (line === 'subscribed') subscribed++;
      else samples.add(wallNow() - Number(line.slice(line.indexOf(' ') + 1)));
    });
    socket.write('sub\n');
    sockets.push(socket);
  }
  while (subscribed < count) await new Promise((resolve) => setTimeout(resolve, 10));
  port.on('message', (message: ToSubscribers) => {
    if (message.t === 'reset') samples = new Samples();
    else if (message.t === 'count') port.postMessage({ t: 'count', count: samples.count } satisfies FromSubscribers);
    else if (message.t === 'collect') {
      const values = samples.values.slice(0, samples.count);
      port.postMessage({ t: 'samples', values, count: samples.count } satisfies FromSubscribers, [values.buffer]);
    } else {
      for (const socket of sockets) socket.destroy();
      port.close();
    }
  });
  port.postMessage({ t: 'ready' } satisfies FromSubscribers);
}

/** Asks every thread the same question and gathers one answer of kind `t` from each. */
function askAll<T extends FromSubscribers['t']>(threads: Worker[], message: ToSubscribers, t: T): Promise<Extract<FromSubscribers, { t: T }>[]> {
  return Promise.all(
    threads.map(
      (thread) =>
        new Promise<Extract<FromSubscribers, { t: T }>>((resolve) => {
          const onMessage = (answer: FromSubscribers): void => {
            if (answer.t !== t) return;
            thread.off('message', onMessage);
            resolve(answer as Extract<FromSubscribers, { t: T }>);
          };
          thread.on('message', onMessage);
          thread.postMessage(message);
        }),
    ),
  );
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

async function measure(label: string, subscriberPorts: number[], publisherPort: number, watched: Watched): Promise<Result[]> {
  // The subscribers, spread evenly over the ports and over the client threads.
  const threads: Worker[] = [];
  for (let t = 0; t < CLIENT_THREADS; t++) {
    const count = Math.floor(SUBSCRIBERS / CLIENT_THREADS) + (t < SUBSCRIBERS % CLIENT_THREADS ? 1 : 0);
    const thread = new Worker(new URL(import.meta.url), { workerData: { ports: subscriberPorts, count, offset: t } });
    threads.push(thread);
  }
  await Promise.all(threads.map((thread) => new Promise<void>((resolve) => thread.on('message', (m: FromSubscribers) => m.t === 'ready' && resolve()))));
  const publisher = await lineSocket(publisherPort, () => undefined);
  // Let every instance's subscription reach Redis before the first message.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const results: Result[] = [];
  for (const rate of RATES) {
    for (const thread of threads) thread.postMessage({ t: 'reset' } satisfies ToSubscribers);
    const total = Math.round(rate * SECONDS);
    const cpuBefore = Object.fromEntries(Object.entries(watched).map(([name, pid]) => [name, cpuSeconds(pid)]));
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    for (let sent = 0; sent < total; ) {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1);
      let batch = '';
      for (; sent < due; sent++) batch += `pub ${sent} ${wallNow()}\n`;
      if (batch !== '') publisher.write(batch);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const expected = total * SUBSCRIBERS;
    const deadline = performance.now() + 10_000;
    let received = 0;
    while (performance.now() < deadline) {
      received = (await askAll(threads, { t: 'count' }, 'count')).reduce((sum, answer) => sum + answer.count, 0);
      if (received >= expected) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const elapsed = (performance.now() - started) / 1000;
    const clientUsed = process.cpuUsage(clientBefore);
    const cpu = Object.fromEntries(Object.entries(watched).map(([name, pid]) => [name, Math.round(((cpuSeconds(pid) - (cpuBefore[name] as number)) / elapsed) * 100)]));
    cpu.client = Math.round(((clientUsed.user + clientUsed.system) / 1e6 / elapsed) * 100);
    const parts = await askAll(threads, { t: 'collect' }, 'samples');
    const all = new Float64Array(parts.reduce((n, part) => n + part.count, 0));
    let at = 0;
    for (const part of parts) {
      all.set(part.values, at);
      at += part.count;
    }
    all.sort();
    const result: Result = {
      rate,
      cpu,
      messagesPerSecond: Math.round(all.length / SUBSCRIBERS / elapsed),
      deliveriesPerSecond: Math.round(all.length / elapsed),
      p50Ms: Number(percentile(all, 50).toFixed(2)),
      p99Ms: Number(percentile(all, 99).toFixed(2)),
      maxMs: Number(percentile(all, 100).toFixed(2)),
      missing: expected - all.length,
    };
    results.push(result);
    console.log(
      `${label.padEnd(27)} rate ${String(rate).padStart(5)}/s  got ${String(result.messagesPerSecond).padStart(5)} msg/s = ${String(result.deliveriesPerSecond).padStart(7)} deliveries/s  p50 ${result.p50Ms} ms  p99 ${result.p99Ms} ms  max ${result.maxMs} ms  missing ${result.missing}  cpu ${Object.entries(cpu).map(([name, pct]) => `${name} ${pct}%`).join(' ')}`,
    );
  }
  publisher.destroy();
  for (const thread of threads) thread.postMessage({ t: 'close' } satisfies ToSubscribers);
  await Promise.all(threads.map((thread) => once(thread, 'exit')));
  return results;
}

if (!isMainThread) {
  const { ports, count, offset } = workerData as { ports: number[]; count: number; offset: number };
  await subscriberThread(ports, count, offset);
} else {
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
}
