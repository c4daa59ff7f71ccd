/**
 * A port already served is not shared with a second server, in threads mode too: SO_REUSEPORT
 * would let any process of the same user join a reusePort listener and take part of its
 * traffic, so a group refuses to start where anyone listens, as a single reactor does.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ReactorGroup } from '../../src/index.js';
import { runCli, withCli } from '../helpers/cli-process.js';
import { processExists } from '../helpers/resources.js';
import { expectedReply } from '../helpers/seed-client.js';
import { closeAll, connectMany, MODES, THREADS_SKIP, withGroup, workerHandleCount } from './helpers.js';

const SUBCLASS_APP = new URL('./fixtures/subclass-app.js', import.meta.url);
const threadsSkip = MODES.find((m) => m.mode === 'threads')?.skip ?? THREADS_SKIP;

/** Asserts that every one of `count` new clients gets the default echo (not another application's answer). */
async function assertAllServedByEcho(port: number, count: number): Promise<void> {
  const clients = await connectMany(port, count);
  try {
    // The echo answers `whoami` with the prefix; the subclass fixture would answer with its identity.
    const replies = await Promise.all(clients.map((client) => client.request('whoami')));
    for (const reply of replies) assert.deepEqual(reply, expectedReply('whoami'));
  } finally {
    await closeAll(clients);
  }
}

describe('reactors: a served port is not shared', () => {
  for (const { mode, skip } of MODES) {
    it(`a ${mode} group on a port a threads group serves fails with EADDRINUSE, leaves nothing running, and the first keeps all the traffic`, { skip: skip || threadsSkip, timeout: 30_000 }, async () => {
      await withGroup({ workers: 2, reactorMode: 'threads' }, async (_first, port) => {
        const handles = workerHandleCount();
        const second = new ReactorGroup({ workers: 2, reactorMode: mode, port, app: SUBCLASS_APP });
        await assert.rejects(second.start(), (err: NodeJS.ErrnoException & { causeCode?: string }) => {
          // Threads: the group's own probe fails; processes: the cluster primary's listen, reported by reactor 0.
          assert.equal(mode === 'threads' ? err.code : err.causeCode, 'EADDRINUSE', String(err));
          assert.match(err.message, /EADDRINUSE/);
          return true;
        });
        // Threads: refused before any reactor starts. Processes: the cluster primary binds when
        // reactor 0 first listens, so that one was forked, failed, and is gone.
        if (mode === 'threads') assert.equal(second.reactors.length, 0, 'no reactor was started');
        for (const reactor of second.reactors) assert.equal(processExists(reactor.id), false, `reactor process ${reactor.id} is still running`);
        assert.ok(workerHandleCount() <= handles);
        await assertAllServedByEcho(port, 50);
      });
    });
  }

  it('a threads group on a port a plain listener holds fails with EADDRINUSE', { skip: threadsSkip, timeout: 30_000 }, async () => {
    const plain = net.createServer((socket) => socket.destroy());
    plain.listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const { port } = plain.address() as AddressInfo;
      await assert.rejects(new ReactorGroup({ workers: 2, reactorMode: 'threads', port }).start(), { code: 'EADDRINUSE' });
    } finally {
      plain.close();
    }
  });

  it('CLI: a second `start --workers 2 --reactor-mode threads` on the same port exits 1 naming EADDRINUSE; the first keeps serving alone', { skip: threadsSkip, timeout: 30_000 }, async () => {
    await withCli(['--workers', '2', '--reactor-mode', 'threads'], async (first) => {
      const second = await runCli(['start', '--port', String(first.port), '--workers', '2', '--reactor-mode', 'threads', '--app', fileURLToPath(SUBCLASS_APP)], { timeoutMs: 15_000 });
      assert.equal(second.signal, null, 'the second start ended by itself');
      assert.equal(second.code, 1);
      assert.match(second.stderr, new RegExp(`cannot start on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`));
      assert.doesNotMatch(second.stdout, /listening on/);
      await assertAllServedByEcho(first.port, 50);
    }, { readyTimeoutMs: 20_000 });
  });
});
