import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetServer, REPLY_PREFIX } from '../../src/index.js';
import { ConnectionLedger, WarningRecorder } from '../helpers/connection-ledger.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { assertServesFreshClient, expectedReply, SeedClient } from '../helpers/seed-client.js';
import { HOOK_TIMEOUT_MS, waitUntil } from '../helpers/wait.js';
import { runScenario } from './harness.js';

const PREFIX = Buffer.from(REPLY_PREFIX);

describe('race: tasks that enqueue tasks on the server dispatcher', { timeout: 60_000 }, () => {
  // Every reply goes through two hops of the queue: onMessage queues a task, which queues the
  // task that sends. A message starting with CLOSE_FIRST has the first hop close the connection,
  // so the second hop's send meets a closed connection.
  const CLOSE_FIRST = Buffer.from('close first');
  let refusedSends = 0;
  const server = new NetServer({
    host: '127.0.0.1',
    port: 0,
    callbacks: {
      onMessage: (conn, message) => {
        const closeFirst = message.subarray(0, CLOSE_FIRST.length).equals(CLOSE_FIRST);
        server.dispatcher.enqueue(() => {
          if (closeFirst) conn.close();
          server.dispatcher.enqueue(() => {
            if (!conn.send([PREFIX, message])) refusedSends++;
          });
        });
      },
    },
  });
  const ledger = new ConnectionLedger(server);
  const warnings = new WarningRecorder();
  let port = 0;

  before(async () => {
    port = (await server.start()).port;
    await assertServesFreshClient(port, 'start');
    await ledger.settled();
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    await server.stop();
    warnings.dispose();
    ledger.assertClosedExactlyOnce();
    assert.deepEqual(warnings.warnings.map(String), []);
  }, { timeout: HOOK_TIMEOUT_MS });
  // Runs even when the hook above failed or timed out on a stop() that never finished.
  after(() => void releaseLeftoverSockets());

  it('runs tasks enqueued from inside tasks, in order, a turn after their parents', { timeout: 20_000 }, async () => {
    await runScenario(server, ledger, 'nested enqueue', async () => {
      const dispatcher = server.dispatcher;
      const order: string[] = [];
      const pendingAfterLastParent: number[] = [];
      await new Promise<void>((resolve) => {
        for (let p = 0; p < 5; p++) {
          dispatcher.enqueue(() => {
            order.push(`P${p}`);
            for (let c = 0; c < 3; c++) {
              dispatcher.enqueue(() => {
                order.push(`P${p}.C${c}`);
                if (c === 2) {
                  dispatcher.enqueue(() => {
                    order.push(`P${p}.G`);
                    if (p === 4) resolve();
                  });
                }
              });
            }
            if (p === 4) pendingAfterLastParent.push(dispatcher.pendingTasks);
          });
        }
      });
      const parents = [0, 1, 2, 3, 4].map((p) => `P${p}`);
      const children = [0, 1, 2, 3, 4].flatMap((p) => [0, 1, 2].map((c) => `P${p}.C${c}`));
      const grandchildren = [0, 1, 2, 3, 4].map((p) => `P${p}.G`);
      assert.deepEqual(order, [...parents, ...children, ...grandchildren]);
      // All 15 children were waiting, none had run inside the parents' turn.
      assert.deepEqual(pendingAfterLastParent, [15]);
      assert.equal(dispatcher.pendingTasks, 0);
    });
  });

  it('answers 20 clients x 50 messages through nested tasks, byte-exact and in order', { timeout: 20_000 }, async () => {
    await runScenario(server, ledger, 'replies through nested tasks', async () => {
      await Promise.all(
        Array.from({ length: 20 }, async (_, c) => {
          const client = await SeedClient.connect(port);
          for (let i = 0; i < 50; i++) {
            const message = `client ${c} message ${i}`;
            assert.deepEqual(await client.request(message), expectedReply(message));
          }
          await client.end();
        }),
      );
    });
  });

  it('keeps serving I/O while a task re-enqueues itself (no starvation, no deadlock)', { timeout: 20_000 }, async () => {
    const LIMIT = 1_000_000;
    let spins = 0;
    let stopSpinning = false;
    let spinsWhenServed = -1;
    await runScenario(server, ledger, 'self-requeueing task', async () => {
      const spin = (): void => {
        spins++;
        if (!stopSpinning && spins < LIMIT) server.dispatcher.enqueue(spin);
      };
      server.dispatcher.enqueue(spin);
      // Accepting, reading and the reply's own two queue hops all have to get turns in between.
      const client = await SeedClient.connect(port);
      assert.deepEqual(await client.request('while spinning'), expectedReply('while spinning'));
      spinsWhenServed = spins;
      stopSpinning = true;
      await client.end();
      await waitUntil(() => server.dispatcher.pendingTasks === 0, () => `${server.dispatcher.pendingTasks} tasks still queued`);
    });
    assert.ok(spinsWhenServed > 0 && spinsWhenServed < LIMIT, `served after ${spinsWhenServed} spins: the chain starved I/O`);
  });

  it('refuses, quietly, a send from a task whose connection an earlier task closed', { timeout: 20_000 }, async () => {
    const refusedBefore = refusedSends;
    const closedBefore = ledger.reasons.get('closed') ?? 0;
    await runScenario(server, ledger, 'reply to a connection closed by a task', async () => {
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const client = await SeedClient.connect(port);
          await assert.rejects(client.request(`${CLOSE_FIRST} ${i}`), /closed before the next message/);
          assert.equal(client.queuedFrames, 0);
        }),
      );
    });
    assert.equal(refusedSends - refusedBefore, 30);
    assert.equal((ledger.reasons.get('closed') ?? 0) - closedBefore, 30);
  });

  it('survives clients that reset while their reply is between queue hops', { timeout: 20_000 }, async () => {
    await runScenario(server, ledger, 'reset during queued replies', async () => {
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const client = await SeedClient.connect(port);
          client.send(`gone ${i}`);
          client.destroy(true);
          await client.closed;
        }),
      );
    });
    ledger.assertOnlyPeerErrors();
  });
});
