/**
 * The local broker in a ReactorGroup (both modes): topics and direct sends cross between the
 * reactors of one instance as broadcasts always have, exactly once and never back to the
 * sender; the group's own publish and sendTo reach them; a reactor replaced after a crash is
 * joined to the others again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReactorGroup } from '../../src/index.js';
import { WireClient } from '../helpers/wire-client.js';
import { MODES, withGroup } from './helpers.js';

const APP = new URL('../fixtures/broker-app.js', import.meta.url);
const LINE = { codec: 'line' } as const;
const TIMEOUT = { timeout: 30_000 };

interface Member {
  client: WireClient;
  globalId: string;
  reactor: number;
}

/** Connects until both reactors of a two-reactor group have a member; at most 32 tries. */
async function membersOnBoth(port: number): Promise<[Member, Member, WireClient[]]> {
  const all: WireClient[] = [];
  const byReactor = new Map<number, Member>();
  while (byReactor.size < 2) {
    assert.ok(all.length < 32, 'no connection reached the second reactor');
    const client = await WireClient.connect(port, LINE);
    all.push(client);
    const globalId = (await client.request('id')).toString().replace(/^id /, '');
    const reactor = (Number(globalId.split(':')[1]) - 1) % 2;
    if (!byReactor.has(reactor)) byReactor.set(reactor, { client, globalId, reactor });
  }
  return [byReactor.get(0)!, byReactor.get(1)!, all];
}

async function text(client: WireClient): Promise<string> {
  return (await client.read()).toString();
}

async function endAll(clients: readonly WireClient[]): Promise<void> {
  await Promise.all(clients.map((client) => client.end()));
}

for (const { mode, skip } of MODES) {
  describe(`local broker across the reactors of a group (${mode})`, () => {
    it('topics, sendTo and the group\'s own publish and sendTo cross reactors, once each', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, app: APP, codec: 'line', instanceId: 'grp' }, async (group: ReactorGroup, port) => {
        assert.equal(group.instanceId, 'grp');
        assert.deepEqual(group.brokerStatus(), { kind: 'local', target: 'local', bus: null });
        const [a, b, all] = await membersOnBoth(port);
        assert.match(a.globalId, /^grp:\d+$/);

        assert.equal((await b.client.request('join chess')).toString(), 'joined chess');
        assert.equal((await a.client.request('pub chess e4')).toString(), 'ok');
        assert.equal(await text(b.client), 'e4');
        // The topic is b's reactor's only: a publish from b reaches no one on a's reactor.
        assert.equal((await b.client.request('pub chess e5')).toString(), 'ok');

        assert.equal((await a.client.request(`to ${b.globalId} direct`)).toString(), 'ok true');
        assert.equal(await text(b.client), 'direct');
        assert.equal((await b.client.request(`to ${a.globalId} back`)).toString(), 'ok true');
        assert.equal(await text(a.client), 'back');

        group.publish('chess', 'from the group');
        assert.equal(await text(b.client), 'from the group');
        group.sendTo(a.globalId, 'to a from the group');
        assert.equal(await text(a.client), 'to a from the group');

        // Nothing else came: the next frame of each is the reply to its own request.
        for (const member of [a, b]) assert.equal((await member.client.request('id')).toString(), `id ${member.globalId}`);
        for (const client of all) assert.equal(client.queued, 0);
        await endAll(all);
      }));

    it('a reactor replaced after a crash serves topics again: a member that joins it hears what is published after', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, app: APP, codec: 'line', instanceId: 'grp', onReactorExit: () => undefined }, async (group: ReactorGroup, port) => {
        const [a, b, all] = await membersOnBoth(port);
        assert.equal((await b.client.request('join t')).toString(), 'joined t');
        await group.terminateReactor(b.reactor);
        await b.client.closed;
        // Reconnect until a member lands on the replacement, and make it a member again.
        let fresh: WireClient | null = null;
        const extra: WireClient[] = [];
        while (fresh === null) {
          assert.ok(extra.length < 32, 'no connection reached the replacement');
          const client = await WireClient.connect(port, LINE);
          extra.push(client);
          const id = Number((await client.request('id')).toString().split(':')[1]);
          if ((id - 1) % 2 === b.reactor) fresh = client;
        }
        assert.equal((await a.client.request('pub t before')).toString(), 'ok');
        assert.equal((await fresh.request('join t')).toString(), 'joined t');
        assert.equal((await a.client.request('pub t after')).toString(), 'ok');
        assert.equal(await text(fresh), 'after', 'the replacement heard only what came after it joined');
        await endAll([...all.filter((c) => c !== b.client), ...extra]);
      }));
  });
}
