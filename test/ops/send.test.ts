/**
 * `reactor-server send MESSAGE`: one request, the reply on stdout, exit 0; any failure a
 * message on stderr and exit 1, promptly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { runCli, withCli } from '../helpers/cli-process.js';
import { closedPort } from './support.js';

/** An option's entry in --help output, its wrapped lines joined: "--flag <arg> description (default: ...)". */
function helpEntry(help: string, flag: string): string {
  const lines = help.split('\n');
  const start = lines.findIndex((l) => l.trimStart().startsWith(flag));
  assert.ok(start !== -1, `no ${flag} in:\n${help}`);
  const entry = [lines[start] as string];
  for (const line of lines.slice(start + 1)) {
    if (!/^\s{6,}\S/.test(line)) break;
    entry.push(line);
  }
  return entry.join(' ').trim().replace(/\s+/g, ' ');
}

describe('ops: send command', () => {
  it('send hello against a CLI server prints "[Server Reply]: hello" and exits 0', { timeout: 20_000 }, async () => {
    await withCli([], async (server) => {
      const result = await runCli(['send', 'hello', '--port', String(server.port)]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[Server Reply]: hello\n');
      assert.equal(result.stderr, '');
    });
  });

  it('send --codec line against a line server', { timeout: 20_000 }, async () => {
    await withCli(['--codec', 'line'], async (server) => {
      const result = await runCli(['send', 'over lines', '-p', String(server.port), '--codec', 'line']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[Server Reply]: over lines\n');
    });
  });

  it('send "" with the seed codec exits 1 at once saying an empty message gets no reply; with length and line it is answered', { timeout: 30_000 }, async () => {
    await withCli([], async (seed) => {
      // --timeout far beyond the run's own limit: only an immediate answer passes.
      const result = await runCli(['send', '', '--port', String(seed.port), '--timeout', '60'], { timeoutMs: 5000 });
      assert.equal(result.signal, null, `send "" was still running and had to be killed; stderr: ${JSON.stringify(result.stderr)}`);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^reactor-server: an empty message gets no reply with the seed codec/);
    });
    for (const codec of ['length', 'line']) {
      await withCli(['--codec', codec], async (server) => {
        const result = await runCli(['send', '', '--port', String(server.port), '--codec', codec]);
        assert.equal(result.code, 0, `${codec}: ${result.stderr}`);
        assert.equal(result.stdout, '[Server Reply]: \n', codec);
      });
    }
  });

  it('send --codec length --byte-order big reaches a big-endian server; --max-message-bytes bounds the reply', { timeout: 20_000 }, async () => {
    await withCli(['--codec', 'length', '--byte-order', 'big'], async (server) => {
      const result = await runCli(['send', 'big end first', '-p', String(server.port), '--codec', 'length', '--byte-order', 'big']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[Server Reply]: big end first\n');
      // The reply is 16 + 4 bytes: a limit of 19 refuses it, by name.
      const limited = await runCli(['send', 'four', '-p', String(server.port), '--codec', 'length', '--byte-order', 'big', '--max-message-bytes', '19']);
      assert.equal(limited.code, 1);
      assert.equal(limited.stdout, '');
      assert.match(limited.stderr, /^reactor-server: .*frame of 20 bytes exceeds maxMessageBytes \(19\)/);
      const roomy = await runCli(['send', 'four', '-p', String(server.port), '--codec', 'length', '--byte-order', 'big', '--max-message-bytes', '20']);
      assert.equal(roomy.code, 0, roomy.stderr);
      assert.equal(roomy.stdout, '[Server Reply]: four\n');
    });
  });

  it('send takes --codec, --byte-order and --max-message-bytes with the parsers and help of start', { timeout: 20_000 }, async () => {
    const [send, start] = await Promise.all([runCli(['send', '--help']), runCli(['start', '--help'])]);
    for (const flag of ['--codec <name>', '--byte-order <order>']) {
      // Help and default as start shows them (start also names its REACTOR_* variable).
      const sendEntry = helpEntry(send.stdout, flag);
      assert.match(sendEntry, /\(default: "\w+"\)$/);
      assert.ok(helpEntry(start.stdout, flag).startsWith(sendEntry.replace(/\)$/, '')), `${flag}: send says "${sendEntry}", start says "${helpEntry(start.stdout, flag)}"`);
    }
    assert.match(send.stdout, /--max-message-bytes <bytes>\s+largest reply accepted/);
    for (const [flag, value, bound] of [['--byte-order', 'middle', 'must be one of little, big'], ['--codec', 'json', 'must be one of seed, length, line'], ['--max-message-bytes', '0', 'must be a number of bytes >= 1']]) {
      const result = await runCli(['send', 'x', flag as string, value as string]);
      assert.equal(result.code, 1, `${flag} ${value}`);
      assert.match(result.stderr, new RegExp(`${flag}.*'${value}' is invalid\\. ${bound}`), result.stderr);
    }
  });

  it('send against a closed port exits 1 with a message on stderr', { timeout: 15_000 }, async () => {
    const port = await closedPort();
    const result = await runCli(['send', 'hello', '--port', String(port)]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, new RegExp(`^reactor-server: cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('send to a server that never replies exits 1 after --timeout, with a message (and does not hang)', { timeout: 15_000 }, async () => {
    // Accepts, reads, never answers, never closes.
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.resume();
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as net.AddressInfo;
    try {
      const started = performance.now();
      const result = await runCli(['send', 'anyone?', '-p', String(port), '--timeout', '0.3'], { timeoutMs: 4000 });
      const took = performance.now() - started;
      assert.equal(result.signal, null, `send was still running ${took.toFixed(0)} ms later and had to be killed; stderr: ${JSON.stringify(result.stderr)}`);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^reactor-server: no reply within 300 ms/);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
