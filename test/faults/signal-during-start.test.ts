/**
 * SIGTERM at any moment of start-up (reactors still being forked or spawned, the application
 * still loading) stops what has started and exits 0: no death by the signal, no stack traces
 * from reactors whose supervisor went away, no reactor process left behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { supportsReusePort } from '../../src/index.js';
import { CLI_PATH } from '../helpers/server-process.js';
import { processExists } from '../reactors/helpers.js';

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
        const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REACTOR_')));
        const child = spawn(process.execPath, ['--import', ANNOUNCE, CLI_PATH, 'start', '--port', '0', '--workers', '8', '--reactor-mode', mode], { stdio: ['ignore', 'pipe', 'pipe'], env });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
        child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
        const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
        const running = new Promise<void>((resolve) => child.stderr.on('data', () => stderr.includes('js-running\n') && resolve()));
        const seen = new Set<number>();
        // Watch the reactor processes come and go until the signal, so none can hide.
        const watch = setInterval(() => childrenOf(child.pid!).forEach((pid) => seen.add(pid)), 20);
        await running;
        await new Promise((resolve) => setTimeout(resolve, delay));
        childrenOf(child.pid!).forEach((pid) => seen.add(pid));
        child.kill('SIGTERM');
        const [code, signal] = await closed;
        clearInterval(watch);
        const output = `stdout:\n${stdout}\nstderr:\n${stderr}`;
        assert.equal(signal, null, `the CLI died of ${signal}\n${output}`);
        assert.equal(code, 0, `exit ${code}\n${output}`);
        assert.doesNotMatch(stderr.replace('js-running\n', ''), /Unhandled|EPIPE|^\s+at /m, `stack traces or pipe errors\n${output}`);
        for (const pid of seen) assert.equal(processExists(pid), false, `reactor process ${pid} outlived the CLI`);
      });
    }
  }
});
