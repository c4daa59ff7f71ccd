/**
 * `allow` and `deny`: who may connect at all, decided from the client's address at accept. A
 * refused client is reset at once, counted by reason, and reported; nobody else notices.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidOptionError, NetServer, REPLY_PREFIX, type NetServerOptions, type RejectReason } from '../../src/index.js';
import { EventLog, within } from '../helpers/wait.js';
import { attempt, closeAll, served } from './support.js';

interface Refusal {
  address: string;
  port: number;
  reason: RejectReason;
}

/** An echo server with `options`, recording its refusals and its connections' peers. */
async function start(options: Omit<NetServerOptions, 'callbacks'>): Promise<{ server: NetServer; port: number; refusals: EventLog<Refusal>; opened: string[] }> {
  const refusals = new EventLog<Refusal>();
  const opened: string[] = [];
  const server = new NetServer({
    host: '127.0.0.1',
    port: 0,
    ...options,
    callbacks: {
      onConnection: (conn) => void opened.push(conn.remoteAddress),
      onMessage: (conn, message) => void conn.send([REPLY_PREFIX, message]),
      onConnectionRejected: (peer, reason) => refusals.push({ ...peer, reason }),
    },
  });
  const { port } = await server.start();
  return { server, port, refusals, opened };
}

describe('admission: allow and deny lists', () => {
  it('deny: a client in a denied range is reset at once, counted and reported with its address; others are served', { timeout: 10_000 }, async () => {
    const { server, port, refusals, opened } = await start({ deny: '127.0.2.0/24, 10.0.0.0/8' });
    try {
      const denied = await attempt(port, '127.0.2.9');
      assert.equal(denied.served, false);
      const refusal = await within(refusals.waitFor(() => true), 2000, 'onConnectionRejected');
      assert.deepEqual([refusal.address, refusal.reason], ['127.0.2.9', 'deny']);
      // The client learns its port only if its connect completed before the reset arrived.
      assert.ok(refusal.port > 0 && (denied.localPort === -1 || refusal.port === denied.localPort), `peer port ${refusal.port}, client's ${denied.localPort}`);
      assert.equal(server.stats.rejected, 1);
      assert.deepEqual(server.stats.rejectedByReason, { deny: 1 });
      const client = await served(port, '127.0.3.9');
      assert.deepEqual(opened, ['127.0.3.9'], 'onConnection ran for the served client only');
      await closeAll([client]);
    } finally {
      await server.stop();
    }
  });

  it('allow: only clients in an allowed range are served; the rest are refused as allow', { timeout: 10_000 }, async () => {
    const { server, port, refusals } = await start({ allow: ['127.0.4.0/24', '127.0.5.7'] });
    try {
      const clients = [await served(port, '127.0.4.1'), await served(port, '127.0.4.254'), await served(port, '127.0.5.7')];
      for (const address of ['127.0.5.8', '127.0.0.1']) assert.equal((await attempt(port, address)).served, false, address);
      await within(refusals.waitFor(() => refusals.events.length === 2), 2000, 'two refusals');
      assert.deepEqual(
        refusals.events.map((r) => [r.address, r.reason]),
        [
          ['127.0.5.8', 'allow'],
          ['127.0.0.1', 'allow'],
        ],
      );
      assert.deepEqual(server.stats.rejectedByReason, { allow: 2 });
      assert.equal(server.connectionCount, 3);
      await closeAll(clients);
    } finally {
      await server.stop();
    }
  });

  it('deny wins over allow', { timeout: 10_000 }, async () => {
    const { server, port, refusals } = await start({ allow: '127.0.6.0/24', deny: '127.0.6.66' });
    try {
      assert.equal((await attempt(port, '127.0.6.66')).served, false);
      assert.equal((await within(refusals.waitFor(() => true), 2000, 'a refusal')).reason, 'deny');
      await closeAll([await served(port, '127.0.6.67')]);
    } finally {
      await server.stop();
    }
  });

  it('matches an IPv4 client of a dual-stack listener (::ffff:a.b.c.d) against IPv4 ranges', { timeout: 10_000 }, async (t) => {
    let result: Awaited<ReturnType<typeof start>>;
    try {
      result = await start({ host: '::', deny: '127.0.7.0/24' });
    } catch (err) {
      t.skip(`no dual-stack listener here: ${(err as Error).message}`);
      return;
    }
    const { server, port, refusals } = result;
    try {
      assert.equal((await attempt(port, '127.0.7.1')).served, false);
      const refusal = await within(refusals.waitFor(() => true), 2000, 'a refusal');
      assert.deepEqual([refusal.address, refusal.reason], ['::ffff:127.0.7.1', 'deny']);
      await closeAll([await served(port, '127.0.8.1')]);
    } finally {
      await server.stop();
    }
  });

  it('refuses a bad range when the server is made, naming the option and the entry', () => {
    const cases: [NetServerOptions, string, RegExp][] = [
      [{ allow: '10.0.0.1/8' }, 'allow', /"10\.0\.0\.1\/8" has address bits set past its prefix length \(the range is 10\.0\.0\.0\/8\)/],
      [{ deny: ['127.0.0.1', 'nope'] }, 'deny', /"nope" is not an IPv4 or IPv6 address/],
      [{ deny: '10.0.0.0/33' }, 'deny', /prefix length of an IPv4 range is a number from 0 to 32/],
      [{ allow: 7 as unknown as string }, 'allow', /must be a comma-separated list/],
    ];
    for (const [options, option, message] of cases) {
      assert.throws(
        () => new NetServer({ port: 0, ...options }),
        (err: unknown) => err instanceof InvalidOptionError && err.option === option && message.test(err.message),
        JSON.stringify(options),
      );
    }
  });
});
