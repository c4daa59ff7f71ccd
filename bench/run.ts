/**
 * `npm run bench`: the project's server against hand-written baselines, same load, same
 * Node.js, in paired rounds (A then B, B then A, ...), server and load generator pinned to
 * different cores when taskset exists. Prints the median of each measure and the median of the
 * per-round ratios project / baseline: on a machine whose speed drifts from minute to minute,
 * the two halves of one pair see the same machine.
 *
 *   npm run bench -- [--rounds 7] [--seconds 3] [--hold 10000] [--connections 100] [--tls-hold 3000] [--only plain|tls]
 *
 * Two sets of measures, run one after the other: plaintext, against the node:net baseline
 * (bench/baseline-server.ts), and TLS, against the same server over node:tls (baseline-server.ts given a certificate)
 * with a self-signed certificate made by `openssl` for the run. `--only` runs one of them.
 *
 * The load comes from bench/loadgen.c when a C compiler is present (the numbers we judge by),
 * else from the product's own `reactor-server bench` (plaintext only: the TLS measures need
 * the C load generator and are skipped without it).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { makeBenchCertificate } from './certificate.js';
import {
  CLI,
  cpuSeconds,
  drive,
  hasTaskset,
  inTurn,
  loadgenPath,
  median,
  memoryPerHeldConnection,
  pinned,
  rssBytes,
  startServer,
  type RunningServer,
} from './harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seconds: { type: 'string', default: '3' },
    hold: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '100' },
    'tls-hold': { type: 'string', default: '3000' },
    only: { type: 'string' },
  },
});
if (values.only !== undefined && values.only !== 'plain' && values.only !== 'tls') throw new Error(`--only takes plain or tls, got ${values.only}`);
const rounds = Number(values.rounds);
const seconds = values.seconds as string;
const holdCount = Number(values.hold);
const tlsHoldCount = Number(values['tls-hold']);
const BASELINE = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const SERVER_CPU = '0';
const DRIVER_CPU = '1';

type Side = 'project' | 'baseline';
const SIDES: readonly Side[] = ['project', 'baseline'];

type Targets = Record<Side, () => Promise<RunningServer>>;

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

/** Whole numbers, but a tenth for small ones (microseconds of CPU per reply). */
const shown = (value: number): string => (value < 100 ? value.toFixed(1) : String(Math.round(value)));

type Row<M> = [label: string, key: keyof M, better: 'higher' | 'lower'];

/** Prints one table: each side's median, and the median and range of the per-round ratios. */
function printTable<M>(title: string, rows: Row<M>[], samples: Record<Side, M[]>): void {
  console.log(`\n${title}`);
  console.log(`${'measure'.padEnd(44)} ${'project'.padStart(10)} ${'baseline'.padStart(10)} ${'ratio'.padStart(7)}  better  ${'ratio range'.padStart(11)}`);
  for (const [label, key, better] of rows) {
    const project = samples.project.map((m) => m[key] as number);
    const baseline = samples.baseline.map((m) => m[key] as number);
    const ratios = project.map((p, i) => p / (baseline[i] as number));
    const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
    console.log(`${label.padEnd(44)} ${shown(median(project)).padStart(10)} ${shown(median(baseline)).padStart(10)} ${median(ratios).toFixed(2).padStart(7)}  ${better.padEnd(6)}  ${range.padStart(11)}`);
  }
}

// ---- Plaintext: the project's `start` against the node:net baseline ----

interface Measures {
  rps: number;
  p99: number;
  sessions: number;
  bytesPerConnection: number;
}

async function plaintextMeasures(): Promise<Record<Side, Measures[]>> {
  const targets: Targets = {
    project: () => startServer(CLI, ['start', '--port', '0'], SERVER_CPU),
    baseline: () => startServer(BASELINE, ['0'], SERVER_CPU),
  };

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
  return samples;
}

// ---- TLS: `start --tls-cert --tls-key` against the node:tls baseline ----

interface TlsMeasures {
  rps: number;
  p99: number;
  cpuPerReply: number;
  handshakes: number;
  cpuPerHandshake: number;
  bytesPerConnection: number;
}

/** Handshakes in flight at once in the connect measure (as in the plaintext churn). */
const TLS_CONNECT_CONCURRENCY = 50;

/**
 * One load generator run over TLS, with the server's CPU time per counted event (reply or
 * session) in microseconds: when the load generator is the limit, rates tie but CPU shows.
 */
function driveTls(server: RunningServer, mode: 'pingpong' | 'connect', connections: number, secs: string): { result: Record<string, number | string>; cpuPerEventUs: number } {
  const pid = server.child.pid as number;
  const before = cpuSeconds(pid);
  const result = drive(server.port, mode, connections, secs, DRIVER_CPU, ['--tls']);
  const used = cpuSeconds(pid) - before;
  const events = Number(mode === 'connect' ? result.sessions : result.replies);
  return { result, cpuPerEventUs: (used / events) * 1e6 };
}

async function tlsMeasures(): Promise<Record<Side, TlsMeasures[]>> {
  const certificate = makeBenchCertificate();
  const targets: Targets = {
    project: () => startServer(CLI, ['start', '--port', '0', '--tls-cert', certificate.cert, '--tls-key', certificate.key], SERVER_CPU),
    baseline: () => startServer(BASELINE, ['0', certificate.cert, certificate.key], SERVER_CPU),
  };

  /**
   * Bytes of resident memory one held TLS connection costs a fresh server, sampled once every
   * handshake is done (a burst of TLS handshakes takes seconds, and how many depends on the machine).
   */
  async function memoryPerConnection(side: Side): Promise<number> {
    try {
      return await memoryPerHeldConnection(targets[side], tlsHoldCount, DRIVER_CPU, ['--tls']);
    } catch (error) {
      throw new Error(`${side}: ${(error as Error).message} (TLS)`);
    }
  }

  const samples: Record<Side, TlsMeasures[]> = { project: [], baseline: [] };
  const servers = {} as Record<Side, RunningServer>;
  const connections = Number(values.connections);
  try {
    for (const side of SIDES) servers[side] = await targets[side]();
    for (const side of SIDES) {
      driveTls(servers[side], 'pingpong', connections, '1');
      driveTls(servers[side], 'connect', TLS_CONNECT_CONCURRENCY, '1');
    }
    for (let round = 0; round < rounds; round++) {
      for (const side of SIDES) samples[side].push({ rps: 0, p99: 0, cpuPerReply: 0, handshakes: 0, cpuPerHandshake: 0, bytesPerConnection: 0 });
      for (const side of inTurn(round, SIDES)) {
        const { result, cpuPerEventUs } = driveTls(servers[side], 'pingpong', connections, seconds);
        Object.assign(samples[side][round] as TlsMeasures, { rps: Number(result.rps), p99: Number(result.p99_us), cpuPerReply: cpuPerEventUs });
      }
      for (const side of inTurn(round + 1, SIDES)) {
        const { result, cpuPerEventUs } = driveTls(servers[side], 'connect', TLS_CONNECT_CONCURRENCY, seconds);
        Object.assign(samples[side][round] as TlsMeasures, { handshakes: Number(result.sps), cpuPerHandshake: cpuPerEventUs });
      }
      for (const side of inTurn(round, SIDES)) (samples[side][round] as TlsMeasures).bytesPerConnection = await memoryPerConnection(side);
      for (const side of SIDES) {
        const m = samples[side][round] as TlsMeasures;
        process.stderr.write(
          `TLS round ${round + 1}/${rounds} ${side.padEnd(8)}: ${Math.round(m.rps)} req/s, p99 ${m.p99} us, ${m.cpuPerReply.toFixed(1)} us CPU/reply, ` +
            `${Math.round(m.handshakes)} handshakes/s, ${Math.round(m.cpuPerHandshake)} us CPU/handshake, ${Math.round(m.bytesPerConnection)} B/conn\n`,
        );
      }
    }
  } finally {
    await Promise.all(SIDES.map((side) => servers[side]?.stop()));
    certificate.remove();
  }
  return samples;
}

// The machine's load average at the start and at the end of each set: other work on a shared
// machine is the first thing to check when the ranges are wide.
const loadNow = (): string => (loadavg()[0] as number).toFixed(2);
const startLoad = loadNow();
const setting = (): string =>
  `node ${process.version}, ${rounds} paired rounds x ${seconds} s, ${hasTaskset ? `server on cpu ${SERVER_CPU}, driver on cpu ${DRIVER_CPU}` : 'not pinned'}, load average ${startLoad} at start, ${loadNow()} now`;
const ratioNote = 'medians of each side, and the median of the per-round ratios project / baseline:';

if (values.only !== 'tls') {
  const samples = await plaintextMeasures();
  printTable<Measures>(
    `plaintext, against node:net: ${setting()}, driver ${driver === cDriver ? 'loadgen (C)' : 'reactor-server bench'}\n${ratioNote}`,
    [
      ['throughput, ping-pong (req/s)', 'rps', 'higher'],
      ['p99 latency, ping-pong (us)', 'p99', 'lower'],
      ['connection churn (sessions/s)', 'sessions', 'higher'],
      [`memory per held connection (bytes, ${holdCount})`, 'bytesPerConnection', 'lower'],
    ],
    samples,
  );
}

if (values.only !== 'plain') {
  if (driver !== cDriver) {
    process.stderr.write('TLS measures skipped: they need the C load generator (a C compiler and OpenSSL, Debian libssl-dev)\n');
  } else {
    const samples = await tlsMeasures();
    printTable<TlsMeasures>(
      `TLS, against node:tls (EC P-256 certificate, full handshakes): ${setting()}, driver loadgen (C) --tls\n${ratioNote}`,
      [
        [`TLS throughput, ping-pong (req/s, ${values.connections} conns)`, 'rps', 'higher'],
        ['TLS p99 latency, ping-pong (us)', 'p99', 'lower'],
        ['server CPU per TLS reply (us)', 'cpuPerReply', 'lower'],
        [`TLS handshakes (sessions/s, ${TLS_CONNECT_CONCURRENCY} in flight)`, 'handshakes', 'higher'],
        ['server CPU per TLS session (us)', 'cpuPerHandshake', 'lower'],
        [`memory per held TLS connection (bytes, ${tlsHoldCount})`, 'bytesPerConnection', 'lower'],
      ],
      samples,
    );
  }
}
