/**
 * A paired A/B of any two servers that print `listening on HOST:PORT`: both stay up, the load
 * generator drives them in turn (A B, B A, ...) for short rounds, and the median of the
 * per-round ratios A / B is printed. Short alternating rounds on live servers cancel most of
 * the machine's drift, so a 2 % difference shows; use it to judge one change at a time.
 *
 *   node build/bench/ab.js [--rounds 12] [--seconds 1.5] [--mode pingpong|connect] [--connections 100] [--cpu] \
 *     'name=node-args-for-A' 'name=node-args-for-B'
 *
 * `--cpu` also reports the server CPU time (user + system, the server process and every process
 * under it) per reply or session in each round: steadier than rates on a busy machine, and it
 * counts a processes group's workers too.
 *
 * Node arguments are split on spaces, e.g.
 *   node build/bench/ab.js 'project=build/src/cli/main.js start --port 0' 'baseline=build/bench/baseline-server.js 0'
 */
import { parseArgs } from 'node:util';
import { cpuSeconds, drive as driveLoadgen, inTurn, loadgenPath, median, startServer, type RunningServer } from './harness.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '12' },
    seconds: { type: 'string', default: '1.5' },
    mode: { type: 'string', default: 'pingpong' },
    connections: { type: 'string', default: '100' },
    cpu: { type: 'boolean', default: false },
  },
});
if (positionals.length !== 2) throw new Error("give exactly two servers: 'name=script args' 'name=script args'");
if (loadgenPath() === null) throw new Error('the A/B needs a C compiler for bench/loadgen.c');
const mode = values.mode as string;

interface Side {
  name: string;
  argv: string[];
  server?: RunningServer;
  results: { rate: number; p50: number; p99: number; cpuUs: number }[];
}
const sides: Side[] = positionals.map((spec) => {
  const at = spec.indexOf('=');
  return { name: spec.slice(0, at), argv: spec.slice(at + 1).split(' '), results: [] };
});

function drive(side: Side, seconds: string): Side['results'][number] {
  const pid = side.server?.child.pid as number;
  const cpuBefore = values.cpu === true ? cpuSeconds(pid) : 0;
  const r = driveLoadgen(side.server?.port as number, mode, values.connections as string, seconds, '1');
  const units = Number(mode === 'connect' ? r.sessions : r.replies);
  const cpuUs = values.cpu === true && units > 0 ? ((cpuSeconds(pid) - cpuBefore) * 1e6) / units : 0;
  return { rate: Number(mode === 'connect' ? r.sps : r.rps), p50: Number(r.p50_us), p99: Number(r.p99_us), cpuUs };
}

try {
  for (const side of sides) side.server = await startServer(side.argv[0] as string, side.argv.slice(1), '0');
  for (const side of sides) drive(side, '1'); // warm-up, not counted
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const side of inTurn(round, sides)) side.results.push(drive(side, values.seconds as string));
  }
} finally {
  await Promise.all(sides.map((side) => side.server?.stop()));
}

const [a, b] = sides as [Side, Side];
const ratio = (key: 'rate' | 'p50' | 'p99' | 'cpuUs'): number[] => a.results.map((r, i) => r[key] / (b.results[i] as Side['results'][number])[key]);
for (const side of sides) {
  console.log(`${side.name.padEnd(12)} ${mode === 'connect' ? 'sessions/s' : 'req/s'} ${Math.round(median(side.results.map((r) => r.rate)))}  p50 ${median(side.results.map((r) => r.p50))} us  p99 ${median(side.results.map((r) => r.p99))} us`);
}
const rates = ratio('rate');
console.log(`${a.name}/${b.name}: rate ${median(rates).toFixed(3)} (per round ${rates.map((x) => x.toFixed(2)).join(' ')}), p50 ${median(ratio('p50')).toFixed(3)}, p99 ${median(ratio('p99')).toFixed(3)}`);
if (values.cpu === true) {
  const unit = mode === 'connect' ? 'session' : 'reply';
  const cpu = ratio('cpuUs');
  for (const side of sides) console.log(`${side.name.padEnd(12)} server CPU per ${unit} ${median(side.results.map((r) => r.cpuUs)).toFixed(2)} us`);
  console.log(`${a.name}/${b.name}: server CPU per ${unit} ${median(cpu).toFixed(3)} (per round ${cpu.map((x) => x.toFixed(2)).join(' ')})`);
}
