/**
 * `npm run bench:runtimes`: the project on each runtime against the server one would write by
 * hand on that runtime, and every one of them against a one-thread C epoll server, in one run:
 *
 *   C reference                     bench/refserver.c (cc -O2)
 *   Node.js 20: node:net baseline   bench/baseline-server.ts    and the project (`start`)
 *   Node.js 24: the same two
 *   Bun: Bun.listen baseline        bench/bun-baseline-server.ts
 *        the project, `start --transport node`, and `start --transport bun`
 *
 *   npm run bench:runtimes -- [--rounds 5] [--seconds 1.5] [--hold 10000] [--connections 100]
 *     [--churn-connections 50] [--node20 PATH] [--node24 PATH] [--bun PATH] [--bun-transports node,bun]
 *
 * The runtimes: `--node20` (else $NODE20_BINARY, else the Node.js running this script),
 * `--node24` (else $NODE24_BINARY), `--bun` (else $BUN_BINARY). A runtime not given, or whose
 * binary does not answer `--version`, is said to be missing and its rows are skipped; so is a
 * server that exits before it is ready (the project on a build whose `start` has no
 * `--transport` yet, say), with what it printed. `--bun-transports` lists the project's rows
 * on Bun by their `--transport` value; `default` is a row started without the option.
 *
 * Every server runs on CPU 0 and the load generator (bench/loadgen.c) on CPU 1 (with taskset).
 * All servers stay up for the load measures, idle but for the one driven; each round drives every one in turn,
 * the order reversed every other round, so the machine's drift favours none. Per server:
 * ping-pong replies/s over `--connections` connections and the server's CPU time (user +
 * system, /proc) per reply; connect/request/reply/close sessions/s over `--churn-connections`
 * and its CPU per session; and the RSS one held idle connection costs a fresh server, `--hold`
 * of them (at most about 19,000: a process here may open 20,000 files). When the single-core
 * load generator is the limit, rates tie and CPU per reply or session is what tells servers
 * apart. Prints medians per server and the medians of the per-round ratios the comparison
 * asks for.
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import {
  CLI,
  cpuSeconds,
  drive,
  hasTaskset,
  inTurn,
  loadgenPath,
  median,
  memoryPerHeldConnection,
  refserverPath,
  startProgram,
  type RunningServer,
} from './harness.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '1.5' },
    hold: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '100' },
    'churn-connections': { type: 'string', default: '50' },
    node20: { type: 'string' },
    node24: { type: 'string' },
    bun: { type: 'string' },
    'bun-transports': { type: 'string', default: 'node,bun' },
  },
});
const rounds = Number(values.rounds);
const seconds = values.seconds as string;
const holdCount = Number(values.hold);
const connections = Number(values.connections);
const churnConnections = Number(values['churn-connections']);
for (const [name, value] of Object.entries({ rounds, seconds: Number(seconds), hold: holdCount, connections, 'churn-connections': churnConnections })) {
  if (!(value > 0)) throw new Error(`--${name} takes a positive number`);
}
if (holdCount > 19_000) throw new Error('--hold: at most 19000 (a process here may open 20,000 files)');
if (loadgenPath() === null) throw new Error('the runtime comparison needs a C compiler for bench/loadgen.c and bench/refserver.c');

const SERVER_CPU = '0';
const DRIVER_CPU = '1';
const NODE_BASELINE = fileURLToPath(new URL('./baseline-server.js', import.meta.url));
const BUN_BASELINE = fileURLToPath(new URL('./bun-baseline-server.js', import.meta.url));
const PROJECT = [CLI, 'start', '--port', '0'];

interface Runtime {
  name: string;
  binary: string;
  version: string;
}

/** The runtime at `binary` (given by `flag` or `variable`), or null, said why, when there is none. */
function runtime(name: string, binary: string | undefined, flag: string, variable: string): Runtime | null {
  if (binary === undefined || binary === '') {
    process.stderr.write(`${name}: no binary given (${flag} PATH or ${variable}): its rows are skipped\n`);
    return null;
  }
  const answer = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (answer.status !== 0) {
    process.stderr.write(`${name}: ${binary} does not run (${answer.error?.message ?? answer.stderr.trim()}): its rows are skipped\n`);
    return null;
  }
  return { name, binary, version: answer.stdout.trim().replace(/^v/, '') };
}

const node20 = runtime('Node.js 20', values.node20 ?? process.env.NODE20_BINARY ?? process.execPath, '--node20', 'NODE20_BINARY');
const node24 = runtime('Node.js 24', values.node24 ?? process.env.NODE24_BINARY, '--node24', 'NODE24_BINARY');
const bun = runtime('Bun', values.bun ?? process.env.BUN_BINARY, '--bun', 'BUN_BINARY');

interface Server {
  /** Its row in the table. */
  label: string;
  start(): Promise<RunningServer>;
  /** Why it has no figures: its runtime is missing, it did not start, or a measure failed. */
  unavailable?: string;
  running?: RunningServer;
  samples: Measures[];
}

interface Measures {
  rps: number;
  cpuPerReply: number;
  sessions: number;
  cpuPerSession: number;
  bytesPerConnection: number;
}

function server(label: string, program: string, args: string[]): Server {
  return { label, start: () => startProgram(program, args, SERVER_CPU), samples: [] };
}

function missing(label: string, who: string): Server {
  return { label, start: () => Promise.reject(new Error(`${who} missing`)), unavailable: `${who} missing`, samples: [] };
}

const refserver = refserverPath() as string;
const C = server('C epoll (refserver.c)', refserver, ['0']);
const nodeRows = (node: Runtime | null, name: string): [Server, Server] =>
  node === null
    ? [missing(`${name} node:net baseline`, name), missing(`${name} project`, name)]
    : [server(`node ${node.version} node:net baseline`, node.binary, [NODE_BASELINE, '0']), server(`node ${node.version} project`, node.binary, PROJECT)];
const [node20Baseline, node20Project] = nodeRows(node20, 'Node.js 20');
const [node24Baseline, node24Project] = nodeRows(node24, 'Node.js 24');
const bunBaseline = bun === null ? missing('Bun Bun.listen baseline', 'Bun') : server(`bun ${bun.version} Bun.listen baseline`, bun.binary, [BUN_BASELINE, '0']);
/** The project on Bun, one row per `--transport` value asked for. */
const bunProjects = new Map(
  (values['bun-transports'] as string)
    .split(',')
    .filter((transport) => transport !== '')
    .map((transport) => {
      const label = `project ${transport === 'default' ? '(no --transport)' : `--transport ${transport}`}`;
      const args = transport === 'default' ? PROJECT : [...PROJECT, '--transport', transport];
      return [transport, bun === null ? missing(`Bun ${label}`, 'Bun') : server(`bun ${bun.version} ${label}`, bun.binary, args)] as const;
    }),
);
const servers = [C, node20Baseline, node20Project, node24Baseline, node24Project, bunBaseline, ...bunProjects.values()];

/** Takes `target` out of the run for good, saying why. */
async function drop(target: Server, error: unknown): Promise<void> {
  const lines = (error as Error).message.split('\n');
  target.unavailable = lines[0] as string;
  // The head of what it said is enough (a refused option comes with the whole usage text).
  process.stderr.write(`${target.label}: ${lines.slice(0, 6).join('\n')}${lines.length > 6 ? '\n...' : ''}\n`);
  await target.running?.stop();
  target.running = undefined;
}

/** One load generator run; the rate and the server's CPU microseconds per reply (session). */
function measure(target: Server, mode: 'pingpong' | 'connect', secs: string): { rate: number; cpuPerEvent: number } {
  const running = target.running as RunningServer;
  const pid = running.child.pid as number;
  const before = cpuSeconds(pid);
  const result = drive(running.port, mode, mode === 'connect' ? churnConnections : connections, secs, DRIVER_CPU);
  const used = cpuSeconds(pid) - before;
  const events = Number(mode === 'connect' ? result.sessions : result.replies);
  if (!(events > 0)) throw new Error(`no ${mode === 'connect' ? 'session' : 'reply'} in ${secs} s: ${JSON.stringify(result)}`);
  return { rate: Number(mode === 'connect' ? result.sps : result.rps), cpuPerEvent: (used / events) * 1e6 };
}

const available = (): Server[] => servers.filter((target) => target.unavailable === undefined);
const loadNow = (): string => (loadavg()[0] as number).toFixed(2);
const startLoad = loadNow();

try {
  for (const target of available()) {
    try {
      target.running = await target.start();
      measure(target, 'pingpong', '1'); // warm-up, not counted
      measure(target, 'connect', '1');
    } catch (error) {
      await drop(target, error);
    }
  }
  const LOADS = [
    { mode: 'pingpong', record: (m: Measures, rate: number, cpu: number) => Object.assign(m, { rps: rate, cpuPerReply: cpu }) },
    { mode: 'connect', record: (m: Measures, rate: number, cpu: number) => Object.assign(m, { sessions: rate, cpuPerSession: cpu }) },
  ] as const;
  for (let round = 0; round < rounds; round++) {
    const inRound = available();
    for (const target of inRound) target.samples.push({ rps: 0, cpuPerReply: 0, sessions: 0, cpuPerSession: 0, bytesPerConnection: 0 });
    const sample = (target: Server): Measures => target.samples[round] as Measures;
    // Ping-pong, then churn, each in its own order: the second load's turn is the next round's.
    for (const [turn, load] of LOADS.entries()) {
      for (const target of inTurn(round + turn, inRound)) {
        if (target.unavailable !== undefined) continue;
        try {
          const { rate, cpuPerEvent } = measure(target, load.mode, seconds);
          load.record(sample(target), rate, cpuPerEvent);
        } catch (error) {
          await drop(target, error);
        }
      }
    }
    // Memory: a fresh server per measure, so earlier load does not colour it.
    for (const target of inTurn(round, inRound)) {
      if (target.unavailable !== undefined) continue;
      try {
        sample(target).bytesPerConnection = await memoryPerHeldConnection(target.start, holdCount, DRIVER_CPU);
      } catch (error) {
        await drop(target, error);
      }
    }
    for (const target of inRound) {
      if (target.unavailable !== undefined) continue;
      const m = sample(target);
      process.stderr.write(
        `round ${round + 1}/${rounds} ${target.label}: ${Math.round(m.rps)} replies/s, ${m.cpuPerReply.toFixed(1)} us CPU/reply, ` +
          `${Math.round(m.sessions)} sessions/s, ${m.cpuPerSession.toFixed(1)} us CPU/session, ${Math.round(m.bytesPerConnection)} B/conn\n`,
      );
    }
  }
} finally {
  await Promise.all(servers.map((target) => target.running?.stop()));
}

// ---- The table and the ratios ----

/** Whole numbers, but a tenth for small ones (microseconds of CPU). */
const shown = (value: number): string => (value < 100 ? value.toFixed(1) : String(Math.round(value)));
const of = (target: Server, key: keyof Measures): number => median(target.samples.map((m) => m[key]));

console.log(
  `\nruntimes: ${rounds} alternated rounds x ${seconds} s, ping-pong ${connections} connections, churn ${churnConnections} in flight, ${holdCount} held; ` +
    `${hasTaskset ? `servers on cpu ${SERVER_CPU}, load generator on cpu ${DRIVER_CPU}` : 'not pinned (no taskset)'}; load average ${startLoad} at start, ${loadNow()} now`,
);
console.log('medians per server:');
const columns: [heading: string, key: keyof Measures][] = [
  ['replies/s', 'rps'],
  ['CPU us/reply', 'cpuPerReply'],
  ['B/held conn', 'bytesPerConnection'],
  ['sessions/s', 'sessions'],
  ['CPU us/session', 'cpuPerSession'],
];
const labelWidth = Math.max(...servers.map((target) => target.label.length));
console.log(`${'server'.padEnd(labelWidth)} ${columns.map(([heading]) => heading.padStart(14)).join(' ')}`);
for (const target of servers) {
  const figures = target.unavailable === undefined && target.samples.length > 0 ? columns.map(([, key]) => shown(of(target, key)).padStart(14)).join(' ') : `unavailable: ${target.unavailable ?? 'no rounds'}`;
  console.log(`${target.label.padEnd(labelWidth)} ${figures}`);
}

type Ratio = [label: string, numerator: Server, denominator: Server, key: keyof Measures, invert: boolean, target: string];

/**
 * The median and range of the per-round ratios: numerator / denominator, or with `invert`
 * denominator / numerator (C's CPU per reply over ours: higher is better either way but memory's).
 */
function ratioLine([label, numerator, denominator, key, invert, target]: Ratio): string {
  const absent = [numerator, denominator].find((side) => side.unavailable !== undefined || side.samples.length === 0);
  if (absent !== undefined) return `${label.padEnd(64)}    n/a  (${absent.label}: unavailable)`;
  const ratios = numerator.samples.map((m, i) => {
    const [a, b] = [m[key], (denominator.samples[i] as Measures)[key]];
    return invert ? b / a : a / b;
  });
  const range = `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
  return `${label.padEnd(64)} ${median(ratios).toFixed(3).padStart(6)}  (rounds ${range}; target: ${target})`;
}

// The targets are the native transport's; the other rows on Bun are there to compare with it.
const ratios: Ratio[] = [...bunProjects].flatMap(([transport, project]): Ratio[] => {
  const name = `Bun project (${transport === 'default' ? 'no --transport' : `${transport} transport`})`;
  const target = (goal: string): string => (transport === 'bun' ? goal : 'none');
  return [
    [`${name} / Bun.listen: throughput`, project, bunBaseline, 'rps', false, target('>= 0.97')],
    [`${name} / Bun.listen: memory per held conn`, project, bunBaseline, 'bytesPerConnection', false, target('<= 1.1')],
    [`${name} / Bun.listen: churn`, project, bunBaseline, 'sessions', false, target('>= 0.95')],
    [`C CPU per reply / ${name} CPU per reply`, project, C, 'cpuPerReply', true, target('>= 0.9')],
  ];
});
for (const [node, fallback, project, baseline] of [
  [node20, 'Node.js 20', node20Project, node20Baseline],
  [node24, 'Node.js 24', node24Project, node24Baseline],
] as const) {
  const name = `${node === null ? fallback : `Node.js ${node.version}`} project / node:net`;
  ratios.push(
    [`${name}: throughput`, project, baseline, 'rps', false, '>= 1.0'],
    [`${name}: memory per held conn`, project, baseline, 'bytesPerConnection', false, '<= 1.0'],
    [`${name}: churn`, project, baseline, 'sessions', false, '>= 0.9'],
  );
}
console.log('\nmedians of the per-round ratios:');
for (const ratio of ratios) console.log(ratioLine(ratio));
