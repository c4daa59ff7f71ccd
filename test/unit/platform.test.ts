import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NetServer, REUSE_PORT_SUPPORT, ReactorGroup, UnsupportedError, supportsReusePort } from '../../src/index.js';
import { SETTINGS } from '../../src/cli/server-options.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NO_REUSE_PORT_HERE = supportsReusePort() ? 'this runtime has SO_REUSEPORT' : false;

describe('where SO_REUSEPORT works', () => {
  it('supportsReusePort() is true exactly where REUSE_PORT_SUPPORT says', () => {
    assert.equal(REUSE_PORT_SUPPORT, 'Linux or FreeBSD, Node.js 22.12+ on 22.x or 23.1+');
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
    for (const [version, platform, expected] of cases) assert.equal(supportsReusePort(version, platform), expected, `${platform} ${version}`);
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

  it('every Node.js version the documents give for SO_REUSEPORT is REUSE_PORT_SUPPORT, quoted whole', () => {
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
