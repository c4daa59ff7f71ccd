/**
 * The bound on unfinished input of one reactor (`maxBufferedInput`), in process, where each
 * connection's held bytes can be watched: past the bound the connection holding the most is
 * closed with InputBudgetExceededError and counted, every other one is served and its frames
 * complete, and whatever ends a connection gives its held input back to the total.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InputBudgetExceededError, ReactorServer, type CloseReason, type Connection } from '../../src/index.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { EventLog, waitUntil, within } from '../helpers/wait.js';
import { lengthHeader, type WireClient } from '../helpers/wire-client.js';
import { faultScenario } from './support.js';

const LENGTH = { codec: 'length' } as const;
const KiB = 1024;

type Event = { kind: 'error'; conn: Connection; error: Error } | { kind: 'close'; conn: Connection; reason: CloseReason };

function server(maxMessageBytes: number, maxBufferedInput: number): { app: ReactorServer; log: EventLog<Event> } {
  const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length', maxMessageBytes, maxBufferedInput });
  const log = new EventLog<Event>();
  app.server.setCallbacks({
    onError: (conn, error) => log.push({ kind: 'error', conn, error }),
    onClose: (conn, reason) => log.push({ kind: 'close', conn, reason }),
  });
  return { app, log };
}

/** The server side of `client`, once its held input is `bytes` (the reads are in). */
async function holding(app: ReactorServer, client: WireClient, bytes: number): Promise<Connection> {
  return waitUntil(
    () => {
      const conn = client.connectionOn(app.server);
      return conn !== undefined && conn.pendingInputBytes === bytes ? conn : null;
    },
    () => `the server never held ${bytes} bytes for the client on port ${client.socket.localPort}`,
  );
}

after(() => releaseLeftoverSockets());

describe('faults: many peers holding unfinished frames (maxBufferedInput)', { timeout: 30_000 }, () => {
  it('past the bound, closes the connection holding the most with ERR_INPUT_BUDGET; everyone else is served and completes its frame', { timeout: 20_000 }, async () => {
    const MAX = 256 * KiB;
    const LIMIT = 2 * MAX;
    const { app, log } = server(MAX, LIMIT);
    await faultScenario(app, async ({ ledger, connect }) => {
      const stats = app.server.stats;
      const bystander = await connect(LENGTH);
      assert.deepEqual(await bystander.request('before'), expectedReply('before'));

      // The big one: 200,000 of a 250,000-byte frame. It holds more than twice what any small
      // one can (a small one's storage is at most twice its 30,000 bytes), so it is the largest.
      const big = await connect(LENGTH);
      big.socket.write(Buffer.concat([lengthHeader(250_000), Buffer.alloc(200_000, 0x62)]));
      const bigConn = await holding(app, big, 200_004);

      // Small stalled frames, one more at a time, until the total passes the bound.
      const SMALL_BODY = 60_000;
      const smalls: { client: WireClient; body: Buffer }[] = [];
      const heldBefore: number[] = [];
      while (log.filter((e) => e.kind === 'error').length === 0) {
        assert.ok(smalls.length < 40, `no eviction after ${smalls.length} small frames; ${stats.bufferedInput} bytes held`);
        heldBefore.push(stats.bufferedInput);
        const body = Buffer.alloc(SMALL_BODY, 0x30 + (smalls.length % 10));
        const client = await connect(LENGTH);
        client.socket.write(Buffer.concat([lengthHeader(SMALL_BODY), body.subarray(0, 30_000)]));
        smalls.push({ client, body });
        await Promise.race([holding(app, client, 30_004), log.waitFor((e) => e.kind === 'error')]);
      }
      assert.ok(smalls.length >= 2, `evicted after ${smalls.length} small frames: the bound was passed too early`);
      // Until the last small frame, the total stayed within the bound.
      for (const held of heldBefore) assert.ok(held <= LIMIT, `held ${held} bytes, over ${LIMIT}, with no eviction`);

      const failure = await log.waitFor((e) => e.kind === 'error');
      assert.equal(failure.conn, bigConn, 'the connection closed is not the one holding the most');
      const error = failure.kind === 'error' ? failure.error : null;
      assert.ok(error instanceof InputBudgetExceededError, `got ${String(error)}`);
      assert.equal(error.code, 'ERR_INPUT_BUDGET');
      assert.equal(error.limit, LIMIT);
      assert.ok(error.held >= 200_004 && error.held <= MAX + 4, `held ${error.held}`);
      assert.ok(error.total > LIMIT, `chosen with ${error.total} held in all`);
      const close = await within(log.waitFor((e) => e.kind === 'close' && e.conn === bigConn), 2000, 'onClose of the evicted connection');
      assert.equal(close.kind === 'close' ? close.reason : '', 'error');
      await within(big.closed, 2000, 'the evicted client to see its connection closed');
      assert.equal(stats.errorsByCode.ERR_INPUT_BUDGET, 1);
      assert.ok(stats.bufferedInput <= LIMIT, `${stats.bufferedInput} bytes held after the eviction`);
      assert.equal(log.filter((e) => e.kind === 'error').length, 1, 'more than one connection was closed');

      // Everyone else: the small frames complete and are answered, the bystander too.
      for (const { client, body } of smalls) client.socket.write(body.subarray(30_000));
      for (const { client, body } of smalls) assert.ok((await client.read()).equals(expectedReply(body)), 'a small frame was answered wrongly');
      assert.deepEqual(await bystander.request('after'), expectedReply('after'));
      assert.equal(stats.bufferedInput, 0, 'input still counted after every frame completed');

      for (const { client } of smalls) assert.equal((await client.end()).hadError, false);
      assert.equal((await bystander.end()).hadError, false);
      await ledger.assertSettledCleanly();
      assert.deepEqual(ledger.errors.map((e) => (e as { code?: string }).code), ['ERR_INPUT_BUDGET']);
    });
  });

  it('gives a connection\'s held input back to the total whatever ends it: a completed frame, a peer leaving mid-frame, close() by the application, a frame too large', { timeout: 10_000 }, async () => {
    const { app, log } = server(64 * KiB, 1024 * KiB);
    await faultScenario(app, async ({ connect }) => {
      const stats = app.server.stats;
      const completes = await connect(LENGTH);
      const leaves = await connect(LENGTH);
      const oversized = await connect(LENGTH);
      const closedHere = await connect(LENGTH);
      closedHere.socket.write(Buffer.concat([lengthHeader(9_000), Buffer.alloc(8_000, 0x63)]));
      const closedHereConn = await holding(app, closedHere, 8_004);
      const before = stats.bufferedInput;
      // At once, not when the socket's close comes back: nothing more is read from it.
      closedHereConn.close();
      assert.ok(stats.bufferedInput <= before - 8_004, `${stats.bufferedInput} bytes counted after close(), ${before} before`);
      await closedHere.closed;
      completes.socket.write(Buffer.concat([lengthHeader(10_000), Buffer.alloc(5_000, 0x61)]));
      leaves.socket.write(Buffer.concat([lengthHeader(20_000), Buffer.alloc(15_000, 0x62)]));
      // Half a header: held, then completed as a header announcing more than the limit.
      oversized.socket.write(lengthHeader(64 * KiB + 1).subarray(0, 2));
      await holding(app, completes, 5_004);
      const leavesConn = await holding(app, leaves, 15_004);
      const oversizedConn = await holding(app, oversized, 2);
      const all = stats.bufferedInput;
      assert.ok(all >= 5_004 + 15_004 + 2, `${all} bytes counted`);

      completes.socket.write(Buffer.alloc(5_000, 0x61));
      assert.ok((await completes.read()).equals(expectedReply(Buffer.alloc(10_000, 0x61))));
      const afterComplete = stats.bufferedInput;
      assert.ok(afterComplete < all && afterComplete >= 15_004 + 2, `${afterComplete} bytes counted after the frame completed`);

      leaves.destroy(true);
      await log.waitFor((e) => e.kind === 'close' && e.conn === leavesConn);
      const afterLeave = stats.bufferedInput;
      assert.ok(afterLeave < afterComplete && afterLeave >= 2, `${afterLeave} bytes counted after the peer left`);

      oversized.socket.write(lengthHeader(64 * KiB + 1).subarray(2));
      const failure = await log.waitFor((e) => e.kind === 'error' && e.conn === oversizedConn);
      assert.equal((failure.kind === 'error' ? failure.error : null)?.name, 'FrameTooLargeError');
      assert.equal(stats.bufferedInput, 0);
      assert.equal(stats.errorsByCode.ERR_INPUT_BUDGET, undefined);
      await oversized.closed;
      assert.equal((await completes.end()).hadError, false);
    });
  });
});
