import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SeedClient } from '../helpers/seed-client.js';
import { startServer } from './support.js';

describe('onMessage return values', { timeout: 10000 }, () => {
  it('ignores a non-promise return value: `(conn, msg) => conn.send(msg)` keeps the connection', async () => {
    const errors: Error[] = [];
    // The arrow function returns send()'s boolean; only a thenable means work in flight.
    const { server, port } = await startServer({ onMessage: (conn, message) => conn.send(message), onError: (_conn, error) => errors.push(error) });
    const client = await SeedClient.connect(port);
    try {
      assert.deepEqual(await client.request('one'), Buffer.from('one'));
      assert.deepEqual(await client.request('two'), Buffer.from('two'));
      assert.equal(server.connectionCount, 1);
      assert.deepEqual(errors, []);
    } finally {
      await client.end();
      await server.stop();
    }
  });

  it('treats a returned thenable as work in flight: its reply still reaches a half-closed peer', async () => {
    const { server, port } = await startServer({
      onMessage: (conn, message) => ({ then: (done: () => void) => setImmediate(() => (conn.send(message), done())) }) as unknown as Promise<void>,
    });
    const client = await SeedClient.connect(port);
    try {
      client.send('later');
      client.socket.end();
      assert.deepEqual(await client.readFrame(), Buffer.from('later'));
      assert.equal(await client.closed, false);
    } finally {
      client.destroy();
      await server.stop();
    }
  });
});
