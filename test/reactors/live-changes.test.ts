/**
 * A running group changes its live options in every reactor (reconfigure), and replaces its
 * reactors one at a time (replaceReactors) without refusing or failing a single connection
 * of a churning client: new threads or processes, new application code, old connections
 * drained. A new reactor that cannot start leaves the old one serving.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReactorStartError, type ReactorGroup } from '../../src/index.js';
import { Churn } from '../helpers/churn.js';
import { writeVersionedApp } from '../helpers/versioned-app.js';
import { SeedClient } from '../helpers/seed-client.js';
import { waitUntil, within } from '../helpers/wait.js';
import { attempt, refused } from '../admission/support.js';
import { assertEchoes, closeAll, connectMany, MODES, withGroup } from './helpers.js';

const TIMEOUT = { timeout: 60_000 };

/** Churns while `during` runs; asserts no session failed and that sessions went on throughout. */
async function churnWhile(port: number, during: () => Promise<void>): Promise<void> {
  const churn = new Churn(port, 4);
  await within(churn.further(20), 10_000, 'the first sessions');
  const before = churn.count;
  await within(during(), 30_000, 'the change under churn');
  await within(churn.further(20), 10_000, `20 sessions after the change (${churn.count} so far)`);
  const result = await churn.stop();
  assert.deepEqual(result.failures, [], `${result.failures.length} of ${result.sessions} sessions failed`);
  assert.ok(result.sessions > before + 20, 'sessions went on');
}

for (const { mode, skip } of MODES) {
  describe(`reactors: ${mode}, live changes`, () => {
    it('reconfigure: a shorter idle timeout closes the idle connections of every reactor', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, idleTimeout: 300, checkInterval: 60 }, async (group, port) => {
        const clients = await connectMany(port, 8);
        await assertEchoes(clients);
        await group.reconfigure({ idleTimeout: 0.5, checkInterval: 0.1 });
        // Every client was silent since: each is closed by the server, within a few checks.
        await within(Promise.all(clients.map((client) => client.closed)), 5000, 'idle clients closed');
        const { total } = await group.stats();
        assert.equal(total.idleClosed, 8);
      }));

    it('reconfigure: a bad value or an option that needs a restart changes nothing', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, maxConnections: 0 }, async (group, port) => {
        await assert.rejects(group.reconfigure({ highWaterMark: -1 }), { code: 'ERR_INVALID_OPTION', option: 'highWaterMark' });
        await assert.rejects(group.reconfigure({ port: 1 } as never), { code: 'ERR_INVALID_OPTION', option: 'port' });
        await assert.rejects(group.reconfigure({ maxConnectionsPerIp: 3 }), { code: 'ERR_INVALID_OPTION', option: 'maxConnectionsPerIp' });
        const clients = await connectMany(port, 4);
        await assertEchoes(clients);
        await closeAll(clients);
      }));

    it('reconfigure: new per-address limits hold for the whole group at once', { skip, ...TIMEOUT }, () =>
      withGroup({ workers: 2, reactorMode: mode, maxConnectionsPerIp: 10 }, async (group, port) => {
        const clients = await connectMany(port, 4);
        // Answered, so admitted and counted (a connect alone may still wait in a reactor's accept queue).
        await assertEchoes(clients);
        await group.reconfigure({ maxConnectionsPerIp: 4 });
        // The four held count against the new limit: a fifth from the same address is refused.
        await refused(port, '127.0.0.1');
        await closeAll(clients.slice(0, 1));
        // The place freed reaches the limits' keeper (the supervisor, in processes mode) a moment after the close.
        const again = await waitUntil(async () => {
          const result = await attempt(port, '127.0.0.1');
          return result.served ? result.client : null;
        }, 'a place free again');
        const refusals = (await group.stats()).total.rejectedByReason['per-ip'] ?? 0;
        assert.ok(refusals >= 1, `${refusals} per-ip refusals`);
        await closeAll([again, ...clients.slice(1)]);
      }));

    it('replaceReactors: new reactors with new code, zero failed sessions under churn, old connections drained', { skip, ...TIMEOUT }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'reactor-replace-'));
      const app = join(dir, 'app.mjs');
      try {
        writeVersionedApp(app, 'v1');
        await withGroup({ workers: 2, reactorMode: mode, app, drainTimeout: 5 }, async (group, port) => {
          const before = group.reactors.map((r) => r.id);
          const held = await SeedClient.connect(port);
          assert.equal((await held.request('version?')).toString(), 'v1');
          writeVersionedApp(app, 'v2');
          let replaced: Awaited<ReturnType<ReactorGroup['replaceReactors']>> = [];
          await churnWhile(port, async () => {
            replaced = await group.replaceReactors();
          });
          assert.deepEqual(replaced.map((r) => r.index), [0, 1]);
          assert.deepEqual(replaced.map((r) => r.from), before);
          const after = group.reactors.map((r) => r.id);
          assert.deepEqual(replaced.map((r) => r.to), after);
          for (const id of after) assert.ok(!before.includes(id), `reactor ${id} is new`);
          // The held connection was idle: its old reactor closed it while draining.
          await within(held.closed, 10_000, 'the held connection drained');
          const fresh = await connectMany(port, 6);
          const versions = await Promise.all(fresh.map((client) => client.request('version?')));
          assert.deepEqual(versions.map(String), Array(6).fill('v2'));
          await closeAll(fresh);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('replaceReactors: a new application that cannot load leaves the old reactors serving', { skip, ...TIMEOUT }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'reactor-replace-'));
      const app = join(dir, 'app.mjs');
      try {
        writeVersionedApp(app, 'v1');
        await withGroup({ workers: 2, reactorMode: mode, app, onReactorExit: () => undefined }, async (group, port) => {
          const before = group.reactors.map((r) => r.id);
          writeFileSync(app, 'throw new Error("v2 is broken");\n');
          await churnWhile(port, async () => {
            await assert.rejects(group.replaceReactors(), (err: unknown) => err instanceof ReactorStartError && /v2 is broken/.test(err.message));
          });
          assert.deepEqual(group.reactors.map((r) => r.id), before);
          assert.ok(group.status().every((s) => s.state === 'serving'));
          writeVersionedApp(app, 'v3');
          const replaced = await group.replaceReactors();
          assert.equal(replaced.length, 2);
          const client = await SeedClient.connect(port);
          assert.equal((await client.request('version?')).toString(), 'v3');
          await closeAll([client]);
          assert.ok(readFileSync(app, 'utf8').includes('v3'));
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
