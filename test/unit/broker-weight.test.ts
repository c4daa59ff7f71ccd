/**
 * The Redis client loads with the first Redis broker that starts, never for the local broker
 * (docs/architecture.md, "Start-up weight"). Its own file: node --test runs each file in a
 * process of its own, so nothing else here has loaded it first.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Broker, NetServer } from '../../src/index.js';
import { freePort } from '../helpers/haproxy.js';

const require = createRequire(import.meta.url);
const ioredisLoaded = (): boolean => Object.keys(require.cache).some((path) => /[\\/]node_modules[\\/]ioredis[\\/]/.test(path));

describe('start-up weight of the broker', () => {
  it('the local broker never loads ioredis; a Redis broker loads it when it starts', async () => {
    const server = new NetServer({ port: 0, instanceId: 'light' });
    const local = new Broker('local', { instanceId: 'light', reactorCount: 1, maxMessageBytes: 1024 });
    local.attachServer(server);
    local.start();
    await server.start();
    server.broadcast('x');
    server.publish('t', 'x');
    await server.stop();
    await local.stop();
    assert.equal(ioredisLoaded(), false, 'ioredis was loaded for the local broker');

    const redis = new Broker(`redis://127.0.0.1:${await freePort()}`, { instanceId: 'heavy', reactorCount: 1, maxMessageBytes: 1024 });
    assert.equal(ioredisLoaded(), false, 'constructing is not starting');
    redis.start();
    assert.equal(ioredisLoaded(), true);
    await redis.stop();
    assert.equal(redis.status().bus?.state, 'stopped');
  });
});
