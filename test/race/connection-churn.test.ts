import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReactorServer, type ReactorServerOptions } from '../../src/index.js';
import { ConnectionLedger, WarningRecorder } from '../helpers/connection-ledger.js';
import { releaseLeftoverSockets } from '../helpers/resources.js';
import { assertServesFreshClient, expectedReply, SeedClient } from '../helpers/seed-client.js';
import { HOOK_TIMEOUT_MS } from '../helpers/wait.js';
import { rawSocket, runScenario } from './harness.js';

// The same scenarios with replies made on the loop and with replies made on worker threads,
// where a reply can come back after its connection has gone or while the peer half-closes.
const VARIANTS: readonly { name: string; options: ReactorServerOptions }[] = [
  { name: 'replies on the loop', options: {} },
  { name: 'replies from 2 task workers', options: { taskWorkers: 2 } },
];

for (const variant of VARIANTS) describe(`race: connections that vanish at awkward moments (${variant.name})`, { timeout: 60_000 }, () => {
  const app = new ReactorServer({ host: '127.0.0.1', port: 0, ...variant.options });
  const ledger = new ConnectionLedger(app.server);
  const warnings = new WarningRecorder();
  let port = 0;

  before(async () => {
    port = (await app.start()).port;
    // The first connections allocate things that then stay for good (a worker thread's own
    // loop among them): they must not count as a leak. Several at once reach every worker.
    await Promise.all(Array.from({ length: 8 }, () => assertServesFreshClient(port, 'start')));
    await ledger.settled();
  }, { timeout: HOOK_TIMEOUT_MS });

  after(async () => {
    await app.stop();
    warnings.dispose();
    assert.equal(app.server.connectionCount, 0);
    ledger.assertClosedExactlyOnce();
    assert.deepEqual(warnings.warnings.map(String), []);
  }, { timeout: HOOK_TIMEOUT_MS });
  // Runs even when the hook above failed or timed out on a stop() that never finished.
  after(() => void releaseLeftoverSockets());

  it('survives 50 rapid connect/close cycles, some closed before the handshake or any byte', { timeout: 20_000 }, async () => {
    let established = 0;
    const { accepted } = await runScenario(app.server, ledger, '50 connect/close cycles', async () => {
      const closes: Promise<void>[] = [];
      for (let i = 0; i < 50; i++) {
        const { socket, connected, closed } = rawSocket(port);
        closes.push(closed);
        const mode = i % 4;
        if (mode === 0) {
          // Before 'connect': the kernel may or may not have finished the handshake.
          socket.destroy();
          continue;
        }
        assert.equal(await connected, true, `cycle ${i} could not connect`);
        established++;
        if (mode === 1) socket.destroy();
        else if (mode === 2) socket.end(); // FIN without a byte sent; not waiting for the server
        else {
          socket.write(`cycle ${i}`);
          socket.destroy();
        }
      }
      await Promise.all(closes);
    });
    // Every connection that completed its handshake was accepted (plus the fresh client), and
    // runScenario has checked each of them got exactly one onClose.
    assert.ok(accepted >= established + 1, `accepted ${accepted}, but ${established} clients connected`);
    ledger.assertOnlyPeerErrors();
  });

  it('survives 40 clients that send and then reset (RST, SO_LINGER 0)', { timeout: 20_000 }, async () => {
    let replied = 0;
    const { accepted } = await runScenario(app.server, ledger, '40 send-then-reset clients', async () => {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const client = await SeedClient.connect(port);
          if (i % 2 === 0) {
            // The reset can overtake the server reading the message or writing its reply.
            client.send(`reset ${i}`);
          } else {
            // The reply to the second message is on its way when the RST lands.
            assert.deepEqual(await client.request(`first ${i}`), expectedReply(`first ${i}`));
            replied++;
            client.send(`second ${i}`);
          }
          client.destroy(true);
          assert.equal(await client.closed, false);
        }),
      );
    });
    assert.equal(replied, 20);
    // Every client finished its handshake before resetting, so every one was accepted.
    assert.equal(accepted, 40 + 1);
    ledger.assertOnlyPeerErrors();
  });

  it('serves 20 parallel workers x 10 connections mixing round trips, send-and-half-close, send-and-close and silent close', { timeout: 20_000 }, async () => {
    type Mode = 'round-trip' | 'send-and-half-close' | 'send-and-close' | 'close-silently';
    const MODES: readonly Mode[] = ['round-trip', 'send-and-half-close', 'send-and-close', 'close-silently'];
    const done = new Map<Mode, number>(MODES.map((mode) => [mode, 0]));

    const { accepted } = await runScenario(app.server, ledger, '20 x 10 mixed workers', async () => {
      const worker = async (w: number): Promise<void> => {
        for (let j = 0; j < 10; j++) {
          const mode = MODES[(w + j) % MODES.length] as Mode;
          const client = await SeedClient.connect(port);
          const message = `worker ${w} connection ${j}`;
          if (mode === 'round-trip') {
            assert.deepEqual(await client.request(message), expectedReply(message), message);
            await client.end();
          } else if (mode === 'send-and-half-close') {
            // FIN right behind the message: the reply (maybe still being made) must come first.
            client.send(message);
            client.socket.end();
            assert.deepEqual(await client.readFrame(), expectedReply(message), message);
            assert.equal(await client.closed, false);
          } else if (mode === 'send-and-close') {
            client.send(message);
            client.destroy();
            await client.closed;
          } else if (j % 2 === 0) {
            // Half-close without a word: the server must still close its side.
            await client.end();
          } else {
            client.destroy();
            await client.closed;
          }
          done.set(mode, (done.get(mode) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 20 }, (_, w) => worker(w)));
    });
    assert.equal([...done.values()].reduce((sum, n) => sum + n, 0), 200);
    for (const mode of MODES) assert.ok((done.get(mode) ?? 0) >= 40, `too few '${mode}' connections to mean anything`);
    assert.equal(accepted, 200 + 1);
    ledger.assertOnlyPeerErrors();
  });
});
