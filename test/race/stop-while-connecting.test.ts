import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ReactorServer, ServerStateError, type ReactorServerOptions } from '../../src/index.js';
import { ConnectionLedger, WarningRecorder } from '../helpers/connection-ledger.js';
import { releaseLeftoverSockets, snapshotHandles, waitForHandles } from '../helpers/resources.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';
import { waitUntil } from '../helpers/wait.js';
import { rawSocket } from './harness.js';

type Outcome = 'replied' | 'closed-before-reply' | 'connect-failed';

/**
 * Connects, asks one question and reports how far it got; rejects only on a wrong reply. A
 * client that got its reply stays connected, so only the server's stop can end it.
 */
async function tryRoundTrip(port: number, message: string, progress: { replies: number }): Promise<Outcome> {
  let client: SeedClient;
  try {
    client = await SeedClient.connect(port);
  } catch {
    return 'connect-failed';
  }
  try {
    const reply = await client.request(message);
    // A reply, when one comes, is still the right one: a stop must not garble what it lets out.
    assert.deepEqual(reply, expectedReply(message));
    progress.replies++;
    await client.closed;
    return 'replied';
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    return 'closed-before-reply';
  } finally {
    client.destroy();
    await client.closed;
  }
}

async function assertRefused(port: number): Promise<void> {
  const { connected, closed } = rawSocket(port);
  assert.equal(await connected, false, `port ${port} still accepts connections after stop()`);
  await closed;
}

// With task workers, replies still being made on other threads race the stop as well.
const VARIANTS: readonly { name: string; options: ReactorServerOptions }[] = [
  { name: 'replies on the loop', options: {} },
  { name: 'replies from 2 task workers', options: { taskWorkers: 2 } },
];

describe('race: stop() while clients are still arriving', { timeout: 60_000 }, () => {
  // A stop() that leaves the listener open has failed a test already; it must not also hang the file.
  after(() => void releaseLeftoverSockets());

  for (const variant of VARIANTS) it(`resolves, closes every accepted connection once and leaks nothing (${variant.name})`, { timeout: 20_000 }, async (t) => {
    const warnings = new WarningRecorder();
    // Taken before the server exists: after stop() everything it opened must be gone.
    const baseline = snapshotHandles();
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, ...variant.options });
    const ledger = new ConnectionLedger(app.server);
    const { port } = await app.start();

    // 300 connects in one tick, far more than are accepted by the time stop() starts. Some
    // replies must be out first, so the stop also lands on connections with replies in flight.
    const progress = { replies: 0 };
    const firstWave = Array.from({ length: 300 }, (_, i) => tryRoundTrip(port, `first wave ${i}`, progress));
    await waitUntil(
      () => ledger.accepted >= 40 && progress.replies >= 10,
      () => `only ${ledger.accepted} accepted, ${progress.replies} replied`,
    );

    const stopping = app.stop();
    assert.equal(app.server.stop(), app.server.stop(), 'every stop() must share the first one');
    const stoppingAgain = app.stop();
    // More clients knock while the server is shutting down.
    const secondWave = Array.from({ length: 50 }, (_, i) => tryRoundTrip(port, `second wave ${i}`, progress));
    await Promise.all([stopping, stoppingAgain]);

    // stop() resolves only when all is closed, so no waiting here.
    assert.equal(app.server.connectionCount, 0);
    assert.equal(app.server.isRunning, false);
    assert.equal(app.server.address, null);
    ledger.assertClosedExactlyOnce();
    // No client closes before the server does, so the stop closed every accepted connection.
    assert.deepEqual(Object.fromEntries(ledger.reasons), { 'server-stop': ledger.accepted });

    const outcomes = await Promise.all([...firstWave, ...secondWave]);
    const tally = (o: Outcome): number => outcomes.filter((x) => x === o).length;
    t.diagnostic(
      `accepted ${ledger.accepted}, closes ${JSON.stringify(Object.fromEntries(ledger.reasons))}; clients: ` +
        `${tally('replied')} replied, ${tally('closed-before-reply')} closed first, ${tally('connect-failed')} refused`,
    );
    assert.equal(tally('replied') + tally('closed-before-reply') + tally('connect-failed'), 350);
    // Every accepted client that got a reply was counted by the server too.
    assert.ok(tally('replied') <= ledger.accepted);
    assert.ok(tally('connect-failed') + tally('closed-before-reply') > 0, 'stop() came too late to race anything');

    await assertRefused(port);
    // A stopped server stays stopped (and a refused restart must not leave anything behind).
    await assert.rejects(app.start(), ServerStateError);
    await waitForHandles(baseline);
    ledger.assertClosedExactlyOnce();
    warnings.dispose();
    assert.deepEqual(warnings.warnings.map(String), []);
  });

  it('resolves when stop() is called before start() has finished listening', { timeout: 20_000 }, async () => {
    const baseline = snapshotHandles();
    const app = new ReactorServer({ host: '127.0.0.1', port: 0 });
    const starting = app.start();
    const stopping = app.stop();
    const { port } = await starting;
    await stopping;
    assert.equal(app.server.isRunning, false);
    assert.equal(app.server.dispatcher.isRunning, false, 'the dispatcher was started after stop()');
    await assertRefused(port);
    await waitForHandles(baseline);
  });
});
