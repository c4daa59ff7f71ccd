/**
 * NetServer.reconfigure on one server: admission lists and per-address limit values change
 * from the next connection, a rate can drop to nothing, and what cannot change live (an option
 * built into the listener, a per-address maximum turning on or off, a bad value or a broken
 * rule between options) is refused by name with nothing changed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NetServer } from '../../src/index.js';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';
import { closeAll, refused, served } from './support.js';

const ECHO = { onMessage: (conn: { send(p: Buffer[]): boolean }, message: Buffer) => void conn.send([Buffer.from('[Server Reply]: '), message]) };

async function withServer(options: ConstructorParameters<typeof NetServer>[0], body: (server: NetServer, port: number) => Promise<void>): Promise<void> {
  const server = new NetServer({ host: '127.0.0.1', port: 0, callbacks: ECHO, ...options });
  const { port } = await server.start();
  try {
    await body(server, port);
  } finally {
    await server.stop({ drainTimeout: 0 });
  }
}

describe('admission: reconfigure on a running server', () => {
  it('deny and allow lists take effect from the next connection; open connections stay', async () => {
    await withServer({}, async (server, port) => {
      const open = await served(port, '127.6.0.1');
      server.reconfigure({ deny: '127.6.0.0/24' });
      await refused(port, '127.6.0.2');
      assert.deepEqual(await open.request('still here'), expectedReply('still here'));
      server.reconfigure({ deny: [], allow: ['127.6.1.0/24'] });
      await closeAll([await served(port, '127.6.1.9')]);
      await refused(port, '127.6.2.1');
      assert.deepEqual(server.stats.rejectedByReason, { deny: 1, allow: 1 });
      await closeAll([open]);
    });
  });

  it('a connection rate changes at once and can drop to nothing; a maximum changes value', async () => {
    await withServer({ connectRatePerIp: 1, maxConnectionsPerIp: 0 }, async (server, port) => {
      await closeAll([await served(port, '127.6.3.1')]);
      await refused(port, '127.6.3.1');
      server.reconfigure({ connectRatePerIp: 0 });
      for (let i = 0; i < 5; i++) await closeAll([await served(port, '127.6.3.1')]);
    });
    await withServer({ maxConnectionsPerIp: 3 }, async (server, port) => {
      const held = [await served(port, '127.6.4.1'), await served(port, '127.6.4.1')];
      server.reconfigure({ maxConnectionsPerIp: 2 });
      await refused(port, '127.6.4.1');
      assert.equal(server.options.maxConnectionsPerIp, 2);
      await closeAll(held);
    });
  });

  it('refuses by name, changing nothing: an option that needs a new server, a limit turning on or off, a bad value, a broken rule', async () => {
    await withServer({ maxConnectionsPerIp: 2, highWaterMark: 1000, lowWaterMark: 100 }, async (server, port) => {
      const before = server.options;
      assert.throws(() => server.reconfigure({ port: 1 } as never), { code: 'ERR_INVALID_OPTION', option: 'port', message: /while the server runs/ });
      assert.throws(() => server.reconfigure({ maxConnectionsPerIp: 0 }), { option: 'maxConnectionsPerIp', message: /turn off/ });
      assert.throws(() => server.reconfigure({ idleTimeout: -1 }), { option: 'idleTimeout' });
      assert.throws(() => server.reconfigure({ idleTimeout: 5, lowWaterMark: 2000 }), { option: 'lowWaterMark' });
      assert.equal(server.options, before, 'the options object in force is the same one');
      const client = await SeedClient.connect(port);
      assert.deepEqual(await client.request('served'), expectedReply('served'));
      await closeAll([client]);
    });
    await withServer({}, async (server) => {
      assert.throws(() => server.reconfigure({ connectRatePerIp: 5 }), { option: 'connectRatePerIp', message: /no per-address limit/ });
    });
  });
});
