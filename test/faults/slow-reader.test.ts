import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { NetServer, OutputOverflowError, REPLY_PREFIX, ReactorServer, type Connection } from '../../src/index.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { EventLog, within } from '../helpers/wait.js';
import { frameRequest } from '../helpers/wire-client.js';
import { faultScenario, liveArrayBuffers, MemorySampler, mib, MiB } from './support.js';

const PREFIX = Buffer.from(REPLY_PREFIX);
const LENGTH = { codec: 'length' } as const;

describe('faults: a client that sends and never reads', { timeout: 30_000 }, () => {
  it('stops being read (backpressure) while memory stays flat and another client is served byte-exact', { timeout: 20_000 }, async (t) => {
    const HIGH_WATER = 1 * MiB;
    // maxPendingOutput far above what the test sends: only pausing the reads can bound memory.
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length', maxMessageBytes: 64 * 1024, highWaterMark: HIGH_WATER, lowWaterMark: 256 * 1024, maxPendingOutput: 1024 * MiB });
    const highWater = new EventLog<{ conn: Connection; pending: number }>();
    app.server.setCallbacks({ onHighWater: (conn, pending) => highWater.push({ conn, pending }) });
    await faultScenario(app, async ({ ledger, warnings, connect }) => {
      const other = await connect(LENGTH);
      assert.deepEqual(await other.request('warm up'), expectedReply('warm up'));
      const baseline = liveArrayBuffers();

      const pumper = await connect(LENGTH);
      const pumpSocket = pumper.socket;
      // Never read: stop the client's own socket reading too, so only the kernel buffers fill.
      pumpSocket.pause();
      // One block of 256 frames of 4 KiB, written again and again (no allocation per write).
      const block = Buffer.concat(Array.from({ length: 256 }, (_, i) => frameRequest(LENGTH, Buffer.alloc(4096, i))));
      const TARGET = 200 * MiB;
      let sent = 0;
      let pumping = true;
      let stopPump!: () => void;
      const pumpStopped = new Promise<void>((resolve) => (stopPump = resolve));
      const pump = (async () => {
        while (pumping && sent < TARGET) {
          sent += block.length;
          if (!pumpSocket.write(block)) await Promise.race([once(pumpSocket, 'drain'), pumpStopped]);
        }
      })();

      const paused = await within(highWater.waitFor((e) => e.conn.remotePort === pumpSocket.localPort), 10_000, 'onHighWater for the pumping client');
      const conn = paused.conn;
      assert.ok(paused.pending > HIGH_WATER);
      assert.equal(conn.isReadPaused, true);

      // Deliberate sustained pressure (the behaviour under test): for 1.5 s the pump keeps
      // trying to push its 200 MB while another client does round trips and memory is sampled.
      const sampler = new MemorySampler();
      const sentAtPause = sent;
      let roundTrips = 0;
      let maxPendingOutput = 0;
      let maxPendingInput = 0;
      const windowEnd = Date.now() + 1500;
      let sentBeforeLastStretch = -1;
      while (Date.now() < windowEnd) {
        if (sentBeforeLastStretch === -1 && Date.now() > windowEnd - 750) sentBeforeLastStretch = sent;
        const message = randomBytes(1 + Math.floor(Math.random() * 16 * 1024));
        const reply = await other.request(message);
        assert.ok(reply.equals(expectedReply(message)), `round trip ${roundTrips} garbled while the other client was paused`);
        roundTrips++;
        maxPendingOutput = Math.max(maxPendingOutput, conn.pendingOutputBytes);
        maxPendingInput = Math.max(maxPendingInput, conn.pendingInputBytes);
      }
      sampler.stop();
      const sentAtEnd = sent;
      const live = liveArrayBuffers();
      pumping = false;
      stopPump();
      await pump;

      t.diagnostic(
        `pushed ${mib(sentAtEnd)} (${mib(sentAtPause)} when reads paused); server read ${mib(app.server.stats.bytesIn)}; ` +
          `max pending output ${mib(maxPendingOutput)}; live ArrayBuffers +${mib(live - baseline)}, peak +${mib(sampler.peakArrayBuffers - baseline)}; ` +
          `${roundTrips} round trips meanwhile`,
      );
      assert.ok(roundTrips >= 20, `the other client got only ${roundTrips} round trips in 1.5 s`);
      assert.ok(app.server.stats.backpressurePauses >= 1);
      assert.equal(conn.isReadPaused, true, 'the pumping connection is read again though its output never drained');
      assert.equal(conn.isOpen, true);
      // The pump is stuck: the server stopped reading, so the kernel buffers are full.
      assert.ok(sentAtEnd < TARGET, `the client pushed all ${mib(TARGET)}: the server kept reading`);
      assert.equal(sentAtEnd, sentBeforeLastStretch, `the client still made progress (${mib(sentBeforeLastStretch)} -> ${mib(sentAtEnd)}) in the last 750 ms`);
      // Pending output: the high-water mark plus the replies to one read's worth of requests.
      assert.ok(maxPendingOutput <= HIGH_WATER + 4 * MiB, `pending output reached ${mib(maxPendingOutput)}`);
      assert.ok(maxPendingInput <= 64 * 1024 + 4, `pending input reached ${maxPendingInput}`);
      const growth = live - baseline;
      assert.ok(growth < 24 * MiB, `live ArrayBuffer memory grew by ${mib(growth)} (peak ${mib(sampler.peakArrayBuffers - baseline)}) while ${mib(sentAtEnd)} were pushed`);
      assert.ok(sampler.peakArrayBuffers - baseline < 96 * MiB, `ArrayBuffer memory peaked ${mib(sampler.peakArrayBuffers - baseline)} above the baseline`);
      assert.ok(sentAtPause > 0);

      // The reader vanishes: its connection closes once, and nothing else is disturbed.
      pumper.destroy(true);
      await pumper.closed;
      assert.deepEqual(await other.request('after the slow reader left'), expectedReply('after the slow reader left'));
      assert.equal((await other.end()).hadError, false);
      await ledger.assertSettledCleanly();
      ledger.assertOnlyPeerErrors();
      assert.deepEqual(warnings.warnings.map(String), []);
    });
  });

  it('closes a connection with OutputOverflowError when one send exceeds a tiny maxPendingOutput; others unaffected', { timeout: 10_000 }, async () => {
    type Event = { kind: 'error'; id: number; error: Error; pendingAtError: number } | { kind: 'close'; id: number; reason: string };
    const log = new EventLog<Event>();
    const server = new NetServer({
      host: '127.0.0.1',
      port: 0,
      codec: 'length',
      maxPendingOutput: 64 * 1024,
      highWaterMark: 32 * 1024,
      lowWaterMark: 16 * 1024,
      callbacks: {
        onMessage: (conn, message) => {
          if (message.toString() === 'huge') conn.send(Buffer.alloc(1 * MiB, 0x68));
          else conn.send([PREFIX, message]);
        },
        onError: (conn, error) => log.push({ kind: 'error', id: conn.id, error, pendingAtError: conn.pendingOutputBytes }),
        onClose: (conn, reason) => log.push({ kind: 'close', id: conn.id, reason }),
      },
    });
    await faultScenario(server, async ({ ledger, connect }) => {
      const bystander = await connect(LENGTH);
      const victim = await connect(LENGTH);
      assert.deepEqual(await bystander.request('before'), expectedReply('before'));
      assert.deepEqual(await victim.request('small is fine'), expectedReply('small is fine'));
      const victimConn = victim.connectionOn(server);
      assert.ok(victimConn !== undefined);
      const receivedBefore = victim.bytesReceived;

      victim.send('huge');
      const failure = await within(log.waitFor((e) => e.kind === 'error' && e.id === victimConn.id), 2000, 'onError for the overflow');
      const close = await within(log.waitFor((e) => e.kind === 'close' && e.id === victimConn.id), 2000, 'onClose for the overflow');
      assert.equal(failure.kind, 'error');
      if (failure.kind !== 'error') return;
      assert.ok(failure.error instanceof OutputOverflowError, `got ${String(failure.error)}`);
      assert.equal(failure.error.code, 'ERR_OUTPUT_OVERFLOW');
      assert.equal(failure.error.limit, 64 * 1024);
      assert.equal(failure.error.pending, 1 * MiB + 4);
      assert.equal(close.kind === 'close' ? close.reason : '', 'error');
      await within(victim.closed, 2000, 'the client to see its connection closed');
      // Not a byte of the oversized reply went out: it was dropped before any write.
      assert.equal(victim.bytesReceived, receivedBefore);

      assert.deepEqual(await bystander.request('after'), expectedReply('after'));
      assert.equal((await bystander.end()).hadError, false);
      await ledger.assertSettledCleanly();
      assert.equal(log.filter((e) => e.kind === 'error').length, 1);
    });
  });
});

// A failed test may leave sockets open: unref them so the file still ends (after a clean run there are none).
after(() => void releaseLeftoverSockets());
