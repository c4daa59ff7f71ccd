import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { HandlerError, NetServer, REPLY_PREFIX, ReactorServer, type CloseReason, type Connection } from '../../src/index.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { EventLog, waitUntil, within } from '../helpers/wait.js';
import { frameRequest, lengthHeader, type Wire, type WireCodec } from '../helpers/wire-client.js';
import { faultScenario } from './support.js';

const PREFIX = Buffer.from(REPLY_PREFIX);
const LENGTH: Wire = { codec: 'length' };

describe('faults: a peer that resets mid-frame', { timeout: 20_000 }, () => {
  it('closes that connection once, leaks no error, and keeps serving the others', { timeout: 10_000 }, async () => {
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length' });
    const closes = new EventLog<{ id: number; reason: CloseReason }>();
    const { onClose } = app.server.callbacks;
    app.server.setCallbacks({
      onClose: (conn, reason) => {
        onClose?.(conn, reason);
        closes.push({ id: conn.id, reason });
      },
    });
    await faultScenario(app, async ({ ledger, warnings, connect, onCleanup }) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      onCleanup(() => void process.off('unhandledRejection', onUnhandled));
      const bystander = await connect(LENGTH);
      assert.deepEqual(await bystander.request('before'), expectedReply('before'));

      for (let round = 0; round < 10; round++) {
        const resetter = await connect(LENGTH);
        assert.deepEqual(await resetter.request(`whole ${round}`), expectedReply(`whole ${round}`));
        const conn = resetter.connectionOn(app.server);
        assert.ok(conn !== undefined);
        // Half a frame: the header announces 1000 bytes, 500 follow.
        resetter.socket.write(Buffer.concat([lengthHeader(1000), Buffer.alloc(500, round)]));
        // The server has read the half frame and holds it.
        await waitUntil(() => conn.pendingInputBytes === 504, () => `server holds ${conn.pendingInputBytes} bytes`, 2000);
        resetter.destroy(true);
        const close = await within(closes.waitFor((e) => e.id === conn.id), 2000, 'onClose after the reset');
        assert.ok(close.reason === 'error' || close.reason === 'peer-closed', `closed for ${close.reason}`);
        await resetter.closed;
        // Interleaved with the resets, the bystander keeps being served.
        assert.deepEqual(await bystander.request(`between ${round}`), expectedReply(`between ${round}`));
      }

      assert.equal((await bystander.end()).hadError, false);
      await ledger.assertSettledCleanly();
      ledger.assertOnlyPeerErrors();
      assert.equal(ledger.accepted, 11);
      assert.deepEqual(warnings.warnings.map(String), []);
      assert.deepEqual(unhandled.map(String), []);
    });
  });
});

describe('faults: a peer that half-closes after sending', { timeout: 20_000 }, () => {
  // Big messages too (8 MiB: more than the kernel buffers between the two, up to 4 MB each
  // way here), and (framed codecs) the client reads nothing until the server has seen its FIN:
  // the replies are still queued in the server then, so a server that closed at the FIN
  // instead of after its output would cut them short.
  const BIG = Buffer.from(randomBytes(8 * 1024 * 1024).map((b) => (b === 0x0a || b === 0x0d ? 0x20 : b)));
  const CASES: readonly { codec: WireCodec; messages: Buffer[] }[] = [
    // The seed codec reads each chunk as one message: its replies are reassembled below.
    { codec: 'seed', messages: [Buffer.from('last words')] },
    { codec: 'seed', messages: [BIG] },
    { codec: 'length', messages: ['one', '', 'three', 'x'.repeat(100_000)].map((m) => Buffer.from(m)).concat([BIG]) },
    { codec: 'line', messages: ['one', '', 'three', 'x'.repeat(100_000)].map((m) => Buffer.from(m)).concat([BIG]) },
  ];
  for (const { codec, messages } of CASES) {
    const size = messages.reduce((n, m) => n + m.length, 0);
    it(`gets every reply, then a clean close (${codec} codec, ${messages.length} message(s), ${size} bytes)`, { timeout: 10_000 }, async () => {
      // The high-water mark above every reply together: the server must read on to the FIN with
      // all of them still queued. (Below it, backpressure would rightly stop reading before the
      // FIN, and whether the FIN came in with the last bytes read is up to the transport: with
      // node:net it does, with Bun's sockets it does not.)
      const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec, maxMessageBytes: 16 * 1024 * 1024, highWaterMark: 32 * 1024 * 1024, maxPendingOutput: 64 * 1024 * 1024 });
      await faultScenario(app, async ({ ledger, connect }) => {
        for (let round = 0; round < 2; round++) {
          const client = await connect({ codec });
          // Framed codecs reply once a message is complete, so the server reads through to the
          // FIN even when we do not read: hold off reading until it has seen the FIN. (The seed
          // codec replies to every chunk as it comes: not reading would stop the server
          // reading too, before the FIN, exactly as backpressure should.)
          const holdReplies = codec !== 'seed';
          if (holdReplies) client.socket.pause();
          let conn: Connection | undefined;
          await waitUntil(() => (conn = client.connectionOn(app.server)) !== undefined, () => 'connection not registered', 2000);
          for (const message of messages) client.send(message);
          // FIN right behind the requests.
          client.socket.end();
          if (holdReplies) {
            await waitUntil(() => conn?.state !== 'open', () => `the server has not seen the FIN (${conn?.pendingInputBytes} bytes of input held)`, 3000);
            client.socket.resume();
          }
          if (codec === 'seed') {
            // One reply per chunk the server read, each "[Server Reply]: " + that chunk.
            const parts: Buffer[] = [];
            for (let got = 0; got < size; ) {
              const reply = await within(client.read(), 3000, `seed reply after ${got} of ${size} bytes (round ${round})`);
              assert.ok(reply.subarray(0, PREFIX.length).equals(PREFIX), 'a seed reply lacks the prefix');
              parts.push(reply.subarray(PREFIX.length));
              got += reply.length - PREFIX.length;
            }
            assert.ok(Buffer.concat(parts).equals(Buffer.concat(messages)), 'the reassembled seed replies differ from the request');
          } else {
            for (const message of messages) {
              const reply = await within(client.read(), 3000, `reply to a ${message.length}-byte message (${codec}, round ${round})`);
              assert.ok(reply.equals(expectedReply(message)), `reply to a ${message.length}-byte message differs`);
            }
            assert.equal(client.received, messages.length);
          }
          const closed = await within(client.closed, 3000, 'the server to close after the replies');
          assert.deepEqual(closed, { hadError: false, sawEnd: true, error: null });
        }
        await ledger.assertSettledCleanly();
        assert.deepEqual([...ledger.reasons], [['peer-closed', 2]]);
        assert.deepEqual(ledger.errors.map(String), []);
      });
    });
  }
});

describe('faults: a handler that throws', { timeout: 20_000 }, () => {
  for (const mode of ['sync', 'async'] as const) {
    it(`closes only the connection whose handler threw (${mode}); the others keep being served`, { timeout: 10_000 }, async () => {
      type Event = { kind: 'error'; id: number; error: Error } | { kind: 'close'; id: number; reason: CloseReason };
      const log = new EventLog<Event>();
      const server = new NetServer({
        host: '127.0.0.1',
        port: 0,
        codec: 'length',
        callbacks: {
          onMessage: (conn: Connection, message: Buffer): void | Promise<void> => {
            const text = message.toString();
            if (text === 'throw sync') throw new Error('sync boom');
            if (text === 'throw async') {
              return (async () => {
                await new Promise<void>((resolve) => setImmediate(resolve));
                throw new Error('async boom');
              })();
            }
            if (text.startsWith('async ')) {
              // A well-behaved async handler, in flight on other connections at the same time.
              return new Promise<void>((resolve) => setImmediate(resolve)).then(() => void conn.send([PREFIX, message]));
            }
            conn.send([PREFIX, message]);
          },
          onError: (conn, error) => log.push({ kind: 'error', id: conn.id, error }),
          onClose: (conn, reason) => log.push({ kind: 'close', id: conn.id, reason }),
        },
      });
      await faultScenario(server, async ({ ledger, warnings, connect }) => {
        const bystanders = await Promise.all(Array.from({ length: 4 }, () => connect(LENGTH)));
        let serving = true;
        const served = bystanders.map(() => 0);
        // The bystanders do round trips, sync and async, all through the throwing.
        const traffic = Promise.all(
          bystanders.map(async (client, b) => {
            let n = 0;
            while (serving || n < 5) {
              const message = n % 2 === 0 ? `bystander ${b} #${n}` : `async bystander ${b} #${n}`;
              assert.deepEqual(await client.request(message), expectedReply(message));
              served[b] = ++n;
            }
            return n;
          }),
        );

        for (let round = 0; round < 5; round++) {
          const thrower = await connect(LENGTH);
          assert.deepEqual(await thrower.request('fine so far'), expectedReply('fine so far'));
          const conn = thrower.connectionOn(server);
          assert.ok(conn !== undefined);
          // The throwing message, and one behind it in the same write. After a sync throw it must
          // not be answered; after an async one it was legitimately answered before the rejection.
          thrower.socket.write(Buffer.concat([frameRequest(LENGTH, `throw ${mode}`), frameRequest(LENGTH, 'behind the throw')]));
          const failure = await within(log.waitFor((e) => e.kind === 'error' && e.id === conn.id), 2000, 'onError for the throw');
          assert.equal(failure.kind, 'error');
          if (failure.kind !== 'error') return;
          assert.ok(failure.error instanceof HandlerError, `got ${String(failure.error)}`);
          assert.equal(failure.error.code, 'ERR_HANDLER_FAILED');
          assert.equal(failure.error.callback, 'onMessage');
          assert.equal((failure.error.cause as Error).message, `${mode} boom`);
          const close = await within(log.waitFor((e) => e.kind === 'close' && e.id === conn.id), 2000, 'onClose for the throw');
          assert.equal(close.kind === 'close' && close.reason, 'error');
          await within(thrower.closed, 2000, 'the thrower to see the close');
          assert.equal(thrower.received, mode === 'sync' ? 1 : 2);
        }
        // Served while the throws happened, not only after them.
        const servedDuringThrows = [...served];
        serving = false;
        for (const n of servedDuringThrows) assert.ok(n >= 1, `a bystander was not served during the throws: ${servedDuringThrows.join(', ')}`);
        const rounds = await within(traffic, 5000, 'the bystanders to finish');
        for (const n of rounds) assert.ok(n >= 5);
        // Only the throwers were closed: every bystander is still open and served.
        assert.equal(server.connectionCount, bystanders.length);
        for (const client of bystanders) assert.deepEqual(await client.end(), { hadError: false, sawEnd: true, error: null });
        await ledger.assertSettledCleanly();
        assert.equal(ledger.errors.length, 5);
        assert.ok(ledger.errors.every((e) => e instanceof HandlerError));
        assert.deepEqual(warnings.warnings.map(String), []);
      });
    });
  }
});

// A failed test may leave sockets open: unref them so the file still ends (after a clean run there are none).
after(() => void releaseLeftoverSockets());
