/**
 * The chat example on two instances (two reactors each) sharing a Redis, behind one HAProxy
 * address: HAProxy spreads the clients over both instances, and the lobby, a room and private
 * messages all cross between them. Join announcements travel as broadcasts and may come at
 * any point; the readers skip them and fail on any other frame they did not expect.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startHaproxy, type RunningHaproxy } from '../helpers/haproxy.js';
import { startRedis, topicChannel, waitForSubscribers, type RunningRedis } from '../helpers/redis.js';
import { SeedClient } from '../helpers/seed-client.js';
import { stopAll, startInstance, type Instance } from './support.js';

const CHAT_APP = fileURLToPath(new URL('../../examples/chat-server.js', import.meta.url));

interface Chatter {
  client: SeedClient;
  /** INSTANCE:N */
  id: string;
}

let redis: RunningRedis;
let instances: Instance[] = [];
let haproxy: RunningHaproxy;
const chatters: Chatter[] = [];

async function join(port: number): Promise<Chatter> {
  const client = await SeedClient.connect(port);
  const welcome = (await client.readFrame()).toString();
  const match = /^\* you are client (\S+:\d+)$/.exec(welcome);
  assert.ok(match !== null, `unexpected welcome ${JSON.stringify(welcome)}`);
  return { client, id: match[1] as string };
}

/** The next frame of `chatter` that is not someone joining or leaving the chat. */
async function nextLine(chatter: Chatter): Promise<string> {
  for (;;) {
    const frame = (await chatter.client.readFrame()).toString();
    if (!/^\* client \S+ (joined|left)$/.test(frame)) return frame;
  }
}

describe('cluster: the chat example on two instances behind HAProxy', { timeout: 120_000 }, () => {
  before(async () => {
    redis = await startRedis();
    instances = await Promise.all(['east', 'west'].map((name) => startInstance(name, redis.url, { app: CHAT_APP, codec: 'seed' })));
    haproxy = await startHaproxy(instances.map((i) => ({ name: i.name, port: i.port, proxy: 'none' as const, healthPort: Number(new URL(i.metricsUrl).port) })));
    await waitForSubscribers(redis.port, 'reactor:0:broadcast', 2);
    // Through one address until both instances have two chatters (round robin alternates them).
    for (let tries = 0; ['east', 'west'].some((name) => chatters.filter((c) => c.id.startsWith(`${name}:`)).length < 2); tries++) {
      assert.ok(tries < 40, `HAProxy did not spread the clients: ${chatters.map((c) => c.id).join(', ')}\n${haproxy.output()}`);
      chatters.push(await join(haproxy.port));
    }
  });
  after(async () => {
    for (const chatter of chatters) chatter.client.destroy();
    await haproxy?.stop();
    await stopAll(instances);
    await redis?.stop();
  });

  it('the lobby, a room and a private message cross between the instances', async () => {
    const east = chatters.filter((c) => c.id.startsWith('east:'));
    const west = chatters.filter((c) => c.id.startsWith('west:'));
    const [e1, e2] = east as [Chatter, Chatter];
    const [w1, w2] = west as [Chatter, Chatter];

    // The lobby: everyone else hears it once, on both instances.
    e1.client.send('hello from the east');
    for (const c of chatters.filter((c) => c !== e1)) assert.equal(await nextLine(c), `[client ${e1.id}] hello from the east`);

    // A room with one member on each instance.
    e2.client.send('/join dev');
    assert.equal(await nextLine(e2), '* you joined dev');
    await waitForSubscribers(redis.port, topicChannel('room:dev'), 1);
    w1.client.send('/join dev');
    assert.equal(await nextLine(w1), '* you joined dev');
    assert.equal(await nextLine(e2), `* client ${w1.id} joined dev`);
    await waitForSubscribers(redis.port, topicChannel('room:dev'), 2);
    w1.client.send('ship it');
    assert.equal(await nextLine(e2), `[client ${w1.id}] ship it`);
    e2.client.send('shipped');
    assert.equal(await nextLine(w1), `[client ${e2.id}] shipped`);

    // A private message from the west to the east.
    w2.client.send(`/msg ${e1.id} psst`);
    assert.equal(await nextLine(w2), `* sent to ${e1.id}`);
    assert.equal(await nextLine(e1), `[client ${w2.id} privately] psst`);

    // Nothing of the room reached the others: their next line is this last lobby message.
    w2.client.send('the end');
    for (const c of chatters.filter((c) => c !== w2)) assert.equal(await nextLine(c), `[client ${w2.id}] the end`);
  });
});
