/**
 * What admission control costs per connection, the decision alone (no sockets): the lists, the
 * address table on one thread, and the table shared by threads admitting at the same time.
 *
 *   node build/bench/admission-cost.js [--ops 2000000] [--threads 2]
 *
 * Prints nanoseconds per admission (and release, where open connections are counted), the
 * median of 5 runs each.
 */
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { AdmissionControl, tableLimiter } from '../src/admission/admission-control.js';
import { AddressTable } from '../src/admission/address-table.js';
import { median } from './harness.js';

const { values } = parseArgs({ options: { ops: { type: 'string', default: '2000000' }, threads: { type: 'string', default: '2' } } });
const OPS = Number(values.ops);
const THREADS = Number(values.threads);
const LIMITS = { maxConnectionsPerIp: 65535, connectRatePerIp: 1_000_000 };

/** `count` distinct client addresses, as sockets report them. */
function addresses(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`);
}

function nsPerOp(run: () => void): number {
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = process.hrtime.bigint();
    run();
    runs.push(Number(process.hrtime.bigint() - start) / OPS);
  }
  return median(runs);
}

function admitLoop(control: AdmissionControl, pool: readonly string[]): () => void {
  return () => {
    for (let i = 0; i < OPS; i++) {
      const address = pool[i % pool.length]!;
      if (control.admit(address) === null) control.released(address);
    }
  };
}

const few = addresses(16);
const many = addresses(50_000);
const lists = { allow: '10.0.0.0/8,192.168.0.0/16,2001:db8::/32', deny: '10.66.0.0/16,10.1.2.3' };
const none = { allow: [], deny: [] };

console.log(`ns per admission (+ release), ${OPS} operations, median of 5 runs`);
console.log(`allow + deny lists (5 ranges)      ${nsPerOp(admitLoop(new AdmissionControl(lists, null), few)).toFixed(0)}`);
const table = (): AddressTable => AddressTable.create(65536, 1, LIMITS);
console.log(`table, 16 addresses                ${nsPerOp(admitLoop(new AdmissionControl(none, tableLimiter(table(), 0)), few)).toFixed(0)}`);
console.log(`table, 50,000 addresses            ${nsPerOp(admitLoop(new AdmissionControl(none, tableLimiter(table(), 0)), many)).toFixed(0)}`);

// Threads sharing one table, all admitting at once: the lock's cost under contention.
const shared = AddressTable.create(65536, THREADS, LIMITS);
const code = `
  const { workerData, parentPort } = require('node:worker_threads');
  import(workerData.url).then(({ AddressTable }) => {
    const table = AddressTable.attach(workerData.state);
    const { ops, reactor, pool } = workerData;
    parentPort.once('message', () => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < ops; i++) {
        const address = pool[i % pool.length];
        if (table.acquire(address, reactor) === null) table.release(address, reactor);
      }
      parentPort.postMessage(Number(process.hrtime.bigint() - start) / ops);
    });
    parentPort.postMessage('ready');
  });`;
const url = new URL('../src/admission/address-table.js', import.meta.url).href;
const results: number[] = [];
for (let r = 0; r < 3; r++) {
  const workers = Array.from({ length: THREADS }, (_, reactor) => new Worker(code, { eval: true, workerData: { url, state: shared.state, ops: OPS, reactor, pool: few } }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const done = workers.map((w) => new Promise<number>((resolve) => w.once('message', resolve)));
  for (const w of workers) w.postMessage('go');
  results.push(median(await Promise.all(done)));
  await Promise.all(workers.map((w) => w.terminate()));
}
console.log(`table shared by ${THREADS} threads at once    ${median(results).toFixed(0)} (each thread, 16 addresses)`);
