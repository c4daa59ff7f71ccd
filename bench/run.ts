/**
 * `npm run bench`: the project's server against the hand-written node:net baseline, same load,
 * same Node.js, in paired rounds (A then B, B then A, ...), server and load generator pinned to
 * different cores when taskset exists. Prints the median of each measure and the median of the
 * per-round ratios project / baseline: on a machine whose speed drifts from minute to minute,
 * the two halves of one pair see the same machine.
 *
 *   npm run bench -- [--rounds 7] [--seconds 3] [--hold 10000] [--connections 100]
 *
 * The load comes from bench/loadgen.c when a C compiler is present (the numbers we judge by),
 * else from the product's own `reactor-server bench`.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { CLI, drive, hasTaskset, inTurn, loadgenPath, median, pinned, rssBytes, startServer, type RunningServer } from './harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '3' },
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

type Side = 'project' | 'baseline';
const SIDES: readonly Side[] = ['project', 'baseline'];

const targets = {
  project: () => startServer(CLI, ['start', '--port', '0'], SERVER_CPU),
  baseline: () => startServer(BASELINE, ['0'], SERVER_CPU),
};

type Driver = (port: number, mode: 'pingpong' | 'connect' | 'hold', connections: number, secs: string) => Record<string, number | string>;

const cDriver: Driver = (port, mode, connections, secs) => drive(port, mode, connections, secs, DRIVER_CPU);

const nodeDriver: Driver = (port, mode, connections, secs) => {
  const args = [CLI, 'bench', '-p', String(port), '-c', String(connections), '-d', secs, '-m', mode, '--json'];
  const [command, argv] = pinned(DRIVER_CPU, process.execPath, args);
  const r = JSON.parse(execFileSync(command, argv, { encoding: 'utf8' })) as {
    repliesPerSecond: number;
    sessionsPerSecond: number;
    latencyUs: { p99: number };
    held: number;
  };
  return { rps: r.repliesPerSecond, sps: r.sessionsPerSecond, p99_us: r.latencyUs.p99, alive: r.held };
};

const driver = loadgenPath() !== null ? cDriver : nodeDriver;

/** Bytes of resident memory one held connection costs a fresh server. */
async function memoryPerConnection(side: Side): Promise<number> {
  const server = await targets[side]();
  try {
    const idle = rssBytes(server.child.pid as number);
    const holdSeconds = 6;
    const sampled = new Promise<number>((resolve) => setTimeout(() => resolve(rssBytes(server.child.pid as number)), (holdSeconds - 1.5) * 1000));
    const hold = driver(server.port, 'hold', holdCount, String(holdSeconds));
    const held = await sampled;
    const alive = Number(hold.alive);
    // A connect burst can lose the odd SYN to a full accept queue; more than 1 % lost is a fault.
    if (!(alive >= holdCount * 0.99)) throw new Error(`${side}: only ${alive} of ${holdCount} connections held`);
    return (held - idle) / alive;
  } finally {
    await server.stop();
  }
}

interface Measures {
  rps: number;
  p99: number;
  sessions: number;
  bytesPerConnection: number;
}
const samples: Record<Side, Measures[]> = { project: [], baseline: [] };

// Load measures: both servers stay up for every round, so each pair is measured back to back
// on a warmed-up process, and the ratio is taken per pair (the VM's drift cancels within it).
const servers = {} as Record<Side, RunningServer>;
try {
  for (const side of SIDES) servers[side] = await targets[side]();
  for (const side of SIDES) driver(servers[side].port, 'pingpong', Number(values.connections), '1');
  for (let round = 0; round < rounds; round++) {
    for (const side of SIDES) samples[side].push({ rps: 0, p99: 0, sessions: 0, bytesPerConnection: 0 });
    for (const side of inTurn(round, SIDES)) {
      const pingpong = driver(servers[side].port, 'pingpong', Number(values.connections), seconds);
      Object.assign(samples[side][round] as Measures, { rps: Number(pingpong.rps), p99: Number(pingpong.p99_us) });
    }
    for (const side of inTurn(round + 1, SIDES)) {
      const churn = driver(servers[side].port, 'connect', 50, seconds);
      (samples[side][round] as Measures).sessions = Number(churn.sps);
    }
    // Memory: a fresh server per measure, so earlier load does not colour it.
    for (const side of inTurn(round, SIDES)) (samples[side][round] as Measures).bytesPerConnection = await memoryPerConnection(side);
    for (const side of SIDES) {
      const m = samples[side][round] as Measures;
      process.stderr.write(`round ${round + 1}/${rounds} ${side.padEnd(8)}: ${Math.round(m.rps)} req/s, p99 ${m.p99} us, ${Math.round(m.sessions)} sessions/s, ${Math.round(m.bytesPerConnection)} B/conn\n`);
    }
  }
} finally {
  // A side that failed to start has nothing to stop.
  await Promise.all(SIDES.map((side) => servers[side]?.stop()));
}

const rows: [string, keyof Measures, 'higher' | 'lower'][] = [
  ['throughput, ping-pong (req/s)', 'rps', 'higher'],
  ['p99 latency, ping-pong (us)', 'p99', 'lower'],
  ['connection churn (sessions/s)', 'sessions', 'higher'],
  [`memory per held connection (bytes, ${holdCount})`, 'bytesPerConnection', 'lower'],
];
console.log(`\nnode ${process.version}, driver ${driver === cDriver ? 'loadgen (C)' : 'reactor-server bench'}, ${rounds} paired rounds x ${seconds} s, ${hasTaskset ? `server on cpu ${SERVER_CPU}, driver on cpu ${DRIVER_CPU}` : 'not pinned'}`);
console.log('medians of each side, and the median of the per-round ratios project / baseline:');
console.log(`${'measure'.padEnd(44)} ${'project'.padStart(10)} ${'baseline'.padStart(10)} ${'ratio'.padStart(7)}  better  ${'ratio range'.padStart(11)}`);
for (const [label, key, better] of rows) {
  const project = samples.project.map((m) => m[key]);
  const baseline = samples.baseline.map((m) => m[key]);
  const ratios = project.map((p, i) => p / (baseline[i] as number));
  const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
  console.log(`${label.padEnd(44)} ${Math.round(median(project)).toString().padStart(10)} ${Math.round(median(baseline)).toString().padStart(10)} ${median(ratios).toFixed(2).padStart(7)}  ${better.padEnd(6)}  ${range.padStart(11)}`);
}
