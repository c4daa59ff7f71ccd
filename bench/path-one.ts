/**
 * One build's message path (see message-path.ts), for path-instructions.sh: warms up, prints
 * READY, runs `--messages` messages when a line arrives on stdin, prints DONE, and exits at the
 * next line. The script counts the instructions between the two.
 *
 *   node build/bench/path-one.js BUILD [--codec seed|length|line] [--split] [--messages 200000]
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connectionOf, messageReads, run, type PathCodec } from './message-path.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    codec: { type: 'string', default: 'seed' },
    split: { type: 'boolean', default: false },
    messages: { type: 'string', default: '200000' },
  },
});
if (positionals.length !== 1) throw new Error('give one build directory');
const codec = values.codec as PathCodec;
const reads = messageReads(codec, values.split === true);
const count = Number(values.messages);
const sink = await connectionOf(positionals[0] as string, codec);
for (let i = 0; i < 5; i++) run(sink, reads, count);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
console.log('READY');
await lines.next();
run(sink, reads, count);
console.log('DONE');
await lines.next();
process.exit(0);
