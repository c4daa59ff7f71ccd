import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { startCli, type CliServer } from '../helpers/cli-process.js';
import { assertServesFreshClient, SeedClient } from '../helpers/seed-client.js';
import { HOOK_TIMEOUT_MS } from '../helpers/wait.js';
import { assertAllFulfilled, assertReply, ClientSet, mapBounded } from './load.js';

// The server's accept queue is 511 long: more connects in flight than that overflow it and
// the kernel drops SYNs (retried only after 1 s), so bulk opens stay under it.
const CONNECTS_IN_FLIGHT = 256;

/** A message no other client sends: an index to name it by and random bytes of any value. */
function distinctMessage(label: string, index: number): Buffer {
  return Buffer.concat([Buffer.from(`${label} ${index} `), randomBytes(12)]);
}

function elapsed(since: number): string {
  return `${Math.round(performance.now() - since)} ms`;
}

// The default server replies on its event loop; with --task-workers the replies are made on
// worker threads and come back through a queue, a different path under the same load.
const VARIANTS: readonly { name: string; args: string[] }[] = [
  { name: 'replies on the loop', args: [] },
  { name: 'replies from 2 task workers', args: ['--task-workers', '2'] },
];

// The server runs in its own process, so 10,000 connections cost it 10,000 descriptors and this
// process (holding the client ends) another 10,000: each under the 20,000 per-process limit.
for (const variant of VARIANTS) describe(`stress: the default server under many clients (${variant.name})`, { timeout: 180_000 }, () => {
  let server: CliServer;

  before(async () => {
    server = await startCli(variant.args);
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    // The server is still up only when a test failed before, or during, the SIGTERM test.
    await server?.stop('SIGKILL');
  }, { timeout: HOOK_TIMEOUT_MS });

  it('answers 1000 clients held open together, each with its own reply', { timeout: 60_000 }, async (t) => {
    const set = new ClientSet();
    try {
      const start = performance.now();
      assertAllFulfilled(await mapBounded(1000, CONNECTS_IN_FLIGHT, () => set.connect(server.port)), 'connects');
      // Nobody has sent yet: all 1000 are open at once before the first reply is checked.
      assert.equal(set.openCount, 1000);

      const messages = set.clients.map((_, i) => distinctMessage('held', i));
      set.clients.forEach((client, i) => client.send(messages[i] as Buffer));
      const replies = await Promise.allSettled(set.clients.map((client) => client.readFrame()));
      const checked = replies.map(async (reply, i) => {
        if (reply.status === 'rejected') throw reply.reason;
        assertReply(reply.value, messages[i] as Buffer, `client ${i}`);
      });
      assertAllFulfilled(await Promise.allSettled(checked), 'replies');

      const closes = await Promise.all(set.clients.map((client) => client.end().then(() => client.closed)));
      assert.equal(closes.filter((hadError) => hadError).length, 0, 'a client closed on an error');
      t.diagnostic(`1000 held clients: ${elapsed(start)}`);
    } finally {
      set.destroyAll();
    }
    await assertServesFreshClient(server.port, '1000 held clients');
  });

  it('answers 1000 clients that connect at once, each sending, reading and closing on its own', { timeout: 60_000 }, async (t) => {
    const set = new ClientSet();
    try {
      const start = performance.now();
      // Unbounded on purpose: a SYN dropped by a full accept queue must cost time, not a client.
      const results = await Promise.allSettled(
        Array.from({ length: 1000 }, async (_, i) => {
          const client = await set.connect(server.port);
          const message = distinctMessage('burst', i);
          assertReply(await client.request(message), message, `client ${i}`);
          await client.end();
          assert.equal(await client.closed, false, `client ${i} closed on an error`);
        }),
      );
      assertAllFulfilled(results, 'clients');
      t.diagnostic(`1000 burst clients: ${elapsed(start)}`);
    } finally {
      set.destroyAll();
    }
    await assertServesFreshClient(server.port, '1000 burst clients');
  });

  it('holds 10,000 connections open at once, one byte-exact round trip each', { timeout: 60_000 }, async (t) => {
    const set = new ClientSet();
    try {
      const start = performance.now();
      const opened = await mapBounded(10_000, CONNECTS_IN_FLIGHT, async (i) => {
        const client = await set.connect(server.port);
        const message = distinctMessage('hold', i);
        assertReply(await client.request(message), message, `client ${i}`);
      });
      assertAllFulfilled(opened, 'connect + round trips');
      t.diagnostic(`10,000 connected with a round trip each: ${elapsed(start)}`);

      // None was closed by either side while the others were opening.
      assert.equal(set.clients.length, 10_000);
      assert.equal(set.openCount, 10_000, 'some connections closed before all 10,000 were open');

      // A second message on every connection at once: the server still has all 10,000.
      const roll = performance.now();
      const messages = set.clients.map((_, i) => distinctMessage('roll-call', i));
      set.clients.forEach((client, i) => client.send(messages[i] as Buffer));
      const replies = await Promise.allSettled(set.clients.map((client) => client.readFrame()));
      const checked = replies.map(async (reply, i) => {
        if (reply.status === 'rejected') throw reply.reason;
        assertReply(reply.value, messages[i] as Buffer, `client ${i}`);
      });
      assertAllFulfilled(await Promise.allSettled(checked), 'roll-call replies');
      t.diagnostic(`roll call on 10,000 open connections: ${elapsed(roll)}`);

      const closing = performance.now();
      const closes = await Promise.all(set.clients.map((client) => client.end().then(() => client.closed)));
      assert.equal(closes.filter((hadError) => hadError).length, 0, 'a client closed on an error');
      t.diagnostic(`10,000 closed: ${elapsed(closing)}; total ${elapsed(start)}`);
    } finally {
      set.destroyAll();
    }
    await assertServesFreshClient(server.port, '10,000 held connections');
  });

  it('keeps 100 connections in ping-pong for 200 rounds each, every reply byte-exact', { timeout: 60_000 }, async (t) => {
    const ROUNDS = 200;
    const set = new ClientSet();
    try {
      const start = performance.now();
      const results = await mapBounded(100, 100, async (c) => {
        const client = await set.connect(server.port);
        for (let round = 0; round < ROUNDS; round++) {
          // Sizes vary so the frame lengths do too; at most 1 KiB, so each message is one read.
          const message = Buffer.concat([Buffer.from(`conn ${c} round ${round} `), randomBytes((c * 7 + round * 13) % 1000)]);
          assertReply(await client.request(message), message, `connection ${c} round ${round}`);
        }
        assert.equal(client.queuedFrames, 0, `connection ${c} got a frame it did not ask for`);
        await client.end();
        return ROUNDS;
      });
      const rounds = assertAllFulfilled(results, 'ping-pong connections');
      assert.equal(rounds.reduce((sum, n) => sum + n, 0), 100 * ROUNDS);
      t.diagnostic(`100 x ${ROUNDS} round trips: ${elapsed(start)}`);
    } finally {
      set.destroyAll();
    }
    await assertServesFreshClient(server.port, 'sustained ping-pong');
  });

  it('printed no warning or error while under load', () => {
    assert.equal(server.stderr(), '');
  });

  it('exits 0 on SIGTERM, closing the connections it still holds', { timeout: 30_000 }, async () => {
    const set = new ClientSet();
    try {
      assertAllFulfilled(await mapBounded(50, 50, () => set.connect(server.port)), 'connects');
      await Promise.all(set.clients.map(async (client, i) => assertReply(await client.request(`before stop ${i}`), Buffer.from(`before stop ${i}`), `client ${i}`)));
      assert.equal((await server.stop()).code, 0);
      // Each client sees the server's close; none is left hanging on a dead peer.
      await Promise.all(set.clients.map((client) => client.closed));
      assert.equal(set.openCount, 0);
      await assert.rejects(SeedClient.connect(server.port), { code: 'ECONNREFUSED' });
    } finally {
      set.destroyAll();
    }
  });
});
