/**
 * The broker when things go wrong, against real processes: Redis down at start (the server
 * starts and serves its own clients, /health says degraded, the bounded outbox drops and counts),
 * Redis killed while running and started again (no crash, local delivery goes on, subscriptions
 * restored, delivery resumes), a stopped instance stalls no one and a killed one harms no one,
 * and a payload over an instance's maxMessageBytes is refused by the sender and dropped by a
 * receiver with a smaller limit.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from '../helpers/haproxy.js';
import { startRedis, subscribers, topicChannel, waitForSubscribers, type RunningRedis } from '../helpers/redis.js';
import { waitUntil } from '../helpers/wait.js';
import { ask, brokerMetric, connectMember, expectFrames, stopAll, startInstance, text, waitForHealth, type Instance, type Member } from './support.js';

const BROADCAST = 'reactor:0:broadcast';

async function endAll(members: readonly (Member | undefined)[]): Promise<void> {
  await Promise.all(members.filter((m): m is Member => m !== undefined).map((m) => m.client.end().catch(() => undefined)));
}

describe('cluster faults', { timeout: 120_000 }, () => {
  it('Redis down at start: the server starts and serves locally, /health is degraded, the outbox drops and counts; Redis up: delivery begins', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    let x: Instance | undefined;
    let y: Instance | undefined;
    let redis: RunningRedis | undefined;
    const members: Member[] = [];
    try {
      x = await startInstance('x', url, { workers: 1, extra: ['--broker-outbox', '4K'] });
      await waitForHealth(x, (body, status) => status === 200 && body === 'degraded: broker down\n', 'degraded: broker down');
      await x.cli.waitForLog((e) => e.msg.startsWith('broker down') && (e.err as { code?: string } | undefined)?.code === 'ECONNREFUSED');
      const [x1, x2] = [await connectMember(x), await connectMember(x)];
      members.push(x1, x2);
      // Local delivery does not need the broker.
      await ask(x1, 'all local while down');
      await expectFrames(x2, ['local while down']);
      // 100 broadcasts of 100 bytes cannot all wait in 4 KiB: the oldest are dropped, and counted.
      for (let i = 0; i < 100; i++) await ask(x1, `all ${String(i).padStart(100, '.')}`);
      for (let i = 0; i < 100; i++) await text(x2);
      const dropped = await brokerMetric(x, 'reactor_broker_dropped_total', { class: 'broadcast', reason: 'outbox-full' });
      assert.ok(dropped >= 70, `dropped ${dropped} of 101`);
      assert.ok((await brokerMetric(x, 'reactor_broker_outbox_bytes')) <= 4096);
      assert.equal(await brokerMetric(x, 'reactor_broker_connected'), 0);

      redis = await startRedis(port);
      await waitForHealth(x, (body, status) => status === 200 && body === 'ok\n', 'ok once Redis is up', 10_000);
      y = await startInstance('y', url, { workers: 1 });
      await waitForSubscribers(port, BROADCAST, 2);
      const y1 = await connectMember(y);
      members.push(y1);
      await ask(y1, 'all y to x');
      await expectFrames(x1, ['y to x']);
      await expectFrames(x2, ['y to x']);
      assert.equal(await brokerMetric(x, 'reactor_broker_connected'), 1);
    } finally {
      await endAll(members);
      await stopAll([x, y]);
      await redis?.stop();
    }
  });

  it('Redis killed mid-run and restarted: no crash, local delivery goes on, then subscriptions are restored and delivery resumes', async () => {
    const redis = await startRedis();
    let x: Instance | undefined;
    let y: Instance | undefined;
    const members: Member[] = [];
    try {
      [x, y] = await Promise.all([startInstance('x', redis.url), startInstance('y', redis.url)]);
      const [x1, x2, y1] = [await connectMember(x), await connectMember(x), await connectMember(y)];
      members.push(x1, x2, y1);
      await ask(y1, 'join room', 'joined room');
      await waitForSubscribers(redis.port, topicChannel('room'), 1);
      await waitForSubscribers(redis.port, BROADCAST, 2);
      await ask(x1, 'pub room before');
      await expectFrames(y1, ['before']);

      await redis.kill();
      for (const instance of [x, y]) await waitForHealth(instance, (body, status) => status === 200 && body === 'degraded: broker down\n', 'degraded while Redis is gone');
      // Both instances still serve their own clients.
      await ask(x1, 'all x while redis is gone');
      await expectFrames(x2, ['x while redis is gone']);

      await redis.restart();
      for (const instance of [x, y]) await waitForHealth(instance, (body, status) => status === 200 && body === 'ok\n', 'ok again', 10_000);
      // y's membership of the topic is subscribed again without anyone joining anew.
      await waitForSubscribers(redis.port, topicChannel('room'), 1);
      await waitForSubscribers(redis.port, BROADCAST, 2);
      await ask(x1, 'pub room after');
      // What x1 broadcast during the outage may come first (it waited in the outbox); at most once.
      let frame = await text(y1);
      if (frame === 'x while redis is gone') frame = await text(y1);
      assert.equal(frame, 'after');
      await ask(y1, 'all y is back');
      await expectFrames(x1, ['y is back']);
      await expectFrames(x2, ['y is back']);
      for (const instance of [x, y]) {
        assert.equal(await brokerMetric(instance, 'reactor_broker_connects_total'), 2);
        assert.equal(instance.cli.child.exitCode, null, `${instance.name} still runs`);
      }
    } finally {
      await endAll(members);
      await stopAll([x, y]);
      await redis.stop();
    }
  });

  it('a stopped instance stalls no one, a killed one harms no one; a payload over maxMessageBytes is refused by its sender and dropped by a smaller receiver', async () => {
    const redis = await startRedis();
    let a: Instance | undefined;
    let b: Instance | undefined;
    let c: Instance | undefined;
    const members: Member[] = [];
    try {
      [a, b, c] = await Promise.all([
        startInstance('a', redis.url, { workers: 1 }),
        startInstance('b', redis.url, { workers: 1 }),
        startInstance('c', redis.url, { workers: 1, extra: ['--max-message-bytes', '1K'] }),
      ]);
      const [a1, a2, b1, c1] = [await connectMember(a), await connectMember(a), await connectMember(b), await connectMember(c)];
      members.push(a1, a2, b1, c1);
      await waitForSubscribers(redis.port, BROADCAST, 3);

      // Too large for a's own limit (1 MiB): refused at once, nothing leaves.
      await ask(a1, `big ${1024 * 1024 + 1}`, 'too-large');
      // Within a's limit, over c's (1 KiB): b gets it, c drops it and counts it.
      await ask(a1, 'big 2000');
      assert.equal((await a2.client.read()).length, 2000);
      assert.equal((await b1.client.read()).length, 2000);
      await ask(a1, 'all after big');
      await expectFrames(a2, ['after big']);
      await expectFrames(b1, ['after big']);
      await expectFrames(c1, ['after big']);
      assert.equal(await brokerMetric(c, 'reactor_broker_dropped_total', { class: 'broadcast', reason: 'too-large' }), 1);

      // b stops (SIGSTOP): a and c go on as if nothing happened.
      b.cli.kill('SIGSTOP');
      const burst = Array.from({ length: 200 }, (_, i) => `burst ${i}`);
      a1.client.socket.write(burst.map((m) => `all ${m}\n`).join(''));
      for (let i = 0; i < burst.length; i++) assert.equal(await text(a1), 'ok');
      await expectFrames(a2, burst);
      await expectFrames(c1, burst);
      // b resumes and gets what Redis kept for it, in order.
      b.cli.kill('SIGCONT');
      await expectFrames(b1, burst);

      // b dies: a and c keep talking across instances; their broker stays up.
      await b.cli.stop('SIGKILL');
      await waitUntil(async () => (await subscribers(redis.port, BROADCAST)) === 2, 'b gone from the broadcast channel', 10_000, 20);
      await ask(c1, 'all c after b died');
      await expectFrames(a1, ['c after b died']);
      await expectFrames(a2, ['c after b died']);
      await ask(a1, `to ${b1.id} to the dead`, 'ok true');
      await ask(a1, `to ${c1.id} to the living`, 'ok true');
      await expectFrames(c1, ['to the living']);
      for (const instance of [a, c]) await waitForHealth(instance, (body, status) => status === 200 && body === 'ok\n', 'ok');
    } finally {
      await endAll(members.filter((m) => m.instance !== 'b'));
      await stopAll([a, b, c]);
      await redis.stop();
    }
  });
});
