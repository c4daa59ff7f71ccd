/**
 * Inline vs thread pool, for a trivial handler (the echo) and a CPU-heavy one (2,000 rounds of
 * SHA-256 per message), under the same ping-pong load. Alternates configurations over several
 * rounds and prints the medians.
 *
 *   npm run build && node build/bench/pool-crossover.js [--rounds 3] [--seconds 4] [--connections 50]
 */
import { CLI, drive, median, startServer } from './harness.js';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string', default: '2' },
  },
});
const SHA = fileURLToPath(new URL('./tasks/sha256.js', import.meta.url));
const workers = values.workers as string;
const configs: { name: string; args: string[] }[] = [
  { name: 'echo inline', args: [] },
  { name: `echo pool(${workers})`, args: ['--task-workers', workers] },
  { name: 'sha256x2000 inline', args: ['--task-module', SHA] },
  { name: `sha256x2000 pool(${workers})`, args: ['--task-workers', workers, '--task-module', SHA] },
];

const results = new Map<string, { rps: number[]; p99: number[] }>(configs.map((c) => [c.name, { rps: [], p99: [] }]));
for (let round = 0; round < Number(values.rounds); round++) {
  for (const config of configs) {
    const server = await startServer(CLI, ['start', '--port', '0', ...config.args]);
    try {
      const r = drive(server.port, 'pingpong', values.connections as string, values.seconds as string);
      results.get(config.name)!.rps.push(r.rps as number);
      results.get(config.name)!.p99.push(r.p99_us as number);
    } finally {
      await server.stop();
    }
  }
}
console.log(`node ${process.version}, ${values.connections} connections ping-pong, ${values.seconds} s x ${values.rounds} rounds (medians)`);
console.log('config                     req/s      p99 us');
for (const [name, r] of results) console.log(`${name.padEnd(26)} ${String(Math.round(median(r.rps))).padStart(7)} ${String(Math.round(median(r.p99))).padStart(10)}`);
