import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { startMetricsServer } from '../../src/ops/metrics.js';
import { namedSocketError } from '../../src/transport/socket-error.js';

const namedListenError = (err: unknown, host: string, port: number): unknown => namedSocketError(err, 'listen', host, port);

describe('a listen error names its cause', () => {
  it("rewrites Bun's node:http message, which leaves the code out, keeping code and cause", () => {
    const bun = Object.assign(new Error('Failed to start server. Is port 9100 in use?'), { code: 'EADDRINUSE' });
    const named = namedListenError(bun, '127.0.0.1', 9100) as NodeJS.ErrnoException;
    assert.equal(named.message, 'listen EADDRINUSE: address already in use 127.0.0.1:9100 (Failed to start server. Is port 9100 in use?)');
    assert.equal(named.code, 'EADDRINUSE');
    assert.equal(named.cause, bun);
    const codeless = namedListenError(new Error('Failed to start server. Is port 9100 in use?'), '::1', 9100) as NodeJS.ErrnoException;
    assert.match(codeless.message, /^listen EADDRINUSE: address already in use \[::1\]:9100 /);
    assert.equal(codeless.code, 'EADDRINUSE');
  });

  it('passes on an error that already names its code, and anything else, as it is', () => {
    const node = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:9100'), { code: 'EADDRINUSE' });
    assert.equal(namedListenError(node, '127.0.0.1', 9100), node);
    const other = new Error('something else');
    assert.equal(namedListenError(other, '127.0.0.1', 9100), other);
    assert.equal(namedListenError('a string', '127.0.0.1', 9100), 'a string');
  });

  it('startMetricsServer on a port in use rejects naming EADDRINUSE and the address, on every runtime', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const source = { sample: async () => [], health: () => ({ ok: true }) } as unknown as Parameters<typeof startMetricsServer>[0];
      await assert.rejects(startMetricsServer(source, port, '127.0.0.1'), (err: NodeJS.ErrnoException) => {
        assert.equal(err.code, 'EADDRINUSE');
        assert.match(err.message, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
        return true;
      });
    } finally {
      blocker.close();
    }
  });
});
