/**
 * `reactor-server send MESSAGE`: one request, the reply on stdout, exit 0; any failure a
 * message on stderr and exit 1, promptly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { closedPort, runCli, startCli } from './support.js';

describe('ops: send command', () => {
  it('send hello against a CLI server prints "[Server Reply]: hello" and exits 0', { timeout: 20_000 }, async () => {
    const server = await startCli([]);
    try {
      const result = await runCli(['send', 'hello', '--port', String(server.port)]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[Server Reply]: hello\n');
      assert.equal(result.stderr, '');
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  it('send --codec line against a line server', { timeout: 20_000 }, async () => {
    const server = await startCli(['--codec', 'line']);
    try {
      const result = await runCli(['send', 'over lines', '-p', String(server.port), '--codec', 'line']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[Server Reply]: over lines\n');
    } finally {
      assert.equal((await server.stop()).code, 0);
    }
  });

  it('send "" with the seed codec exits 1 at once saying an empty message gets no reply; with length and line it is answered', { timeout: 30_000 }, async () => {
    const seed = await startCli([]);
    try {
      // --timeout far beyond the run's own limit: only an immediate answer passes.
      const result = await runCli(['send', '', '--port', String(seed.port), '--timeout', '60'], { timeoutMs: 5000 });
      assert.equal(result.signal, null, `send "" was still running and had to be killed; stderr: ${JSON.stringify(result.stderr)}`);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^reactor-server: an empty message gets no reply with the seed codec/);
    } finally {
      assert.equal((await seed.stop()).code, 0);
    }
    for (const codec of ['length', 'line']) {
      const server = await startCli(['--codec', codec]);
      try {
        const result = await runCli(['send', '', '--port', String(server.port), '--codec', codec]);
        assert.equal(result.code, 0, `${codec}: ${result.stderr}`);
        assert.equal(result.stdout, '[Server Reply]: \n', codec);
      } finally {
        assert.equal((await server.stop()).code, 0);
      }
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
