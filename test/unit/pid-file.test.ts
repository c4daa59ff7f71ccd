/**
 * Reading and writing a pid file: what counts as a pid (never 0 or a negative number, which
 * process.kill() would take for a process group), which file is stale, the control socket's
 * path beside it, and removal only of a file that still holds our pid.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlSocketPath, isAlive, readPidFile, removePidFile, writePidFile } from '../../src/cli/pid-file.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pid-unit-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the pid file', () => {
  it('puts the control socket beside it: .pid replaced by .sock, else .sock appended', () => {
    assert.equal(controlSocketPath('/run/reactor-server/server.pid'), '/run/reactor-server/server.sock');
    assert.equal(controlSocketPath('/run/reactor-server/server'), '/run/reactor-server/server.sock');
    assert.equal(controlSocketPath('/run/x.pid.bak'), '/run/x.pid.bak.sock');
  });

  it('is absent when there is no file, and holds no pid unless it is one positive integer', () => {
    const file = join(dir, 'parse.pid');
    assert.deepEqual(readPidFile(file), { kind: 'absent' });
    for (const content of ['', '\n', '0', '-1', '-4242', '1e3', '12abc', '12 13', '0x10', '99999999999', '2147483648']) {
      writeFileSync(file, content);
      const state = readPidFile(file);
      assert.equal(state.kind, 'stale', JSON.stringify(content));
      assert.equal(state.kind === 'stale' && state.pid, null, `${JSON.stringify(content)} is no pid`);
    }
  });

  it('names a running process only when it lives, is not this process, and (where /proc tells) runs the CLI', async () => {
    const file = join(dir, 'live.pid');
    // This test process: alive, but the reader's own pid (a pid reused after a restart).
    writeFileSync(file, `  ${process.pid}  \n`);
    assert.deepEqual(readPidFile(file), { kind: 'stale', pid: process.pid, reason: `pid ${process.pid} is this very process` });
    // Another program, alive.
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await once(other, 'spawn');
      writeFileSync(file, `${other.pid}\n`);
      const state = readPidFile(file);
      if (existsSync('/proc/self/cmdline')) {
        assert.equal(state.kind, 'stale');
        assert.match(state.kind === 'stale' ? state.reason : '', new RegExp(`^pid ${other.pid} is another program \\(.*setInterval`));
      } else {
        assert.deepEqual(state, { kind: 'running', pid: other.pid }, 'without /proc a live pid counts as a server');
      }
    } finally {
      other.kill('SIGKILL');
      await once(other, 'exit');
    }
  });

  it('counts a process that exists as alive, and 2^31-1 (no such process) as not', () => {
    assert.equal(isAlive(process.pid), true);
    assert.equal(isAlive(2 ** 31 - 1), false);
  });

  it('is written whole (no temporary file left) and removed only while it holds the pid', () => {
    const file = join(dir, 'write.pid');
    writePidFile(file, 4242);
    assert.equal(readFileSync(file, 'utf8'), '4242\n');
    assert.deepEqual(readdirSync(dir).filter((name) => name.includes('write.pid')), ['write.pid']);
    removePidFile(file, 4243);
    assert.equal(existsSync(file), true, "another process's file is left alone");
    removePidFile(file, 4242);
    assert.equal(existsSync(file), false);
    removePidFile(file, 4242); // gone already: no throw
  });
});
