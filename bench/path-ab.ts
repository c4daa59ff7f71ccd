/**
 * The message path of two builds, side by side in one process (see message-path.ts): rounds
 * alternate between them and the median of the per-round ratios B / A is printed. No system
 * calls and no other process, so a change to the JavaScript of the read path shows here when
 * loopback runs on a busy machine swing by more than it. For a count that does not swing with
 * the machine at all, see path-instructions.sh.
 *
 *   node build/bench/path-ab.js [--codec seed|length|line] [--split] [--rounds 30] BUILD_A BUILD_B
 *
 * BUILD_* is a build directory (the one holding src/index.js), for example an older release's
 * `build` beside this one's. `--split` cuts every message across two reads, so each read
 * leaves a message unfinished or finishes one.
 */
import { parseArgs } from 'node:util';
import { median } from './harness.js';
import { connectionOf, messageReads, run, type PathCodec } from './message-path.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    codec: { type: 'string', default: 'seed' },
    split: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '30' },
    messages: { type: 'string', default: '300000' },
  },
});
if (positionals.length !== 2) throw new Error('give two build directories: BUILD_A BUILD_B');
const codec = values.codec as PathCodec;
const reads = messageReads(codec, values.split === true);
const count = Number(values.messages);

const a = await connectionOf(positionals[0] as string, codec);
const b = await connectionOf(positionals[1] as string, codec);
// Warm-up, not counted.
for (let i = 0; i < 5; i++) {
  run(a, reads, count);
  run(b, reads, count);
}
const times: { a: number[]; b: number[] } = { a: [], b: [] };
for (let round = 0; round < Number(values.rounds); round++) {
  if (round % 2 === 0) {
    times.a.push(run(a, reads, count));
    times.b.push(run(b, reads, count));
  } else {
    times.b.push(run(b, reads, count));
    times.a.push(run(a, reads, count));
  }
}
const ratios = times.b.map((t, i) => t / (times.a[i] as number)).sort((x, y) => x - y);
console.log(
  `${codec}${values.split === true ? ' split' : ''}: A ${median(times.a).toFixed(0)} ns, B ${median(times.b).toFixed(0)} ns per message; ` +
    `B/A ${median(ratios).toFixed(3)} (rounds ${(ratios[0] as number).toFixed(2)}-${(ratios.at(-1) as number).toFixed(2)})`,
);
