import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { addressKey } from '../../src/admission/address-key.js';
import { AddressTable, WINDOW } from '../../src/admission/address-table.js';

const COUNT_ONLY = { maxConnectionsPerIp: 2, connectRatePerIp: 0 };

function keyOf(address: string): number[] | null {
  const key = new Uint32Array(4);
  return addressKey(address, key) ? [...key] : null;
}

/** The i-th address of 10.0.0.0/8. */
function address(i: number): string {
  return `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`;
}

describe('addressKey', () => {
  it('gives one key to one client however its address is written', () => {
    assert.deepEqual(keyOf('192.0.2.1'), keyOf('::ffff:192.0.2.1'));
    assert.deepEqual(keyOf('192.0.2.1'), keyOf('::FFFF:C000:201'));
    assert.deepEqual(keyOf('::1'), keyOf('0:0:0:0:0:0:0:1'));
    assert.deepEqual(keyOf('fe80::1%eth0'), keyOf('fe80::1'));
    assert.notDeepEqual(keyOf('192.0.2.1'), keyOf('192.0.2.2'));
    assert.notDeepEqual(keyOf('::192.0.2.1'), keyOf('192.0.2.1'), 'IPv4-compatible is another address');
  });

  it('has no key for what is not an IP address', () => {
    for (const text of ['', 'localhost', '/run/app.sock', '10.0.0.1/8', '010.0.0.1', 'fe80::1%', ' ::1']) assert.equal(keyOf(text), null, text);
  });
});

describe('AddressTable', () => {
  it('counts open connections per address, over every reactor, and admits again once one closes', () => {
    const table = AddressTable.create(64, 2, COUNT_ONLY);
    assert.equal(table.acquire('10.0.0.1', 0), null);
    assert.equal(table.acquire('::ffff:10.0.0.1', 1), null, 'the same client on the other reactor');
    assert.equal(table.acquire('10.0.0.1', 0), 'per-ip');
    assert.equal(table.acquire('10.0.0.1', 1), 'per-ip');
    assert.equal(table.acquire('10.0.0.2', 1), null, 'another address has its own count');
    assert.equal(table.openConnections('10.0.0.1'), 2);
    table.release('10.0.0.1', 1);
    assert.equal(table.acquire('10.0.0.1', 0), null);
    assert.equal(table.openConnections('10.0.0.1'), 2);
  });

  it('forgets an address as soon as its last connection closes when no rate is set', () => {
    const table = AddressTable.create(64, 1, COUNT_ONLY);
    assert.equal(table.acquire('2001:db8::7', 0), null);
    assert.equal(table.size, 1);
    table.release('2001:db8::7', 0);
    assert.equal(table.size, 0);
    assert.equal(table.openConnections('2001:db8::7'), 0);
  });

  it('ignores a release it never admitted (another reactor, an unknown address, a non-address)', () => {
    const table = AddressTable.create(64, 2, COUNT_ONLY);
    assert.equal(table.acquire('10.0.0.1', 0), null);
    table.release('10.0.0.1', 1);
    table.release('10.0.0.9', 0);
    table.release('not an address', 0);
    assert.equal(table.openConnections('10.0.0.1'), 1);
  });

  it('limits new connections with a token bucket: a burst of N, then N a second', () => {
    const table = AddressTable.create(64, 1, { maxConnectionsPerIp: 0, connectRatePerIp: 4 });
    const t0 = 1_000_000;
    for (let i = 0; i < 4; i++) assert.equal(table.acquire('10.0.0.1', 0, t0), null, `burst ${i}`);
    assert.equal(table.acquire('10.0.0.1', 0, t0), 'rate');
    assert.equal(table.acquire('10.0.0.1', 0, t0 + 200), 'rate', '0.8 of a token after 200 ms');
    assert.equal(table.acquire('10.0.0.1', 0, t0 + 250), null, 'one token after 250 ms');
    assert.equal(table.acquire('10.0.0.1', 0, t0 + 250), 'rate');
    assert.equal(table.acquire('10.0.0.2', 0, t0 + 250), null, 'another address has its own bucket');
    // Never more than the burst, however long the wait.
    for (let i = 0; i < 4; i++) assert.equal(table.acquire('10.0.0.1', 0, t0 + 60_000), null);
    assert.equal(table.acquire('10.0.0.1', 0, t0 + 60_000), 'rate');
  });

  it('takes a token for every attempt, before the open-connection limit: a client retrying at its limit runs out of tokens', () => {
    const table = AddressTable.create(64, 1, { maxConnectionsPerIp: 1, connectRatePerIp: 3 });
    const t0 = 5_000;
    assert.equal(table.acquire('10.0.0.1', 0, t0), null);
    assert.equal(table.acquire('10.0.0.1', 0, t0), 'per-ip');
    assert.equal(table.acquire('10.0.0.1', 0, t0), 'per-ip');
    assert.equal(table.acquire('10.0.0.1', 0, t0), 'rate');
  });

  it('does not limit what is not an IP address', () => {
    const table = AddressTable.create(64, 1, { maxConnectionsPerIp: 1, connectRatePerIp: 1 });
    for (let i = 0; i < 3; i++) assert.equal(table.acquire('/run/app.sock', 0), null);
    assert.equal(table.size, 0);
  });

  it('with a full window of open connections, refuses a new address as rate and counts it; a close makes room', () => {
    // WINDOW slots: every address shares the one window.
    const table = AddressTable.create(WINDOW, 1, { maxConnectionsPerIp: 5, connectRatePerIp: 0 });
    for (let i = 0; i < WINDOW; i++) assert.equal(table.acquire(address(i), 0), null);
    assert.equal(table.acquire(address(WINDOW), 0), 'rate');
    assert.equal(table.refusedForRoom, 1);
    assert.equal(table.acquire(address(3), 0), null, 'addresses already in keep being served');
    table.release(address(0), 0);
    assert.equal(table.acquire(address(WINDOW), 0), null);
    assert.equal(table.size, WINDOW);
  });

  it('evicts the least recently used idle entry when an address needs room before the others expire', () => {
    const table = AddressTable.create(WINDOW, 1, { maxConnectionsPerIp: 0, connectRatePerIp: 10 });
    const t0 = 1_000;
    for (let i = 0; i < WINDOW; i++) assert.equal(table.acquire(address(i), 0, t0 + i), null);
    // Address 0 comes back: the most recently used now.
    assert.equal(table.acquire(address(0), 0, t0 + 20), null);
    assert.equal(table.acquire(address(WINDOW), 0, t0 + 21), null);
    assert.equal(table.evictions, 1);
    assert.equal(table.size, WINDOW);
    // Address 1 was the oldest idle entry: it starts afresh (a full bucket of 10).
    for (let i = 0; i < 10; i++) assert.equal(table.acquire(address(1), 0, t0 + 22), null);
    assert.equal(table.evictions, 2);
    assert.equal(table.openConnections(address(0)), 0);
  });

  it('reuses the slot of an entry whose bucket has refilled without counting an eviction', () => {
    const table = AddressTable.create(WINDOW, 1, { maxConnectionsPerIp: 0, connectRatePerIp: 10 });
    for (let i = 0; i < WINDOW; i++) assert.equal(table.acquire(address(i), 0, 0), null);
    // One token each is back after 100 ms: every entry is idle and full again.
    for (let i = WINDOW; i < 2 * WINDOW; i++) assert.equal(table.acquire(address(i), 0, 100), null);
    assert.equal(table.evictions, 0);
    assert.equal(table.size, WINDOW);
  });

  it('stays within its capacity whatever number of addresses comes by', () => {
    const table = AddressTable.create(1000, 1, { maxConnectionsPerIp: 0, connectRatePerIp: 5 });
    assert.equal(table.capacity, 1024);
    let now = 0;
    for (let i = 0; i < 200_000; i++) assert.equal(table.acquire(address(i), 0, (now += 0.01)), null, address(i));
    assert.ok(table.size <= table.capacity, `${table.size} entries`);
    assert.ok(table.size > table.capacity / 2, `${table.size} entries: the table is used`);
  });

  it('gives back what a reactor held when it dies, and repairs the totals', () => {
    const table = AddressTable.create(64, 3, COUNT_ONLY);
    assert.equal(table.acquire('10.0.0.1', 1), null);
    assert.equal(table.acquire('10.0.0.1', 2), null);
    assert.equal(table.acquire('10.0.0.2', 2), null);
    table.releaseReactor(2);
    assert.equal(table.openConnections('10.0.0.1'), 1);
    assert.equal(table.openConnections('10.0.0.2'), 0);
    assert.equal(table.size, 1, '10.0.0.2 held nothing else: forgotten');
    table.release('10.0.0.1', 2);
    assert.equal(table.openConnections('10.0.0.1'), 1, "a late release from the dead reactor changes nothing");
    table.release('10.0.0.1', 1);
    assert.equal(table.size, 0);
  });

  it('takes the lock back from a reactor that died holding it', () => {
    const table = AddressTable.create(64, 2, COUNT_ONLY);
    assert.equal(table.acquire('10.0.0.1', 1), null);
    // Reactor 1 (lock owner id 2) ended inside an update.
    Atomics.store(new Int32Array(table.state.buffer, 0, 8), 0, 2);
    table.releaseReactor(1);
    assert.equal(table.acquire('10.0.0.1', 0), null, 'the lock is free again');
    assert.equal(table.openConnections('10.0.0.1'), 1);
  });

  it('is one table for threads that share it: no update is lost when they race', { timeout: 30_000 }, async () => {
    const table = AddressTable.create(256, 4, { maxConnectionsPerIp: 60_000, connectRatePerIp: 0 });
    const moduleUrl = new URL('../../src/admission/address-table.js', import.meta.url).href;
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.moduleUrl).then(({ AddressTable }) => {
        const table = AddressTable.attach(workerData.state);
        let refused = 0;
        for (let i = 0; i < 20000; i++) {
          const address = '10.0.0.' + (i % 8);
          if (table.acquire(address, workerData.reactor) !== null) refused++;
          if (i % 2 === 1) table.release(address, workerData.reactor);
        }
        parentPort.postMessage(refused);
      });`;
    const workers = [0, 1, 2, 3].map((reactor) => new Worker(code, { eval: true, workerData: { moduleUrl, state: table.state, reactor } }));
    const exited = Promise.all(workers.map((worker) => once(worker, 'exit')));
    const refused = await Promise.all(workers.map(async (worker) => (await once(worker, 'message'))[0] as number));
    await exited;
    assert.deepEqual(refused, [0, 0, 0, 0]);
    // Each thread acquired 20,000 and released 10,000, over 8 addresses.
    let open = 0;
    for (let i = 0; i < 8; i++) open += table.openConnections(`10.0.0.${i}`);
    assert.equal(open, 4 * 10_000);
    table.releaseReactor(0);
    table.releaseReactor(3);
    open = 0;
    for (let i = 0; i < 8; i++) open += table.openConnections(`10.0.0.${i}`);
    assert.equal(open, 2 * 10_000);
  });
});
