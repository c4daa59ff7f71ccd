import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startCli, type CliServer } from '../helpers/cli-process.js';

const run = promisify(execFile);
// The fixture is not compiled: it lives in the source tree, two levels up from build/test/basic.
const CLIENT = fileURLToPath(new URL('../../../test/fixtures/seed_client.py', import.meta.url));

async function seedClient(port: number, connections: number, hold = false): Promise<string> {
  const args = [CLIENT, '127.0.0.1', String(port), String(connections)];
  if (hold) args.push('--hold');
  const { stdout } = await run('python3', args, { timeout: 90_000 });
  return stdout.trim();
}

describe('a client written in another language, as the seed clients are', { timeout: 120_000 }, () => {
  let server: CliServer;

  before(async () => {
    server = await startCli([]);
  });
  after(async () => {
    assert.equal((await server.stop()).code, 0);
  });

  it('gets byte-exact replies on 100 connections at once', async () => {
    assert.equal(await seedClient(server.port, 100), 'ok=100 bad=0 closed=0');
  });

  it('gets byte-exact replies on 10,000 connections held open at once', async () => {
    assert.equal(await seedClient(server.port, 10_000, true), 'ok=10000 bad=0 closed=0');
  });
});
