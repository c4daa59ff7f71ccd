import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { REPLY_PREFIX } from '../../src/index.js';
import { withCli } from '../helpers/cli-process.js';
import { SeedClient } from '../helpers/seed-client.js';
import { HANDLERS } from './helpers.js';

const PREFIX = Buffer.from(REPLY_PREFIX);

describe('cli: --task-workers', { timeout: 30000 }, () => {
  it('start --task-workers 2 answers 50 concurrent connections byte-exact and exits 0 on SIGTERM', async () => {
    await withCli(['--task-workers', '2'], async (server) => {
      assert.equal(server.host, '127.0.0.1');
      const clients = await Promise.all(Array.from({ length: 50 }, () => SeedClient.connect(server.port)));
      await Promise.all(
        clients.map(async (client, c) => {
          for (let r = 0; r < 10; r++) {
            const message = Buffer.concat([Buffer.from(`cli ${c}/${r} `), Buffer.from([0, 0xff, c, r])]);
            assert.deepEqual(await client.request(message), Buffer.concat([PREFIX, message]), `connection ${c}, request ${r}`);
          }
        }),
      );
      await Promise.all(clients.map((client) => client.end()));
      assert.equal((await server.stop('SIGTERM')).code, 0, `stderr: ${server.stderr()}`);
      assert.doesNotMatch(server.stderr(), /error|warning/i);
    });
  });

  it('--task-module/--task-export run the handler on a pool worker; SIGTERM with a client connected exits 0', async () => {
    await withCli(['--task-workers', '2', '--task-module', fileURLToPath(HANDLERS), '--task-export', 'whereAmI'], async (server) => {
      const client = await SeedClient.connect(server.port);
      assert.deepEqual(await client.request('who runs me'), Buffer.from('worker:who runs me'));
      const exit = server.stop('SIGTERM');
      await client.closed;
      assert.equal((await exit).code, 0, `stderr: ${server.stderr()}`);
    });
  });
});
