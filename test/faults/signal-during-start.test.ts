/**
 * SIGTERM at any moment of start-up (reactors still being forked or spawned, the application
 * still loading) stops what has started and exits 0: no death by the signal, no stack traces
 * from reactors whose supervisor went away, no reactor process left behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { supportsReusePort } from '../../src/index.js';
import { CLI_PATH, spawnNode, type Exit } from '../helpers/cli-process.js';
import { processExists } from '../helpers/resources.js';

/**
 * Milliseconds after the process starts running JavaScript at which the signal is sent: from
 * the command's modules loading to the reactors starting. (Before that, during Node's own
 * bootstrap, no program can handle a signal.)
 */
const DELAYS_MS = [20, 150, 300, 450, 600, 900];
const ANNOUNCE = new URL('./fixtures/announce-start.js', import.meta.url).href;
const MODES = supportsReusePort() ? ['processes', 'threads'] : ['processes'];

/** The child processes of `pid` right now (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('faults: SIGTERM during start-up', () => {
  for (const mode of MODES) {
    for (const delay of DELAYS_MS) {
      it(`--workers 8 --reactor-mode ${mode}, SIGTERM ${delay} ms into its JavaScript: exit 0, no stack traces, no reactor left`, { timeout: 60_000 }, async () => {
        const cli = spawnNode([CLI_PATH, 'start', '--port', '0', '--workers', '8', '--reactor-mode', mode], { nodeArgs: ['--import', ANNOUNCE] });
        const seen = new Set<number>();
        // Watch the reactor processes come and go until the signal, so none can hide.
        const watch = setInterval(() => childrenOf(cli.pid).forEach((pid) => seen.add(pid)), 20);
        let exit: Exit;
        try {
          await cli.waitForStderr((stderr) => stderr.includes('js-running\n'));
          // The moment of the signal is what each case varies: a timer is the point here.
          await new Promise((resolve) => setTimeout(resolve, delay));
          childrenOf(cli.pid).forEach((pid) => seen.add(pid));
          exit = await cli.stop('SIGTERM');
        } finally {
          clearInterval(watch);
          await cli.stop('SIGKILL');
        }
        const { code, signal } = exit;
        const output = cli.output();
        assert.equal(signal, null, `the CLI died of ${signal}\n${output}`);
        assert.equal(code, 0, `exit ${code}\n${output}`);
        assert.doesNotMatch(cli.stderr().replace('js-running\n', ''), /Unhandled|EPIPE|^\s+at /m, `stack traces or pipe errors\n${output}`);
        for (const pid of seen) assert.equal(processExists(pid), false, `reactor process ${pid} outlived the CLI`);
      });
    }
  }
});
