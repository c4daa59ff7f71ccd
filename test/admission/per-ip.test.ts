/**
 * Per-address limits on one server: open connections per address, new connections per second
 * per address (a token bucket), and the table behind them staying within its size whatever
 * number of addresses comes by.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetServer, REPLY_PREFIX, type NetServerOptions, type RejectReason } from '../../src/index.js';
import { EventLog, waitUntil, within } from '../helpers/wait.js';
import type { SeedClient } from '../helpers/seed-client.js';
import { attempt, closeAll, loopback, refused, served } from './support.js';

interface Refusal {
  address: string;
  reason: RejectReason;
}

async function start(options: Omit<NetServerOptions, 'callbacks'>): Promise<{ server: NetServer; port: number; refusals: EventLog<Refusal> }> {
  const refusals = new EventLog<Refusal>();
  const server = new NetServer({
    host: '127.0.0.1',
    port: 0,
    ...options,
    callbacks: {
      onMessage: (conn, message) => {
        if (message.toString() === 'bye') conn.close();
        else conn.send([REPLY_PREFIX, message]);
      },
      onConnectionRejected: (peer, reason) => refusals.push({ address: peer.address, reason }),
    },
  });
  const { port } = await server.start();
  return { server, port, refusals };
}

describe('admission: per-address limits on one server', () => {
  it('maxConnectionsPerIp: the connection over the limit is refused as per-ip; another address is not; a close makes room', { timeout: 10_000 }, async () => {
    const { server, port, refusals } = await start({ maxConnectionsPerIp: 3 });
    const clients: SeedClient[] = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await served(port, '127.1.0.1'));
      await refused(port, '127.1.0.1');
      assert.deepEqual(await within(refusals.waitFor(() => true), 2000, 'a refusal'), { address: '127.1.0.1', reason: 'per-ip' });
      clients.push(await served(port, '127.1.0.2'));
      assert.deepEqual(server.stats.rejectedByReason, { 'per-ip': 1 });
      const leaving = clients.shift()!;
      await closeAll([leaving]);
      await waitUntil(() => server.connectionCount === 3, 'the server saw the close');
      clients.push(await served(port, '127.1.0.1'));
      assert.equal(server.stats.rejected, 1);
    } finally {
      await closeAll(clients);
      await server.stop();
    }
  });

  it('a connection the server closes gives its place back too', { timeout: 10_000 }, async () => {
    const { server, port } = await start({ maxConnectionsPerIp: 1 });
    try {
      const first = await served(port, '127.1.1.1');
      first.send('bye');
      await first.closed;
      await waitUntil(() => server.connectionCount === 0, 'the server closed it');
      await closeAll([await served(port, '127.1.1.1')]);
      assert.equal(server.stats.rejected, 0);
    } finally {
      await server.stop();
    }
  });

  it('connectRatePerIp: a burst of N, then refused as rate, then served again once a token has refilled', { timeout: 10_000 }, async () => {
    const { server, port, refusals } = await start({ connectRatePerIp: 5 });
    try {
      const burstStart = performance.now();
      for (let i = 0; i < 5; i++) await closeAll([await served(port, '127.1.2.1')]);
      await refused(port, '127.1.2.1');
      assert.equal((await within(refusals.waitFor(() => true), 2000, 'a refusal')).reason, 'rate');
      await closeAll([await served(port, '127.1.2.2')]);
      // 5 a second: the next token is due 200 ms after the burst began.
      const client = await waitUntil(
        async () => {
          const result = await attempt(port, '127.1.2.1');
          return result.served ? result.client : null;
        },
        'a token to refill',
        3000,
        20,
      );
      const waited = performance.now() - burstStart;
      assert.ok(waited >= 150, `served again ${waited.toFixed(0)} ms after the burst began`);
      await closeAll([client]);
      assert.ok((server.stats.rejectedByReason.rate ?? 0) >= 1);
      assert.equal(server.stats.rejectedByReason['per-ip'], undefined);
    } finally {
      await server.stop();
    }
  });

  it('addressTracking: null without per-address limits', async () => {
    const server = new NetServer({ port: 0, allow: '127.0.0.0/8' });
    await server.start();
    try {
      assert.equal(server.addressTracking, null);
    } finally {
      await server.stop();
    }
  });

  it('1,500 client addresses through a table of 256: all served, the table never holds more than 256', { timeout: 60_000 }, async () => {
    // A bucket of 2 refills in a second: most entries are still warm when their slot is needed.
    const { server, port } = await start({ connectRatePerIp: 2, maxTrackedAddresses: 256 });
    try {
      const ADDRESSES = 1500;
      const CONCURRENCY = 20;
      let next = 0;
      let most = 0;
      const worker = async (): Promise<void> => {
        while (next < ADDRESSES) {
          const client = await served(port, loopback(2, next++));
          most = Math.max(most, server.addressTracking!.tracked);
          await closeAll([client]);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const tracking = server.addressTracking!;
      assert.equal(tracking.capacity, 256);
      assert.ok(most <= 256 && tracking.tracked <= 256, `at most ${most} tracked, ${tracking.tracked} now`);
      assert.ok(tracking.evictions > 0, 'idle entries were evicted to make room');
      assert.equal(tracking.refusedForRoom, 0);
      assert.equal(server.stats.rejected, 0);
    } finally {
      await server.stop();
    }
  });

  it('with every slot an address could take holding open connections, a new address is refused as rate until one closes', { timeout: 20_000 }, async () => {
    // 16 slots: one window, which every address shares.
    const { server, port, refusals } = await start({ maxConnectionsPerIp: 2, maxTrackedAddresses: 16 });
    const clients: SeedClient[] = [];
    try {
      for (let i = 0; i < 16; i++) clients.push(await served(port, loopback(3, i)));
      await refused(port, loopback(3, 16));
      assert.deepEqual(await within(refusals.waitFor(() => true), 2000, 'a refusal'), { address: loopback(3, 16), reason: 'rate' });
      assert.equal(server.addressTracking!.refusedForRoom, 1);
      clients.push(await served(port, loopback(3, 5))); // an address already tracked is served
      await closeAll(clients.splice(0, 1));
      await waitUntil(() => server.addressTracking!.tracked === 15, 'the closed address forgotten');
      clients.push(await served(port, loopback(3, 16)));
      assert.equal(server.addressTracking!.tracked, 16);
    } finally {
      await closeAll(clients);
      await server.stop();
    }
    assert.equal(server.addressTracking!.tracked, 0, 'every close released its address');
  });
});
