/**
 * The broker seam on one machine, without Redis: topics and direct sends on one server, two
 * servers of one thread joined as two reactors of one instance by a local Broker, the payload
 * bound, and the pieces the Redis bus is built of (the envelope, the outbox, the URL, the ids).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  Broker,
  InvalidOptionError,
  NetServer,
  PayloadTooLargeError,
  attachBroker,
  formatConnectionId,
  parseBrokerUrl,
  parseConnectionId,
  defaultInstanceId,
  healthAnswer,
  type Connection,
} from '../../src/index.js';
import { Envelope, KIND_BROADCAST, KIND_DIRECT, KIND_PROBE, KIND_TOPIC } from '../../src/broker/envelope.js';
import { Outbox } from '../../src/broker/outbox.js';
import { BrokerHub, FROM_GROUP, type Delivery } from '../../src/broker/broker-hub.js';
import { WireClient } from '../helpers/wire-client.js';
import { EventLog } from '../helpers/wait.js';

const LINE = { codec: 'line' } as const;
const APP = (await import('../fixtures/broker-app.js')).default;

/** A started broker-app server (line codec) on a free port. */
async function startApp(options: Record<string, unknown> = {}): Promise<{ server: NetServer; port: number }> {
  const server = APP({ host: '127.0.0.1', port: 0, codec: 'line', ...options });
  const { port } = await server.start();
  return { server, port };
}

async function text(client: WireClient): Promise<string> {
  return (await client.read()).toString();
}

async function idOf(client: WireClient): Promise<string> {
  const reply = await client.request('id');
  return reply.toString().replace(/^id /, '');
}

describe('topics on one server', { timeout: 10_000 }, () => {
  it('publish reaches the members only, never the sender; leave and close end a membership', async () => {
    const { server, port } = await startApp({ instanceId: 'solo' });
    // One after the other, so their ids are 1, 2, 3 in this order.
    const a = await WireClient.connect(port, LINE);
    await idOf(a);
    const b = await WireClient.connect(port, LINE);
    await idOf(b);
    const c = await WireClient.connect(port, LINE);
    await idOf(c);
    assert.equal((await a.request('join room')).toString(), 'joined room');
    assert.equal((await b.request('join room')).toString(), 'joined room');
    assert.equal((await b.request('join room')).toString(), 'already room');
    assert.equal((await c.request('join other')).toString(), 'joined other');
    assert.deepEqual([...server.topics()].sort(), ['other', 'room']);

    // a publishes: b hears it, c (another topic) and a do not.
    assert.equal((await a.request('pub room hello room')).toString(), 'ok');
    assert.equal(await text(b), 'hello room');
    assert.equal((await c.request('id')).toString(), 'id solo:3', 'c got nothing before its own reply');
    // A non-member publishing reaches the members too.
    assert.equal((await c.request('pub room from outside')).toString(), 'ok');
    assert.equal(await text(a), 'from outside');
    assert.equal(await text(b), 'from outside');

    assert.equal((await b.request('leave room')).toString(), 'left room');
    assert.equal((await b.request('leave room')).toString(), 'not room');
    assert.equal((await c.request('pub room only a now')).toString(), 'ok');
    assert.equal(await text(a), 'only a now');
    assert.equal((await b.request('id')).toString(), 'id solo:2', 'b left: nothing before its reply');

    // a closes: the topic has no member left on this server.
    await a.end();
    assert.deepEqual([...server.topics()], ['other']);
    assert.equal(server.publish('room', 'no one'), 0);
    for (const client of [b, c]) assert.equal(client.queued, 0);
    await Promise.all([b.end(), c.end()]);
    await server.stop();
  });

  it('conn.topics lists the memberships; a closed connection joins nothing; a bad topic is refused', async () => {
    const opened = new EventLog<Connection>();
    const server = new NetServer({ host: '127.0.0.1', port: 0, callbacks: { onConnection: (conn) => opened.push(conn) } });
    const { port } = await server.start();
    const client = await WireClient.connect(port, LINE);
    const conn = await opened.waitFor(() => true);
    assert.deepEqual([...conn.topics], []);
    assert.equal(conn.join('a'), true);
    assert.equal(conn.join('b'), true);
    assert.deepEqual([...conn.topics].sort(), ['a', 'b']);
    assert.throws(() => conn.join(''), (err: unknown) => err instanceof InvalidOptionError && err.option === 'topic');
    assert.throws(() => conn.join('x'.repeat(1025)), InvalidOptionError);
    assert.throws(() => server.publish(42 as unknown as string, 'x'), InvalidOptionError);
    conn.close();
    await client.closed;
    assert.deepEqual([...conn.topics], []);
    assert.equal(conn.join('a'), false);
    assert.deepEqual([...server.topics()], []);
    await server.stop();
  });
});

describe('direct sends on one server', { timeout: 10_000 }, () => {
  it('sendTo by globalId or by number reaches that connection only; a closed one is false', async () => {
    const { server, port } = await startApp({ instanceId: 'here' });
    const [a, b] = (await Promise.all([0, 1].map(() => WireClient.connect(port, LINE)))) as [WireClient, WireClient];
    const idA = await idOf(a);
    const idB = await idOf(b);
    assert.match(idA, /^here:\d+$/);
    assert.deepEqual(parseConnectionId(idB), { instanceId: 'here', id: Number(idB.split(':')[1]) });
    assert.equal((await a.request(`to ${idB} psst`)).toString(), 'ok true');
    assert.equal(await text(b), 'psst');
    assert.equal((await b.request(`to ${idA.split(':')[1]} by number`)).toString(), 'ok true');
    assert.equal(await text(a), 'by number');
    // Another instance's connection, with no broker to carry it: false, nothing sent.
    assert.equal((await a.request(`to elsewhere:1 lost`)).toString(), 'ok false');
    await b.end();
    assert.equal(server.sendTo(idB, 'too late'), false);
    assert.throws(() => server.sendTo('no-colon', 'x'), (err: unknown) => err instanceof InvalidOptionError && err.option === 'connectionId');
    assert.throws(() => server.sendTo('here:0', 'x'), InvalidOptionError);
    assert.throws(() => server.sendTo(-1, 'x'), InvalidOptionError);
    assert.equal(a.queued, 0);
    await a.end();
    await server.stop();
  });

  it('the default instance id is the host name and the process id', () => {
    assert.match(defaultInstanceId(), new RegExp(`-${process.pid}$`));
    assert.equal(new NetServer({ port: 0 }).instanceId, defaultInstanceId());
    assert.throws(() => new NetServer({ instanceId: 'has space' }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'instanceId');
    assert.throws(() => new NetServer({ instanceId: 'x'.repeat(65) }), InvalidOptionError);
    assert.equal(formatConnectionId('a.b-c_d', 7), 'a.b-c_d:7');
  });
});

describe('payloads over maxMessageBytes', { timeout: 10_000 }, () => {
  it('broadcast, publish and sendTo throw PayloadTooLargeError and send nothing', async () => {
    const { server, port } = await startApp({ maxMessageBytes: 64 });
    const [a, b] = (await Promise.all([0, 1].map(() => WireClient.connect(port, LINE)))) as [WireClient, WireClient];
    const idB = await idOf(b);
    assert.equal((await b.request('join t')).toString(), 'joined t');
    assert.equal((await a.request('big 65')).toString(), 'too-large');
    assert.equal((await a.request('big 64')).toString(), 'ok');
    assert.equal((await b.read()).length, 64);
    const tooLarge = (err: unknown): boolean => err instanceof PayloadTooLargeError && err.code === 'ERR_PAYLOAD_TOO_LARGE' && err.bytes === 65 && err.limit === 64;
    assert.throws(() => server.broadcast('x'.repeat(65)), tooLarge);
    assert.throws(() => server.publish('t', ['x'.repeat(60), Buffer.alloc(5)]), tooLarge);
    assert.throws(() => server.sendTo(idB, 'é'.repeat(32) + 'x'), tooLarge, 'counted in UTF-8 bytes');
    assert.equal((await b.request('id')).toString(), `id ${idB}`, 'b got nothing more');
    await Promise.all([a.end(), b.end()]);
    await server.stop();
  });
});

describe('a local Broker joining two servers as two reactors of one instance', { timeout: 10_000 }, () => {
  it('broadcast, topics and sendTo cross between them, once each, never back to the sender', async () => {
    const broker = new Broker('local', { instanceId: 'duo', reactorCount: 2, maxMessageBytes: 1024 });
    assert.equal(broker.kind, 'local');
    const servers = [
      APP({ host: '127.0.0.1', port: 0, codec: 'line', instanceId: 'duo', idStart: 1, idStep: 2 }),
      APP({ host: '127.0.0.1', port: 0, codec: 'line', instanceId: 'duo', idStart: 2, idStep: 2 }),
    ];
    servers.forEach((server, i) => broker.attachServer(server, i));
    broker.start();
    const ports = await Promise.all(servers.map(async (s) => (await s.start()).port));
    const a = await WireClient.connect(ports[0]!, LINE);
    const b = await WireClient.connect(ports[1]!, LINE);
    const idA = await idOf(a);
    const idB = await idOf(b);
    assert.deepEqual([idA, idB], ['duo:1', 'duo:2']);

    assert.equal((await a.request('all to everyone')).toString(), 'ok');
    assert.equal(await text(b), 'to everyone');

    assert.equal((await b.request('join news')).toString(), 'joined news');
    assert.deepEqual([...broker.hub.topics()], ['news']);
    assert.equal((await a.request('pub news headline')).toString(), 'ok');
    assert.equal(await text(b), 'headline');
    assert.equal((await a.request('pub sports nobody')).toString(), 'ok');

    assert.equal((await a.request(`to ${idB} for b`)).toString(), 'ok true');
    assert.equal(await text(b), 'for b');
    assert.equal((await b.request(`to 1 for a`)).toString(), 'ok true');
    assert.equal(await text(a), 'for a');

    await b.end();
    // b's reactor has no member left: the hub drops the topic.
    assert.deepEqual([...broker.hub.topics()], []);
    assert.equal((await a.request('id')).toString(), 'id duo:1');
    assert.equal(a.queued, 0);
    await a.end();
    await Promise.all(servers.map((s) => s.stop()));
    await broker.stop();
    assert.equal(broker.status().bus, null, 'the local broker has no bus');
  });

  it('attachBroker on a single server with the local broker changes nothing it delivers', async () => {
    const { server, port } = await startApp({ instanceId: 'one' });
    const broker = attachBroker(server, 'local');
    const [a, b] = (await Promise.all([0, 1].map(() => WireClient.connect(port, LINE)))) as [WireClient, WireClient];
    await idOf(b);
    assert.equal((await a.request('all hi')).toString(), 'ok');
    assert.equal(await text(b), 'hi');
    assert.equal(b.queued + a.queued, 0);
    await Promise.all([a.end(), b.end()]);
    await server.stop();
    await broker.stop();
  });
});

describe('BrokerHub routing', () => {
  it('sends a topic only to the reactors with members, a direct send to the reactor of its id, nothing back to the sender', () => {
    const hub = new BrokerHub('me', 3, null);
    const got: [number, Delivery][] = [];
    for (const i of [0, 1, 2]) hub.attach(i, (delivery) => got.push([i, delivery]));
    hub.fromReactor(0, { t: 'broadcast', payload: 'b' });
    assert.deepEqual(got.map(([i]) => i), [1, 2]);
    got.length = 0;
    hub.fromReactor(2, { t: 'subscribe', topic: 't' });
    hub.fromReactor(1, { t: 'subscribe', topic: 't' });
    hub.fromReactor(1, { t: 'publish', topic: 't', payload: 'p' });
    assert.deepEqual(got.map(([i]) => i), [2]);
    got.length = 0;
    hub.fromReactor(FROM_GROUP, { t: 'publish', topic: 't', payload: 'p' });
    assert.deepEqual(got.map(([i]) => i).sort(), [1, 2]);
    got.length = 0;
    // id 6 lives on reactor (6 - 1) mod 3 = 2; another instance's id goes to the bus (none here).
    hub.fromReactor(0, { t: 'sendTo', instance: 'me', id: 6, payload: 'd' });
    hub.fromReactor(0, { t: 'sendTo', instance: 'you', id: 6, payload: 'd' });
    assert.deepEqual(got, [[2, { t: 'sendTo', id: 6, payload: 'd' }]]);
    got.length = 0;
    // Reactor 2 dies: its memberships end with it.
    hub.detach(2);
    hub.fromReactor(0, { t: 'publish', topic: 't', payload: 'p' });
    assert.deepEqual(got.map(([i]) => i), [1]);
    hub.fromReactor(1, { t: 'unsubscribe', topic: 't' });
    assert.deepEqual([...hub.topics()], []);
  });
});

describe('the pieces of the Redis bus', () => {
  it('the envelope carries kind, origin, connection id and payload, and tells our own messages apart', () => {
    const mine = new Envelope('inst-a');
    const theirs = new Envelope('inst-b');
    const sealed = mine.seal(KIND_DIRECT, Buffer.from([0, 0xff, 1]), 2 ** 40 + 3);
    assert.deepEqual(theirs.open(sealed), { kind: KIND_DIRECT, fromSelf: false, number: 2 ** 40 + 3, payload: Buffer.from([0, 0xff, 1]) });
    assert.equal(mine.open(sealed)?.fromSelf, true);
    assert.equal(theirs.open(mine.seal(KIND_BROADCAST, 'héllo'))?.payload.toString(), 'héllo');
    assert.equal(theirs.open(mine.seal(KIND_TOPIC, ''))?.payload.length, 0);
    assert.equal(mine.open(mine.seal(KIND_PROBE, '', 12.5))?.number, 12.5);
    // A prefix of a longer id is not ours.
    assert.equal(new Envelope('inst').open(sealed)?.fromSelf, false);
    for (const bad of [Buffer.alloc(0), Buffer.from([2, 1, 0]), Buffer.from([1, 9, 0]), Buffer.from([1, 3, 5, 0x61])]) assert.equal(mine.open(bad), null);
  });

  it('the outbox keeps order and its byte bound, dropping the oldest for the newest', () => {
    const outbox = new Outbox(1000);
    const entry = (n: number, bytes = 100): { cls: 'broadcast'; channel: string; message: Buffer } => ({ cls: 'broadcast', channel: `c${n}`, message: Buffer.alloc(bytes, n) });
    for (let n = 0; n < 5; n++) assert.deepEqual(outbox.push(entry(n)), []);
    assert.equal(outbox.size, 5);
    assert.ok(outbox.bytes <= 1000);
    const dropped = outbox.push(entry(5, 400));
    // Each costs its bytes, its channel's and 64: 5 x 166 = 830; the newest, 466, needs two out.
    assert.deepEqual(dropped.map((d) => d.channel), ['c0', 'c1']);
    assert.ok(outbox.bytes <= 1000);
    assert.deepEqual(outbox.push(entry(6, 2000)).map((d) => d.channel), ['c6'], 'one larger than the bound drops itself');
    assert.deepEqual(outbox.clear().map((d) => d.channel), ['c2', 'c3', 'c4', 'c5']);
    assert.equal(outbox.size, 0);
    assert.equal(outbox.bytes, 0);
    assert.equal(outbox.shift(), undefined);
  });

  it('broker URLs: local, redis with a database, rediss; anything else named', () => {
    assert.deepEqual(parseBrokerUrl(undefined), { kind: 'local' });
    assert.deepEqual(parseBrokerUrl('local'), { kind: 'local' });
    assert.deepEqual(parseBrokerUrl('redis://127.0.0.1:6379'), { kind: 'redis', url: 'redis://127.0.0.1:6379', display: 'redis://127.0.0.1:6379', db: 0 });
    assert.equal((parseBrokerUrl('redis://h:1/3') as { db: number }).db, 3);
    assert.equal((parseBrokerUrl('rediss://:secret@h:1') as { display: string }).display, 'rediss://:***@h:1');
    for (const bad of ['http://h:1', 'redis://h:1/x', 'redis://h:1?db=2', 'nonsense', 42]) {
      assert.throws(() => parseBrokerUrl(bad), (err: unknown) => err instanceof InvalidOptionError && err.option === 'broker', String(bad));
    }
    assert.throws(() => new Broker({ url: 'redis://h:1', outboxBytes: 10 }, { instanceId: 'x', reactorCount: 1, maxMessageBytes: 1 }), (err: unknown) => err instanceof InvalidOptionError && err.option === 'broker.outboxBytes');
    assert.throws(() => new Broker({ url: 'redis://h:1', outbox: 1 } as never, { instanceId: 'x', reactorCount: 1, maxMessageBytes: 1 }), /broker\.outbox/);
  });
});

describe('/health with a shared broker', () => {
  const reactors = [
    { index: 0, serving: true, restarts: 0 },
    { index: 1, serving: true, restarts: 0 },
  ];
  it('is ok only while the broker is up, degraded (200: local delivery goes on) otherwise', () => {
    assert.deepEqual(healthAnswer({ draining: false, reactors, broker: 'up' }), { status: 200, body: 'ok\n' });
    assert.deepEqual(healthAnswer({ draining: false, reactors, broker: 'down' }), { status: 200, body: 'degraded: broker down\n' });
    assert.deepEqual(healthAnswer({ draining: false, reactors, broker: 'connecting' }), { status: 200, body: 'degraded: broker connecting\n' });
    assert.deepEqual(healthAnswer({ draining: false, reactors: [reactors[0]!, { index: 1, serving: false, restarts: 1 }], broker: 'down' }), { status: 200, body: 'degraded: reactor 1 down, broker down\n' });
    assert.deepEqual(healthAnswer({ draining: false, reactors: reactors.map((r) => ({ ...r, serving: false })), broker: 'up' }).status, 503);
    assert.deepEqual(healthAnswer({ draining: true, reactors, broker: 'down' }), { status: 503, body: 'draining\n' });
  });
});
