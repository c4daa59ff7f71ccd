/**
 * `start --pid-file FILE`: the file is written once the server listens and removed when it
 * stops; a second server on the same file is refused while the first goes on serving; a stale
 * file (its process gone, another program's pid, no pid at all) is replaced with a warning; the
 * control socket beside it is the owner's only (0600) and answers bad requests with an error
 * on a connection that stays usable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPLY_PREFIX, connect } from '../../src/index.js';
import { MAX_REQUEST_BYTES } from '../../src/cli/control-server.js';
import { runCli, spawnNode, startCli, withCli } from '../helpers/cli-process.js';

/** pino's numeric level for warn. */
const WARN = 40;
const HAS_PROC = existsSync('/proc/self/cmdline');

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'reactor-pid-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A fresh pid file path in the test directory, and its control socket. */
function pidPaths(): { pidFile: string; socket: string } {
  files++;
  return { pidFile: join(dir, `server-${files}.pid`), socket: join(dir, `server-${files}.sock`) };
}

/** The pid of a process that has run and exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawnNode(['-e', '']);
  assert.deepEqual(await child.exited, { code: 0, signal: null });
  return child.pid;
}

/** Sends `lines` on one connection to the control socket and resolves with the first `count` answer lines. */
async function control(socketPath: string, text: string, count: number): Promise<unknown[]> {
  const socket = net.connect(socketPath);
  socket.setEncoding('utf8');
  let received = '';
  const answers = new Promise<unknown[]>((resolve, reject) => {
    socket.on('data', (chunk: string) => {
      received += chunk;
      const lines = received.split('\n');
      if (lines.length > count) resolve(lines.slice(0, count).map((line) => JSON.parse(line) as unknown));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`closed after ${JSON.stringify(received)}`)));
  });
  socket.write(text);
  try {
    return await answers;
  } finally {
    socket.destroy();
  }
}

describe('ops: the pid file', { timeout: 60_000 }, () => {
  it('is written once listening with the pid, beside a 0600 control socket; both are gone after a stop', async () => {
    const { pidFile, socket } = pidPaths();
    const server = await startCli(['--pid-file', pidFile]);
    try {
      assert.equal(readFileSync(pidFile, 'utf8'), `${server.pid}\n`, 'written by the time the ready line is out');
      const stat = lstatSync(socket);
      assert.ok(stat.isSocket(), 'the control socket is FILE with .pid replaced by .sock');
      assert.equal(stat.mode & 0o777, 0o600, 'only its owner may use the control socket');
      assert.deepEqual(readdirNames(), [`server-${files}.pid`, `server-${files}.sock`].sort(), 'no temporary file left behind');
    } finally {
      assert.deepEqual(await server.stop(), { code: 0, signal: null }, server.output());
    }
    assert.equal(existsSync(pidFile), false, 'the pid file is removed at exit');
    assert.equal(existsSync(socket), false, 'the control socket is removed at exit');
  });

  it('refuses a second start on the same pid file (exit 1, naming the pid and file); the first goes on serving', async () => {
    const { pidFile } = pidPaths();
    await withCli(['--pid-file', pidFile], async (first) => {
      const second = await runCli(['start', '--port', '0', '--pid-file', pidFile]);
      assert.equal(second.code, 1, second.stderr);
      assert.equal(second.stderr, `reactor-server: already running (pid ${first.pid}, ${pidFile})\n`);
      assert.doesNotMatch(second.stdout, /listening on/, 'nothing started');
      assert.equal(readFileSync(pidFile, 'utf8'), `${first.pid}\n`, 'the file is still the first server\'s');
      const client = await connect({ port: first.port });
      assert.equal((await client.request('still here', 5000)).toString(), `${REPLY_PREFIX}still here`);
      await client.close();
      const status = await runCli(['status', '--pid-file', pidFile]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`pid ${first.pid}\\b`));
    });
  });

  const staleCases: { name: string; content: () => Promise<string>; reason: RegExp; skip?: boolean }[] = [
    { name: 'a pid whose process is gone', content: async () => `${await deadPid()}\n`, reason: /^no process \d+$/ },
    {
      // This test file's own process: alive, and `node --test ...`, not the CLI.
      name: 'the live pid of another program',
      content: async () => {
        assert.doesNotMatch(readFileSync('/proc/self/cmdline', 'utf8'), /cli\/main\.js/);
        return `${process.pid}\n`;
      },
      reason: new RegExp(`^pid ${process.pid} is another program \\(`),
      skip: !HAS_PROC,
    },
    { name: 'no pid at all', content: async () => 'not a pid\n', reason: /does not hold a process id$/ },
  ];
  for (const stale of staleCases) {
    it(`replaces a stale pid file (${stale.name}) with a warning`, { skip: stale.skip === true ? 'needs /proc' : false }, async () => {
      const { pidFile } = pidPaths();
      writeFileSync(pidFile, await stale.content());
      await withCli(['--pid-file', pidFile], async (server) => {
        const warning = await server.waitForLog((e) => e.msg === 'stale pid file: replaced once listening');
        assert.equal(warning.level, WARN);
        assert.equal(warning.pidFile, pidFile);
        assert.match(warning.reason as string, stale.reason);
        assert.equal(warning.pid, server.pid);
        assert.equal(readFileSync(pidFile, 'utf8'), `${server.pid}\n`);
      });
      assert.equal(existsSync(pidFile), false);
    });
  }

  it('after a SIGKILL (pid file and socket left behind), the next start replaces both', async () => {
    const { pidFile, socket } = pidPaths();
    const killed = await startCli(['--pid-file', pidFile]);
    assert.equal((await killed.stop('SIGKILL')).signal, 'SIGKILL');
    assert.ok(existsSync(pidFile) && existsSync(socket), 'SIGKILL leaves both behind');
    await withCli(['--pid-file', pidFile], async (server) => {
      const warning = await server.waitForLog((e) => e.msg === 'stale pid file: replaced once listening');
      assert.equal(warning.stalePid, killed.pid);
      assert.equal(warning.pid, server.pid, "the log line's own pid is the new server's");
      assert.equal(readFileSync(pidFile, 'utf8'), `${server.pid}\n`);
      const status = await runCli(['status', '--json', '--pid-file', pidFile]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, server.pid, 'the new server answers on the socket');
    });
  });

  it('start exits 1 before starting anything when the pid file cannot be used: a missing directory, a control socket path too long', async () => {
    const missing = join(dir, 'no-such-dir', 'server.pid');
    const noDir = await runCli(['start', '--port', '0', '--pid-file', missing]);
    assert.equal(noDir.code, 1, noDir.stderr);
    assert.match(noDir.stderr, new RegExp(`^reactor-server: cannot use pid file ${missing}: .*ENOENT`));
    assert.doesNotMatch(noDir.stdout, /listening on/);

    const long = join(dir, `${'x'.repeat(120)}.pid`);
    const tooLong = await runCli(['start', '--port', '0', '--pid-file', long]);
    assert.equal(tooLong.code, 1, tooLong.stderr);
    assert.match(tooLong.stderr, /invalid option pidFile: its control socket .*\.sock is \d+ bytes long; a UNIX socket path may have at most 10[37]/);
    assert.equal(existsSync(long), false);
  });

  it('the control socket answers bad requests with an error and stays usable; an over-long line ends the connection', async () => {
    const { pidFile, socket } = pidPaths();
    await withCli(['--pid-file', pidFile], async (server) => {
      const [notJson, notObject, noCmd, unknown, status] = await control(socket, 'garbage\n42\n{"command":"status"}\n{"cmd":"restart"}\n{"cmd":"status"}\n', 5);
      assert.match((notJson as { error: string }).error, /^request is not JSON: /);
      assert.match((notObject as { error: string }).error, /^request must be an object with a "cmd"/);
      assert.match((noCmd as { error: string }).error, /^request must be an object with a "cmd"/);
      assert.equal((unknown as { error: string }).error, 'unknown cmd "restart": expected "status" or "reload"');
      assert.equal((status as { pid: number }).pid, server.pid, 'answered after the errors, on the same connection');

      const long = net.connect(socket);
      long.setEncoding('utf8');
      let answer = '';
      long.on('data', (text: string) => (answer += text));
      long.write('x'.repeat(MAX_REQUEST_BYTES + 1));
      await once(long, 'end');
      long.destroy();
      assert.match(answer, new RegExp(`^\\{"error":"request longer than ${MAX_REQUEST_BYTES} bytes without a newline: closing"\\}\\n$`));
      // The server is none the worse.
      const [again] = await control(socket, '{"cmd":"status"}\n', 1);
      assert.equal((again as { pid: number }).pid, server.pid);
    });
  });
});

function readdirNames(): string[] {
  return readdirSync(dir)
    .filter((name) => name.startsWith(`server-${files}.`) || name.startsWith(`.server-${files}.`))
    .sort();
}
