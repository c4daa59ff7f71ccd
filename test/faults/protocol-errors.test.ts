import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { FrameTooLargeError, LineTooLongError, ReactorServer, type CloseReason, type ReactorServerOptions } from '../../src/index.js';
import { PEER_GONE_CODES } from '../helpers/connection-ledger.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { bufferBytes } from '../helpers/runtime.js';
import { expectedReply } from '../helpers/seed-client.js';
import { EventLog, within } from '../helpers/wait.js';
import { frameRequest, lengthHeader, type Wire } from '../helpers/wire-client.js';
import { faultScenario, liveArrayBuffers, mib, MiB, prng, randomBytesFrom } from './support.js';

type Event =
  | { kind: 'error'; id: number; error: Error; at: number; pendingInput: number; arrayBuffers: number }
  | { kind: 'close'; id: number; reason: CloseReason; at: number };

/** A ReactorServer (the default echo) whose errors and closes are logged with timestamps. */
function loggedServer(options: ReactorServerOptions): { app: ReactorServer; log: EventLog<Event> } {
  const app = new ReactorServer({ host: '127.0.0.1', port: 0, ...options });
  const log = new EventLog<Event>();
  app.server.setCallbacks({
    onError: (conn, error) =>
      log.push({ kind: 'error', id: conn.id, error, at: performance.now(), pendingInput: conn.pendingInputBytes, arrayBuffers: bufferBytes() }),
    onClose: (conn, reason) => log.push({ kind: 'close', id: conn.id, reason, at: performance.now() }),
  });
  return { app, log };
}

function errorOf(log: EventLog<Event>, id: number): Promise<Extract<Event, { kind: 'error' }>> {
  return log.waitFor((e): e is Extract<Event, { kind: 'error' }> => e.kind === 'error' && e.id === id);
}

function closeOf(log: EventLog<Event>, id: number): Promise<Extract<Event, { kind: 'close' }>> {
  return log.waitFor((e): e is Extract<Event, { kind: 'close' }> => e.kind === 'close' && e.id === id);
}

const LIMIT = 64 * 1024;

describe('faults: oversized frames', { timeout: 30_000 }, () => {
  for (const byteOrder of ['little', 'big'] as const) {
    it(`a header announcing 2 GiB closes only that connection within a second, allocating nothing (${byteOrder}-endian)`, { timeout: 10_000 }, async () => {
      const wire: Wire = { codec: 'length', byteOrder };
      const { app, log } = loggedServer({ codec: 'length', byteOrder, maxMessageBytes: LIMIT });
      await faultScenario(app, async ({ ledger, warnings, connect }) => {
        const bystander = await connect(wire);
        const attacker = await connect(wire);
        // The limit itself is fine: a frame of exactly maxMessageBytes is echoed.
        const atLimit = Buffer.alloc(LIMIT, 0x41);
        assert.deepEqual(await bystander.request(atLimit), expectedReply(atLimit));
        assert.deepEqual(await attacker.request('hello'), expectedReply('hello'));
        const attackerConn = attacker.connectionOn(app.server);
        assert.ok(attackerConn !== undefined);
        const baseline = liveArrayBuffers();

        const sentAt = performance.now();
        attacker.socket.write(Buffer.concat([lengthHeader(2 ** 31, byteOrder), Buffer.alloc(16 * 1024, 0x42)]));
        const failure = await within(errorOf(log, attackerConn.id), 1000, 'onError for the 2 GiB header');
        const close = await within(closeOf(log, attackerConn.id), 1000, 'onClose for the 2 GiB header');
        assert.ok(failure.error instanceof FrameTooLargeError, `got ${String(failure.error)}`);
        assert.equal(failure.error.code, 'ERR_FRAME_TOO_LARGE');
        assert.equal(failure.error.announced, 2 ** 31);
        assert.equal(failure.error.limit, LIMIT);
        assert.equal(close.reason, 'error');
        assert.ok(close.at - sentAt < 1000, `closed ${(close.at - sentAt).toFixed(0)} ms after the header was sent`);
        // Nothing was kept for the frame, and no 2 GiB (nor anything big) was allocated for it.
        assert.equal(failure.pendingInput, 0);
        assert.ok(failure.arrayBuffers - baseline < 32 * MiB, `ArrayBuffers at the failure: +${mib(failure.arrayBuffers - baseline)}`);
        assert.ok(liveArrayBuffers() - baseline < 4 * MiB);
        const seen = await within(attacker.closed, 1000, 'the attacker to see the close');
        assert.ok(seen.error === null || PEER_GONE_CODES.has((seen.error as NodeJS.ErrnoException).code ?? ''), `attacker saw ${String(seen.error)}`);

        // The bystander never noticed.
        assert.equal(bystander.socket.destroyed, false);
        assert.deepEqual(await bystander.request('still here'), expectedReply('still here'));
        // One byte over the limit is refused too, from its header alone.
        const over = await connect(wire);
        over.socket.write(lengthHeader(LIMIT + 1, byteOrder));
        await within(over.closed, 1000, 'a frame of maxMessageBytes + 1 to be refused');
        assert.equal((await bystander.end()).hadError, false);

        await ledger.assertSettledCleanly();
        const unexpected = ledger.errors.filter((e) => !(e instanceof FrameTooLargeError));
        assert.deepEqual(unexpected.map(String), []);
        assert.equal(ledger.errors.length, 2);
        assert.deepEqual(warnings.warnings.map(String), []);
      });
    });
  }
});

describe('faults: malformed input', { timeout: 40_000 }, () => {
  for (const byteOrder of ['little', 'big'] as const) {
    it(`random and half-valid bytes on the length codec never crash the server (${byteOrder}-endian)`, { timeout: 15_000 }, async () => {
      const seed = (Date.now() ^ (byteOrder === 'big' ? 0x5eed : 0)) >>> 0;
      const random = prng(seed);
      const wire: Wire = { codec: 'length', byteOrder };
      const { app } = loggedServer({ codec: 'length', byteOrder, maxMessageBytes: LIMIT });
      let protocolErrors = 0;
      await faultScenario(app, async ({ ledger, warnings, connect }) => {
        const bystander = await connect(wire);
        await Promise.all(
          Array.from({ length: 40 }, async (_, i) => {
            const client = await connect(wire);
            client.socket.resume();
            // A stream of pieces: valid frames, random bytes, truncated frames, empty frames.
            const pieces: Buffer[] = [];
            const n = 1 + Math.floor(random() * 20);
            for (let p = 0; p < n; p++) {
              const pick = random();
              if (pick < 0.3) pieces.push(frameRequest(wire, randomBytesFrom(random, Math.floor(random() * 3000))));
              else if (pick < 0.6) pieces.push(randomBytesFrom(random, 1 + Math.floor(random() * 5000)));
              else if (pick < 0.8) pieces.push(Buffer.concat([lengthHeader(Math.floor(random() * LIMIT), byteOrder), randomBytesFrom(random, Math.floor(random() * 100))]));
              else pieces.push(lengthHeader(0, byteOrder));
            }
            const stream = Buffer.concat(pieces);
            for (let at = 0; at < stream.length; ) {
              const size = 1 + Math.floor(random() * 4096);
              client.socket.write(stream.subarray(at, at + size));
              at += size;
            }
            // Then leave (unless already thrown out): FIN, close or RST.
            const how = i % 3;
            if (how === 0) client.socket.end();
            else if (how === 1) client.destroy();
            else client.destroy(true);
            await within(client.closed, 5000, `garbage client ${i} (seed ${seed}) to be closed`);
          }),
        );
        assert.deepEqual(await bystander.request('unharmed'), expectedReply('unharmed'), `seed ${seed}`);
        assert.equal((await bystander.end()).hadError, false);
        await ledger.assertSettledCleanly();
        protocolErrors = ledger.errors.filter((e) => e instanceof FrameTooLargeError).length;
        const unexpected = ledger.errors.filter((e) => !(e instanceof FrameTooLargeError) && !PEER_GONE_CODES.has((e as NodeJS.ErrnoException).code ?? ''));
        assert.deepEqual(unexpected.map(String), [], `seed ${seed}`);
        assert.ok(protocolErrors >= 1, `random bytes never tripped the frame limit (seed ${seed})`);
        assert.deepEqual(warnings.warnings.map(String), []);
      });
    });
  }

  it('the line codec echoes a line at the limit, and closes a longer one with LineTooLongError', { timeout: 10_000 }, async () => {
    const wire: Wire = { codec: 'line' };
    const LINE_LIMIT = 1024;
    const { app, log } = loggedServer({ codec: 'line', maxMessageBytes: LINE_LIMIT });
    await faultScenario(app, async ({ ledger, warnings, connect }) => {
      const bystander = await connect(wire);
      const talker = await connect(wire);
      const atLimit = 'x'.repeat(LINE_LIMIT);
      assert.deepEqual(await talker.request(atLimit), expectedReply(atLimit));
      // CRLF does not count against the limit.
      talker.socket.write(`${atLimit}\r\n`);
      assert.deepEqual(await talker.read(), expectedReply(atLimit));
      const conn = talker.connectionOn(app.server);
      assert.ok(conn !== undefined);

      // Twice the limit and no newline: refused without waiting for one.
      talker.socket.write('y'.repeat(2 * LINE_LIMIT));
      const failure = await within(errorOf(log, conn.id), 1000, 'LineTooLongError');
      assert.ok(failure.error instanceof LineTooLongError, `got ${String(failure.error)}`);
      assert.equal(failure.error.code, 'ERR_LINE_TOO_LONG');
      assert.equal(failure.error.limit, LINE_LIMIT);
      assert.equal((await within(closeOf(log, conn.id), 1000, 'onClose')).reason, 'error');
      await within(talker.closed, 1000, 'the talker to see the close');

      // A complete line one byte over the limit is refused as well.
      const second = await connect(wire);
      second.send('z'.repeat(LINE_LIMIT + 1));
      await within(second.closed, 1000, 'a line of maxMessageBytes + 1 to be refused');
      assert.equal(second.received, 0);

      assert.deepEqual(await bystander.request('fine'), expectedReply('fine'));
      assert.equal((await bystander.end()).hadError, false);
      await ledger.assertSettledCleanly();
      assert.deepEqual(ledger.errors.map((e) => e.constructor.name), ['LineTooLongError', 'LineTooLongError']);
      assert.deepEqual(warnings.warnings.map(String), []);
    });
  });

  it('random bytes, newlines included, on the line codec never crash the server', { timeout: 10_000 }, async () => {
    const seed = Date.now() >>> 0;
    const random = prng(seed);
    const { app } = loggedServer({ codec: 'line', maxMessageBytes: 512 });
    await faultScenario(app, async ({ ledger, warnings, connect }) => {
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const client = await connect({ codec: 'line' });
          client.socket.resume();
          // Bytes with newlines every ~300 bytes on average, so some lines fit and some do not.
          const stream = randomBytesFrom(random, 200 + Math.floor(random() * 6000)).map((b) => (b < 1 ? 0x0a : b));
          client.socket.write(stream);
          if (i % 2 === 0) client.socket.end();
          else client.destroy(true);
          await within(client.closed, 5000, `line garbage client ${i} (seed ${seed})`);
        }),
      );
      const fresh = await connect({ codec: 'line' });
      assert.deepEqual(await fresh.request('fresh'), expectedReply('fresh'));
      await fresh.end();
      await ledger.assertSettledCleanly();
      const unexpected = ledger.errors.filter((e) => !(e instanceof LineTooLongError) && !PEER_GONE_CODES.has((e as NodeJS.ErrnoException).code ?? ''));
      assert.deepEqual(unexpected.map(String), [], `seed ${seed}`);
      // One line in seven runs past 512 bytes: the over-limit path must have been taken.
      assert.ok(ledger.errors.some((e) => e instanceof LineTooLongError), `random lines never tripped the line limit (seed ${seed})`);
      assert.deepEqual(warnings.warnings.map(String), []);
    });
  });
});

// A failed test may leave sockets open: unref them so the file still ends (after a clean run there are none).
after(() => void releaseLeftoverSockets());
