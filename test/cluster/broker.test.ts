/**
 * Two instances of the CLI, each with two reactors, sharing a real redis-server: broadcast,
 * topics and sendTo cross in both directions, exactly once each and never back to the sender;
 * a topic's traffic reaches an instance only while it has members there; one publisher's
 * messages arrive in the order sent; the broker's metrics and /health tell what happened.
 *
 * "Exactly once" is read with end markers: a publisher's marker travels the same path after its
 * messages, so a receiver that reads up to it has seen every copy there was.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, subscribers, topicChannel, waitForSubscribers, type RunningRedis } from '../helpers/redis.js';
import { ask, brokerMetric, expectFrames, membersOnEachReactor, stopAll, startInstance, text, waitForHealth, type Instance, type Member } from './support.js';
import { waitUntil } from '../helpers/wait.js';

let redis: RunningRedis;
let a: Instance;
let b: Instance;
/** a0, a1 on instance a's reactors 0 and 1; b0, b1 on b's. */
let a0: Member, a1: Member, b0: Member, b1: Member;

/** Every member but `from` reads exactly `frames`, in order, then the end marker `from` sends. */
async function everyoneElseGets(from: Member, frames: readonly string[], marker: string): Promise<void> {
  await ask(from, `all ${marker}`);
  await Promise.all([a0, a1, b0, b1].filter((m) => m !== from).map((m) => expectFrames(m, [...frames, marker])));
}

describe('cluster: two instances of two reactors on one Redis', { timeout: 120_000 }, () => {
  before(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([startInstance('a', redis.url), startInstance('b', redis.url)]);
    [a0, a1] = (await membersOnEachReactor(a)) as [Member, Member];
    [b0, b1] = (await membersOnEachReactor(b)) as [Member, Member];
    // Both instances hear broadcasts before the first one is sent.
    await waitForSubscribers(redis.port, 'reactor:0:broadcast', 2);
  });
  after(async () => {
    await Promise.all([a0, a1, b0, b1].filter((m) => m !== undefined).map((m) => m.client.end().catch(() => undefined)));
    await stopAll([a, b]);
    await redis?.stop();
  });

  it('broadcast crosses both ways: every other connection of both instances gets it once, the sender never', async () => {
    await ask(a0, 'all from a0');
    await everyoneElseGets(a0, ['from a0'], 'end a0');
    await ask(b1, 'all from b1');
    await everyoneElseGets(b1, ['from b1'], 'end b1');
    for (const m of [a0, a1, b0, b1]) assert.equal(m.client.queued, 0, `${m.id}: nothing more`);
  });

  it('topics cross both ways, to the members only; an instance subscribes only while it has members', async () => {
    const channel = topicChannel('chess');
    assert.equal(await subscribers(redis.port, channel), 0);
    await ask(b0, 'join chess', 'joined chess');
    await waitForSubscribers(redis.port, channel, 1);
    await ask(a1, 'join chess', 'joined chess');
    await waitForSubscribers(redis.port, channel, 2);

    // a0 is no member and publishes: a1 (its own instance) and b0 (the other) hear it; b1 does not.
    await ask(a0, 'pub chess e4');
    await expectFrames(a1, ['e4']);
    await expectFrames(b0, ['e4']);
    // The other way: b0 publishes, a1 hears it, b0 itself does not.
    await ask(b0, 'pub chess e5');
    await expectFrames(a1, ['e5']);
    await everyoneElseGets(a0, [], 'end topics');
    assert.equal(b0.client.queued + b1.client.queued + a1.client.queued, 0);

    // b0 leaves: b has no member left, so it stops hearing the topic at all.
    await ask(b0, 'leave chess', 'left chess');
    await waitForSubscribers(redis.port, channel, 1);
    await ask(a0, 'pub chess nf3');
    await expectFrames(a1, ['nf3']);
    await ask(a1, 'leave chess', 'left chess');
    await waitForSubscribers(redis.port, channel, 0);
    await everyoneElseGets(a0, [], 'end leave');
  });

  it('sendTo crosses both ways to exactly one connection by its globalId', async () => {
    await ask(a0, `to ${b1.id} a0 to b1`, 'ok true');
    await expectFrames(b1, ['a0 to b1']);
    await ask(b0, `to ${a1.id} b0 to a1`, 'ok true');
    await expectFrames(a1, ['b0 to a1']);
    // A connection of the other instance that does not exist: handed on, dropped there, no harm.
    await ask(a0, 'to b:999999 nobody', 'ok true');
    await everyoneElseGets(a0, [], 'end direct a0');
    await everyoneElseGets(b0, [], 'end direct b0');
  });

  it('one publisher\'s broadcasts, topic messages and direct sends arrive in the order sent', async () => {
    await ask(b0, 'join order', 'joined order');
    await waitForSubscribers(redis.port, topicChannel('order'), 1);
    const count = 300;
    const commands: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < count; i++) {
      const kind = i % 3;
      const body = `m${i}`;
      commands.push(kind === 0 ? `all ${body}` : kind === 1 ? `pub order ${body}` : `to ${b0.id} ${body}`);
      expected.push(body);
    }
    // All at once, in one write: the reactor handles them back to back.
    a0.client.socket.write(commands.map((c) => `${c}\n`).join(''));
    for (let i = 0; i < count; i++) assert.match(await text(a0), /^ok/, `reply ${i}`);
    await expectFrames(b0, expected);
    // b1 and a1 are no members and no targets: only the broadcasts, in order.
    const broadcasts = expected.filter((_, i) => i % 3 === 0);
    await Promise.all([expectFrames(b1, broadcasts), expectFrames(a1, broadcasts)]);
    await ask(b0, 'leave order', 'left order');
    await everyoneElseGets(a0, [], 'end order');
  });

  it('metrics count what crossed, the broker is connected with a measured round trip, and /health is ok', async () => {
    const published = await brokerMetric(a, 'reactor_broker_published_total', { class: 'broadcast' });
    assert.ok(published >= 4, `a published ${published} broadcasts`);
    assert.equal(await brokerMetric(b, 'reactor_broker_received_total', { class: 'broadcast' }), published, 'b received every broadcast a published');
    assert.ok((await brokerMetric(b, 'reactor_broker_received_total', { class: 'topic' })) >= 100);
    assert.ok((await brokerMetric(b, 'reactor_broker_received_total', { class: 'direct' })) >= 100);
    assert.ok((await brokerMetric(a, 'reactor_broker_received_total', { class: 'direct' })) >= 1);
    for (const instance of [a, b]) {
      assert.equal(await brokerMetric(instance, 'reactor_broker_connected'), 1);
      assert.equal(await brokerMetric(instance, 'reactor_broker_connects_total'), 1);
      assert.equal(await brokerMetric(instance, 'reactor_broker_dropped_total', { class: 'broadcast', reason: 'outbox-full' }), 0);
      // Probes go out once a second from start: the suite may get here before the first is back.
      await waitUntil(async () => (await brokerMetric(instance, 'reactor_broker_round_trip_seconds_count')) >= 1, 'a probe came back', 5000, 100);
      await waitForHealth(instance, (body, status) => status === 200 && body === 'ok\n', 'ok');
    }
  });
});
