/**
 * A sub-reactor that dies is replaced and the group keeps serving: only the dead reactor's
 * clients lose their connections, new clients are served (by the replacement too), and
 * onReactorExit hears of it once. In processes mode a worker killed from outside is replaced
 * as well.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReactorGroup, type ReactorInfo } from '../../src/index.js';
import { processExists } from '../helpers/resources.js';
import type { SeedClient } from '../helpers/seed-client.js';
import { waitUntil } from '../helpers/wait.js';
import { assertEchoes, closeAll, connectMany, identify, KIND, MODES, type Identity } from './helpers.js';

const TIMEOUT = { timeout: 30_000 };
const SUBCLASS_APP = new URL('./fixtures/subclass-app.js', import.meta.url);
const CLIENTS = 20;

interface Placed {
  client: SeedClient;
  identity: Identity;
}

/** Connects `count` clients and finds out which reactor serves each. */
async function placeClients(port: number, count: number, opened: SeedClient[]): Promise<Placed[]> {
  const clients = await connectMany(port, count);
  opened.push(...clients);
  const identities = await identify(clients);
  return clients.map((client, i) => ({ client, identity: identities[i]! }));
}

/**
 * Kills the reactor behind `victim` (by `kill`), then checks: the victim's clients are closed,
 * the others are still served, and new clients are served by the survivors and the replacement.
 */
async function assertSurvivesDeath(
  group: ReactorGroup,
  port: number,
  opened: SeedClient[],
  victim: ReactorInfo,
  kill: () => Promise<ReactorInfo>,
): Promise<ReactorInfo> {
  const placed = await placeClients(port, CLIENTS, opened);
  const onVictim = placed.filter((p) => p.identity.reactor === victim.id);
  const elsewhere = placed.filter((p) => p.identity.reactor !== victim.id);
  assert.ok(onVictim.length > 0, 'some clients are on the reactor about to die');
  assert.ok(elsewhere.length > 0, 'some clients are on the other reactor');

  const replacement = await kill();
  assert.equal(replacement.index, victim.index);
  assert.equal(replacement.kind, victim.kind);
  assert.notEqual(replacement.id, victim.id, 'the replacement is a new thread or process');
  assert.equal(replacement.restarts, victim.restarts + 1);

  // The dead reactor's connections went with it; nobody closed them from this side.
  await Promise.all(onVictim.map((p) => p.client.closed));
  // The others never noticed: still open, still answered byte-exact.
  for (const p of elsewhere) assert.equal(p.client.socket.destroyed, false, `client ${p.identity.id} was closed`);
  await assertEchoes(elsewhere.map((p) => p.client), 1);
  assert.deepEqual(
    (await identify(elsewhere.map((p) => p.client))).map((i) => i.id),
    elsewhere.map((p) => p.identity.id),
    'the surviving connections are the same ones',
  );

  // New clients are served byte-exact, and some of them by the replacement.
  const fresh = await placeClients(port, CLIENTS, opened);
  await assertEchoes(fresh.map((p) => p.client), 2);
  const served = new Set(fresh.map((p) => p.identity.reactor));
  assert.ok(served.has(replacement.id), `no new client reached the replacement ${replacement.id}: ${[...served].join(', ')}`);
  assert.ok(!served.has(victim.id), 'the dead reactor served a new client');
  const live = [...fresh, ...elsewhere].map((p) => p.identity.id);
  assert.equal(new Set(live).size, live.length, 'connection ids stay unique among open connections');

  const stats = await group.stats();
  assert.deepEqual(
    stats.reactors.map(({ reactor }) => reactor),
    group.reactors,
    'every reactor, the replacement included, answers stats',
  );
  assert.equal(stats.reactors.length, group.size);
  return replacement;
}

for (const { mode, skip } of MODES) {
  describe(`reactors: ${mode}, a dead sub-reactor is replaced (2 reactors)`, () => {
    let group: ReactorGroup | null = null;
    let port = 0;
    const opened: SeedClient[] = [];
    const exits: { reactor: ReactorInfo; code: number | null }[] = [];

    before(async () => {
      if (skip !== false) return;
      group = new ReactorGroup({ workers: 2, reactorMode: mode, port: 0, app: SUBCLASS_APP, onReactorExit: (reactor, exit) => exits.push({ reactor, code: exit.code }) });
      port = (await group.start()).port;
    }, TIMEOUT);

    after(async () => {
      await closeAll(opened);
      await group?.stop();
    }, TIMEOUT);

    it('terminateReactor(0) resolves with a working replacement; only reactor 0\'s clients are dropped', { skip, ...TIMEOUT }, async () => {
      assert.ok(group !== null);
      const g = group;
      const victim = g.reactors[0]!;
      assert.equal(victim.kind, KIND[mode]);
      const replacement = await assertSurvivesDeath(g, port, opened, victim, () => g.terminateReactor(0));
      assert.deepEqual(g.reactors[0], replacement);
      assert.deepEqual(
        exits.map((exit) => exit.reactor),
        [victim],
        'onReactorExit was called once, with the old reactor',
      );
      if (mode === 'processes') assert.equal(processExists(victim.id), false, `process ${victim.id} is gone`);
    });

    if (mode === 'processes') {
      it('a worker process killed from outside (SIGKILL) is replaced and new clients are served', { skip, ...TIMEOUT }, async () => {
        assert.ok(group !== null);
        const g = group;
        const victim = g.reactors[1]!;
        const exitsBefore = exits.length;
        const replacement = await assertSurvivesDeath(g, port, opened, victim, async () => {
          process.kill(victim.id, 'SIGKILL');
          // Nothing to await here: poll until the replacement is up and answering stats.
          return waitUntil(
            async () => {
              const current = g.reactors[1];
              if (current === undefined || current.id === victim.id) return undefined;
              const { reactors } = await g.stats();
              return reactors.find(({ reactor }) => reactor.index === 1 && reactor.id === current.id)?.reactor;
            },
            `a replacement for process ${victim.id}`,
            10_000,
            25,
          );
        });
        assert.equal(processExists(victim.id), false);
        assert.deepEqual(g.reactors[1], replacement);
        assert.deepEqual(
          exits.slice(exitsBefore).map((exit) => exit.reactor),
          [victim],
          'onReactorExit was called once, with the killed reactor',
        );
        assert.equal(exits[exitsBefore]?.code, null, 'a process killed by a signal has no exit code');
      });
    }
  });

  it(`reactors: ${mode}, a sole reactor's replacement serves on the group's port`, { skip, ...TIMEOUT }, async () => {
    const exits: ReactorInfo[] = [];
    const group = new ReactorGroup({ workers: 1, reactorMode: mode, port: 0, onReactorExit: (reactor) => exits.push(reactor) });
    const opened: SeedClient[] = [];
    try {
      const { port } = await group.start();
      const first = await connectMany(port, 5);
      opened.push(...first);
      await assertEchoes(first);
      const victim = group.reactors[0]!;
      const replacement = await group.terminateReactor(0);
      assert.notEqual(replacement.id, victim.id);
      assert.equal(replacement.restarts, 1);
      await Promise.all(first.map((client) => client.closed));
      assert.deepEqual(exits, [victim]);
      // The group still serves where start() said it would.
      const later = await connectMany(port, 5).catch((err: unknown) =>
        assert.fail(`after the replacement (${replacement.kind} ${replacement.id}) the group's port ${port} no longer accepts: ${String(err)}`),
      );
      opened.push(...later);
      await assertEchoes(later, 1);
    } finally {
      await closeAll(opened);
      await group.stop();
    }
  });
}
