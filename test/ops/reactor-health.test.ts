/**
 * A reactor slot that cannot be brought back, as an operator sees it through the CLI: one log
 * line per attempt naming why (the crash with its stack, then the load failure), growing waits
 * between attempts, /health "degraded" and reactor_up 0 for that slot while the other serves,
 * and all back to "ok" once the application loads again.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, REPLY_PREFIX, type Client } from '../../src/index.js';
import { CRASH, CRASH_MESSAGE, LOAD_FAILURE } from '../fixtures/fragile-app.js';
import { parseLogLine, withCli, type LogEntry } from '../helpers/cli-process.js';
import { httpGet, metric, scrape } from '../helpers/metrics.js';
import { waitUntil } from '../helpers/wait.js';

const FRAGILE_APP = fileURLToPath(new URL('../fixtures/fragile-app.js', import.meta.url));

describe('ops: a reactor that cannot be replaced', () => {
  it('is retried with growing waits, one log line per attempt with its reason; /health and reactor_up show it down; it recovers', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fragile-'));
    const marker = join(dir, 'refuse-to-load');
    await withCli(['--workers', '2', '--app', FRAGILE_APP, '--metrics-port', '0'], async (server) => {
      const clients: Client[] = [];
      try {
        const url = (await server.waitForLog((e) => e.msg === 'metrics listening')).metrics as string;
        const healthUrl = url.replace(/\/metrics$/, '/health');
        assert.deepEqual(await httpGet(healthUrl), { status: 200, body: 'ok\n' });

        writeFileSync(marker, '');
        const client = await connect({ port: server.port });
        clients.push(client);
        assert.equal((await client.request('still fine')).toString(), `${REPLY_PREFIX}still fine`);
        client.send(CRASH);

        const exits: LogEntry[] = [];
        for (let n = 1; n <= 4; n++) {
          exits.push(await server.waitForLog((e) => e.level === 50 && typeof e.failures === 'number' && e.failures === n, 15_000));
        }
        const slot = exits[0]!.reactor as number;
        assert.ok(exits.every((e) => e.reactor === slot), 'every attempt is the same slot');
        const err = (e: LogEntry): { message: string; stack: string } => e.err as { message: string; stack: string };
        assert.equal(err(exits[0]!).message, CRASH_MESSAGE);
        assert.match(err(exits[0]!).stack, /fragile-app\.js/, 'the crash is logged with its stack');
        for (const e of exits.slice(1)) assert.match(err(e).message, new RegExp(LOAD_FAILURE), 'each failed attempt names its reason');
        const waits = exits.map((e) => e.restartInMs as number);
        assert.equal(waits[0], 0);
        assert.ok(waits[1]! > 0 && waits[2]! > waits[1]! / 2 && waits[3]! > waits[2]! / 2, `waits grow: ${waits.join(', ')}`);
        const attempts = server.lines().map(parseLogLine).filter((e) => e !== null && typeof e.failures === 'number');
        assert.deepEqual(attempts.map((e) => e!.failures), attempts.map((_, i) => i + 1), 'exactly one line per attempt');
        assert.doesNotMatch(server.stderr(), /could not replace/);

        const health = await httpGet(healthUrl);
        assert.equal(health.status, 200, 'the other reactor still serves');
        assert.equal(health.body, `degraded: reactor ${slot} down\n`);
        const samples = await scrape(url);
        assert.equal(metric(samples, 'reactor_up', { reactor: String(slot) }), 0);
        assert.equal(metric(samples, 'reactor_up', { reactor: String(1 - slot) }), 1);
        assert.ok((metric(samples, 'reactor_restarts_total', { reactor: String(slot) }) ?? 0) >= 3);
        // The other reactor takes every new client meanwhile.
        const meanwhile = await Promise.all(Array.from({ length: 10 }, () => connect({ port: server.port })));
        clients.push(...meanwhile);
        for (const [i, c] of meanwhile.entries()) assert.equal((await c.request(`meanwhile ${i}`)).toString(), `${REPLY_PREFIX}meanwhile ${i}`);

        rmSync(marker);
        await waitUntil(async () => (await httpGet(healthUrl)).body === 'ok\n', '/health to say ok again', 20_000, 25);
        assert.equal(metric(await scrape(url), 'reactor_up', { reactor: String(slot) }), 1);
      } finally {
        for (const c of clients) c.destroy();
        rmSync(dir, { recursive: true, force: true });
      }
    }, { env: { FRAGILE_APP_MARKER: marker }, readyTimeoutMs: 20_000 });
  });
});
