import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { NetServer, REUSE_PORT_SUPPORT, ReactorGroup, UnsupportedError, supportsReusePort } from '../../src/index.js';
import { SETTINGS } from '../../src/cli/server-options.js';
import { waitUntil } from '../helpers/wait.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NO_REUSE_PORT_HERE = supportsReusePort() ? 'this runtime has SO_REUSEPORT' : false;

describe('where SO_REUSEPORT works', () => {
  it('supportsReusePort() is true exactly where REUSE_PORT_SUPPORT says', () => {
    assert.equal(REUSE_PORT_SUPPORT, 'Linux or FreeBSD with Node.js 22.12+ on 22.x or 23.1+, Linux with Bun');
    const cases: [string, NodeJS.Platform, boolean][] = [
      ['22.11.0', 'linux', false],
      ['22.12.0', 'linux', true],
      ['23.0.0', 'linux', false],
      ['23.1.0', 'linux', true],
      ['24.0.0', 'freebsd', true],
      ['20.19.0', 'linux', false],
      ['24.0.0', 'darwin', false],
      ['24.0.0', 'win32', false],
    ];
    for (const [version, platform, expected] of cases) assert.equal(supportsReusePort(version, platform, null), expected, `${platform} ${version}`);
    // Bun claims a recent Node.js version whatever it can do: its own name decides.
    assert.equal(supportsReusePort('26.3.0', 'linux', '1.3.0'), true);
    assert.equal(supportsReusePort('26.3.0', 'darwin', '1.3.0'), false);
  });

  it('supportsReusePort() says what this runtime does: two reusePort listeners on one port, both given connections', async () => {
    const servers: net.Server[] = [];
    const counts = [0, 0];
    try {
      for (const index of [0, 1]) {
        const server = net.createServer((socket) => {
          counts[index]!++;
          socket.destroy();
        });
        servers.push(server);
        const port = index === 0 ? 0 : (servers[0]!.address() as net.AddressInfo).port;
        const listening = await new Promise<boolean>((resolve) => {
          server.once('error', () => resolve(false));
          server.listen({ port, host: '127.0.0.1', reusePort: true }, () => resolve(true));
        });
        if (!listening) break;
      }
      if (servers.length === 2 && servers[1]!.listening) {
        const port = (servers[0]!.address() as net.AddressInfo).port;
        // The kernel picks a listener by the connection's addresses: 40 tries reach both
        // unless one listener gets them all (one chance in 2^39).
        for (let i = 0; i < 40; i++) {
          const client = net.connect(port, '127.0.0.1');
          await once(client, 'connect');
          client.destroy();
        }
        await waitUntil(() => counts[0]! + counts[1]! === 40, () => `accepted ${counts.join(' + ')} of 40`);
      }
      const balanced = counts[0]! > 0 && counts[1]! > 0;
      assert.equal(supportsReusePort(), balanced, `reusePort listeners got ${counts.join(' and ')} connections`);
    } finally {
      for (const server of servers) server.close();
    }
  });

  it('the --reactor-mode help quotes REUSE_PORT_SUPPORT', () => {
    const reactorMode = SETTINGS.find((setting) => setting.key === 'reactorMode');
    assert.ok(reactorMode?.description.includes(REUSE_PORT_SUPPORT), reactorMode?.description);
  });

  it('NetServer with reusePort where it is missing throws UnsupportedError quoting REUSE_PORT_SUPPORT', { skip: NO_REUSE_PORT_HERE }, () => {
    assert.throws(
      () => new NetServer({ port: 0, reusePort: true }),
      (err: unknown) => err instanceof UnsupportedError && err.message.includes(REUSE_PORT_SUPPORT),
    );
  });

  it("ReactorGroup in 'threads' mode where SO_REUSEPORT is missing throws UnsupportedError quoting REUSE_PORT_SUPPORT", { skip: NO_REUSE_PORT_HERE }, () => {
    assert.throws(
      () => new ReactorGroup({ workers: 2, port: 0, reactorMode: 'threads' }),
      (err: unknown) => err instanceof UnsupportedError && err.option === 'reactorMode' && err.message.includes(REUSE_PORT_SUPPORT),
    );
  });

  it('every runtime version the documents give for SO_REUSEPORT is REUSE_PORT_SUPPORT, quoted whole', () => {
    const documents = ['README.md', ...readdirSync(`${ROOT}docs`).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];
    const mentions = documents.flatMap((document) =>
      readFileSync(`${ROOT}${document}`, 'utf8')
        .split('\n')
        .map((line, index) => ({ where: `${document}:${index + 1}`, line }))
        .filter(({ line }) => /\b22\.12\b|\b23\.1\b/.test(line)),
    );
    assert.ok(mentions.length > 0, 'no document states where SO_REUSEPORT works');
    assert.deepEqual(mentions.filter(({ line }) => !line.includes(REUSE_PORT_SUPPORT)), []);
  });
});
