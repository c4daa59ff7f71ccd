/**
 * A ReactorGroup running the default echo with 1, 2 and 4 reactors, in every mode: 100
 * connections spread over every reactor, the group's broadcast reaches them all, two reactors
 * really are two loops, and stop() drains everything.
 *
 * Each describe shares one group and its 100 clients between its tests, in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { ReactorGroup, type GroupStats, type ReactorInfo } from '../../src/index.js';
import { expectedReply, type SeedClient } from '../helpers/seed-client.js';
import { assertEchoes, assertReactorsGone, assertRefused, closeAll, connectMany, KIND, MODES, REACTOR_COUNTS, workerHandleCount } from './helpers.js';

const CLIENTS = 100;
const TIMEOUT = { timeout: 30_000 };

function perReactor(stats: GroupStats, key: 'accepted' | 'connections' | 'messagesIn' | 'messagesOut'): number[] {
  return stats.reactors.map(({ stats: s }) => s[key]);
}

for (const { mode, skip } of MODES) {
  for (const count of REACTOR_COUNTS) {
    describe(`reactors: ${mode}, ${count} reactor${count === 1 ? '' : 's'}, default echo`, () => {
      let group: ReactorGroup | null = null;
      let port = 0;
      let clients: SeedClient[] = [];
      let baselineWorkerHandles = 0;
      const exits: ReactorInfo[] = [];

      before(async () => {
        if (skip !== false) return;
        baselineWorkerHandles = workerHandleCount();
        group = new ReactorGroup({ workers: count, reactorMode: mode, port: 0, onReactorExit: (reactor) => exits.push(reactor) });
        port = (await group.start()).port;
      }, TIMEOUT);

      after(async () => {
        await closeAll(clients);
        await group?.stop();
      }, TIMEOUT);

      it(`spreads ${CLIENTS} simultaneous connections over every reactor, each echoed byte-exact`, { skip, ...TIMEOUT }, async () => {
        assert.ok(group !== null);
        assert.equal(group.mode, mode);
        assert.equal(group.size, count);
        clients = await connectMany(port, CLIENTS);
        await assertEchoes(clients);

        const stats = await group.stats();
        assert.equal(stats.reactors.length, count, 'every reactor answers stats');
        const accepted = perReactor(stats, 'accepted');
        for (const [i, n] of accepted.entries()) assert.ok(n > 0, `reactor ${i} accepted no connection: ${accepted.join(', ')}`);
        assert.equal(accepted.reduce((a, b) => a + b, 0), CLIENTS);
        assert.equal(stats.total.accepted, CLIENTS);
        assert.equal(stats.total.connections, CLIENTS, 'all clients are still connected');
        assert.equal(stats.total.messagesIn, CLIENTS);
        assert.equal(stats.total.messagesOut, CLIENTS);
        assert.deepEqual(perReactor(stats, 'messagesIn'), accepted, 'each reactor handled the message of each of its connections');

        // Every reactor is its own thread or process, none of them this one.
        const ids = stats.reactors.map(({ reactor }) => reactor.id);
        assert.equal(new Set(ids).size, count, `reactor ids must be distinct: ${ids.join(', ')}`);
        assert.deepEqual(
          stats.reactors.map(({ reactor }) => reactor),
          group.reactors,
          'stats report the reactors the group lists, in slot order',
        );
        for (const reactor of group.reactors) {
          assert.equal(reactor.kind, KIND[mode]);
          assert.equal(reactor.restarts, 0);
          assert.notEqual(reactor.id, mode === 'processes' ? process.pid : threadId);
        }
        assert.deepEqual(exits, [], 'no reactor ended');
      });

      if (count === 2) {
        it('runs two event loops that both handle messages under a 100-connection load', { skip, ...TIMEOUT }, async () => {
          assert.ok(group !== null);
          assert.equal(clients.length, CLIENTS, 'the clients of the first test are connected');
          const baseline = await group.stats();
          const rounds = 10;
          // Every client goes round trip after round trip, all at once.
          await Promise.all(
            clients.map(async (client, i) => {
              for (let round = 1; round <= rounds; round++) {
                const message = Buffer.from(`load ${i} ${round}`);
                assert.deepEqual(await client.request(message), expectedReply(message));
              }
            }),
          );
          const afterLoad = await group.stats();
          const handled = afterLoad.reactors.map(({ stats }, i) => stats.messagesIn - (baseline.reactors[i]?.stats.messagesIn ?? 0));
          assert.equal(handled.length, 2);
          for (const [i, n] of handled.entries()) assert.ok(n > 0, `reactor ${i} handled no message under load: ${handled.join(', ')}`);
          assert.equal(handled[0]! + handled[1]!, CLIENTS * rounds);
          assert.notEqual(afterLoad.reactors[0]!.reactor.id, afterLoad.reactors[1]!.reactor.id);
        });
      }

      it('group.broadcast() reaches every client on every reactor', { skip, ...TIMEOUT }, async () => {
        assert.ok(group !== null);
        assert.equal(clients.length, CLIENTS, 'the clients of the first test are connected');
        const open = perReactor(await group.stats(), 'connections');
        for (const [i, n] of open.entries()) assert.ok(n > 0, `reactor ${i} has no client: ${open.join(', ')}`);

        const binary = Buffer.from([0, 1, 0xff, 0xfe, 0x80, 10, 13, 0]);
        group.broadcast(binary);
        group.broadcast(['to everyone, ', Buffer.from('on every reactor')]);
        await Promise.all(
          clients.map(async (client, i) => {
            assert.deepEqual(await client.readFrame(), binary, `client ${i}: first broadcast`);
            assert.deepEqual(await client.readFrame(), Buffer.from('to everyone, on every reactor'), `client ${i}: second broadcast`);
          }),
        );
        // Nothing else arrives: a round trip after the broadcasts is answered by its own echo.
        await assertEchoes(clients, 99);
        for (const client of clients) assert.equal(client.queuedFrames, 0);
      });

      it('stop() closes every client, frees the port and leaves no reactor running', { skip, ...TIMEOUT }, async () => {
        assert.ok(group !== null);
        assert.equal(clients.length, CLIENTS, 'the clients of the first test are connected');
        const reactors = group.reactors;
        await group.stop();
        // stop() resolves once every thread or process has ended.
        assertReactorsGone(mode, reactors, baselineWorkerHandles);
        // Every socket was closed by the server: we never closed ours.
        await Promise.all(clients.map((client) => client.closed));
        await assertRefused(port);
        assert.deepEqual(exits, [], 'a stop is not reported as a reactor dying');
        assert.deepEqual((await group.stats()).reactors, [], 'a stopped group has no reactor to ask');
        // stop() again is the same, settled promise.
        await group.stop();
      });
    });
  }
}
