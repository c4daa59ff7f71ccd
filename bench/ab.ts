/**
 * A paired A/B of any two servers that print `listening on HOST:PORT`: both stay up, the load
 * generator drives them in turn (A B, B A, ...) for short rounds, and the median of the
 * per-round ratios A / B is printed, with each server's CPU time (user + system, from /proc)
 * per reply or session: when the load generator is the limit, rates tie but CPU shows. Short
 * alternating rounds on live servers cancel most of the machine's drift, so a 2 % difference
 * shows; use it to judge one change at a time.
 *
 *   node build/bench/ab.js [--rounds 12] [--seconds 1.5] [--mode pingpong|connect] [--connections 100] [--tls] \
 *     'name=node-args-for-A' 'name=node-args-for-B'
 *
 * `--tls`: the load generator speaks TLS (both servers must serve it; each connection makes a
 * full handshake, so `--mode connect` counts TLS sessions). `--proxy-a v1|v2` and `--proxy-b`:
 * the load generator starts each connection to that side with a PROXY protocol header (a side
 * started with `--proxy-protocol required --trusted-proxies 127.0.0.1`), so a server with the
 * PROXY stage can be set against one without it.
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
    tls: { type: 'boolean', default: false },
    'proxy-a': { type: 'string' },
    'proxy-b': { type: 'string' },
  },
});
if (positionals.length !== 2) throw new Error("give exactly two servers: 'name=script args' 'name=script args'");
if (loadgenPath() === null) throw new Error('the A/B needs a C compiler for bench/loadgen.c');
const mode = values.mode as string;

interface Side {
  name: string;
  argv: string[];
  /** Load generator arguments for this side alone. */
  loadgenArgs: string[];
  server?: RunningServer;
  results: Result[];
}
interface Result {
  rate: number;
  p50: number;
  p99: number;
  /** Server CPU microseconds per reply (per session in connect mode). */
  cpu: number;
}
const sides: Side[] = positionals.map((spec, i) => {
  const at = spec.indexOf('=');
  const proxy = i === 0 ? values['proxy-a'] : values['proxy-b'];
  const loadgenArgs = [...(values.tls ? ['--tls'] : []), ...(proxy === undefined ? [] : ['--proxy', proxy])];
  return { name: spec.slice(0, at), argv: spec.slice(at + 1).split(' '), loadgenArgs, results: [] };
});

function drive(side: Side, seconds: string): Result {
  const pid = side.server?.child.pid as number;
  const before = cpuSeconds(pid);
  const r = driveLoadgen(side.server?.port as number, mode, values.connections as string, seconds, '1', side.loadgenArgs);
  const events = Number(mode === 'connect' ? r.sessions : r.replies);
  return { rate: Number(mode === 'connect' ? r.sps : r.rps), p50: Number(r.p50_us), p99: Number(r.p99_us), cpu: ((cpuSeconds(pid) - before) / events) * 1e6 };
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
const ratio = (key: keyof Result): number[] => a.results.map((r, i) => r[key] / (b.results[i] as Result)[key]);
for (const side of sides) {
  const of = (key: keyof Result): number => median(side.results.map((r) => r[key]));
  console.log(`${side.name.padEnd(12)} ${mode === 'connect' ? 'sessions/s' : 'req/s'} ${Math.round(of('rate'))}  p50 ${of('p50')} us  p99 ${of('p99')} us  server CPU ${of('cpu').toFixed(1)} us per ${mode === 'connect' ? 'session' : 'reply'}`);
}
const rates = ratio('rate');
const cpus = ratio('cpu');
console.log(`${a.name}/${b.name}: rate ${median(rates).toFixed(3)} (per round ${rates.map((x) => x.toFixed(2)).join(' ')}), p50 ${median(ratio('p50')).toFixed(3)}, p99 ${median(ratio('p99')).toFixed(3)}`);
console.log(`${a.name}/${b.name}: server CPU per ${mode === 'connect' ? 'session' : 'reply'} ${median(cpus).toFixed(3)} (per round ${cpus.map((x) => x.toFixed(2)).join(' ')})`);
