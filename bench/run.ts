/**
 * `npm run bench`: the project's server against the hand-written node:net baseline, same load,
 * same Node.js, alternating A/B over several rounds, server and load generator pinned to
 * different cores when taskset exists. Prints the median of each measure and the ratio
 * project / baseline.
 *
 *   npm run bench -- [--rounds 5] [--seconds 5] [--hold 10000]
 *
 * The load comes from bench/loadgen.c when a C compiler is present (the numbers we judge by),
 * else from the product's own `reactor-server bench`.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { CLI, hasTaskset, loadgen, loadgenPath, median, startServer, type RunningServer } from './harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '5' },
    hold: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '100' },
  },
});
const rounds = Number(values.rounds);
const seconds = values.seconds as string;
const holdCount = Number(values.hold);
const BASELINE = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const SERVER_CPU = '0';
const DRIVER_CPU = '1';

interface Sample {
  rps: number;
  p99: number;
  sessions: number;
  bytesPerConnection: number;
}

const targets = {
  project: () => startServer(CLI, ['start', '--port', '0'], SERVER_CPU),
  baseline: () => startServer(BASELINE, ['0'], SERVER_CPU),
};

/** Resident memory of a process, in bytes. */
function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

type Driver = (port: number, mode: 'pingpong' | 'connect' | 'hold', connections: number, secs: string) => Record<string, number | string>;

const cDriver: Driver = (port, mode, connections, secs) =>
  loadgen(['-p', String(port), '-c', String(connections), '-d', secs, '--mode', mode], DRIVER_CPU);

const nodeDriver: Driver = (port, mode, connections, secs) => {
  const args = [CLI, 'bench', '-p', String(port), '-c', String(connections), '-d', secs, '-m', mode, '--json'];
  const command = hasTaskset ? ['taskset', '-c', DRIVER_CPU, process.execPath, ...args] : [process.execPath, ...args];
  const r = JSON.parse(execFileSync(command[0] as string, command.slice(1), { encoding: 'utf8' })) as {
    repliesPerSecond: number;
    sessionsPerSecond: number;
    latencyUs: { p99: number };
    held: number;
  };
  return { rps: r.repliesPerSecond, sps: r.sessionsPerSecond, p99_us: r.latencyUs.p99, alive: r.held };
};

const driver = loadgenPath() !== null ? cDriver : nodeDriver;

async function measure(start: () => Promise<RunningServer>): Promise<Sample> {
  let server = await start();
  let sample: Sample;
  try {
    const pingpong = driver(server.port, 'pingpong', Number(values.connections), seconds);
    const churn = driver(server.port, 'connect', 50, seconds);
    await server.stop();
    // A fresh server for the memory measure, so earlier load does not colour it.
    server = await start();
    const idle = rss(server.child.pid as number);
    const holdSeconds = 6;
    const sampled = new Promise<number>((resolve) => setTimeout(() => resolve(rss(server.child.pid as number)), (holdSeconds - 1.5) * 1000));
    const hold = driver(server.port, 'hold', holdCount, String(holdSeconds));
    const held = await sampled;
    if (Number(hold.alive) < holdCount) throw new Error(`only ${hold.alive} of ${holdCount} connections held`);
    sample = {
      rps: Number(pingpong.rps),
      p99: Number(pingpong.p99_us),
      sessions: Number(churn.sps),
      bytesPerConnection: (held - idle) / holdCount,
    };
  } finally {
    await server.stop();
  }
  return sample;
}

const samples: Record<'project' | 'baseline', Sample[]> = { project: [], baseline: [] };
for (let round = 0; round < rounds; round++) {
  // Alternate which goes first, so drift in the machine's state does not favour one side.
  const order = round % 2 === 0 ? (['project', 'baseline'] as const) : (['baseline', 'project'] as const);
  for (const name of order) {
    const sample = await measure(targets[name]);
    samples[name].push(sample);
    process.stderr.write(`round ${round + 1}/${rounds} ${name}: ${Math.round(sample.rps)} req/s, p99 ${sample.p99} us, ${Math.round(sample.sessions)} sessions/s, ${Math.round(sample.bytesPerConnection)} B/conn\n`);
  }
}

const rows: [string, keyof Sample, 'higher' | 'lower'][] = [
  ['throughput, ping-pong (req/s)', 'rps', 'higher'],
  ['p99 latency, ping-pong (us)', 'p99', 'lower'],
  ['connection churn (sessions/s)', 'sessions', 'higher'],
  [`memory per held connection (bytes, ${holdCount})`, 'bytesPerConnection', 'lower'],
];
console.log(`\nnode ${process.version}, driver ${driver === cDriver ? 'loadgen (C)' : 'reactor-server bench'}, ${rounds} rounds x ${seconds} s, ${hasTaskset ? `server on cpu ${SERVER_CPU}, driver on cpu ${DRIVER_CPU}` : 'not pinned'}`);
console.log(`${'measure'.padEnd(44)} ${'project'.padStart(10)} ${'baseline'.padStart(10)} ${'ratio'.padStart(7)}  better`);
for (const [label, key, better] of rows) {
  const p = median(samples.project.map((s) => s[key]));
  const b = median(samples.baseline.map((s) => s[key]));
  console.log(`${label.padEnd(44)} ${Math.round(p).toString().padStart(10)} ${Math.round(b).toString().padStart(10)} ${(p / b).toFixed(2).padStart(7)}  ${better}`);
}
