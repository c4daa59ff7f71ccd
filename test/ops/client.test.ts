/**
 * The client library: connect + request against the echo, in-order replies, timeouts that
 * leave the connection usable, and closes reported as ConnectionClosedError.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import {
  ConnectionClosedError,
  EmptyMessageError,
  NetServer,
  REPLY_PREFIX,
  ReactorServer,
  RequestTimeoutError,
  connect,
  type Client,
  type CodecName,
  type Connection,
} from '../../src/index.js';
import { within } from '../helpers/wait.js';
import { closedPort } from './support.js';

/** Everything a test opened, closed after it whatever happened. */
const cleanups: (() => Promise<void> | void)[] = [];

async function echoServer(codec: CodecName, byteOrder: 'little' | 'big' = 'little'): Promise<number> {
  const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec, byteOrder });
  const { port } = await app.start();
  cleanups.push(() => app.stop({ drainTimeout: 0 }));
  return port;
}

async function client(port: number, codec: CodecName, byteOrder: 'little' | 'big' = 'little'): Promise<Client> {
  const c = await connect({ port, codec, byteOrder, connectTimeout: 5000 });
  cleanups.push(() => c.destroy());
  return c;
}

interface Received {
  conn: Connection;
  message: string;
}

/**
 * A length-codec server that replies only when the test says so: each message is queued, and
 * `next()` resolves with the next one (already arrived or still to come).
 */
async function manualServer(): Promise<{ port: number; server: NetServer; next(): Promise<Received> }> {
  const queue: Received[] = [];
  const waiters: ((r: Received) => void)[] = [];
  const server = new NetServer({
    host: '127.0.0.1',
    port: 0,
    codec: 'length',
    callbacks: {
      onMessage: (conn, message) => {
        const received = { conn, message: message.toString() };
        const waiter = waiters.shift();
        if (waiter !== undefined) waiter(received);
        else queue.push(received);
      },
    },
  });
  const { port } = await server.start();
  cleanups.push(() => server.stop({ drainTimeout: 0 }));
  return {
    port,
    server,
    next: () => {
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return within(new Promise<Received>((resolve) => waiters.push(resolve)), 5000, 'the next message at the server');
    },
  };
}

describe('ops: client library', () => {
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, { timeout: 10_000 });

  it('connect + request returns the echo reply (seed codec), and close() ends the connection', { timeout: 10_000 }, async () => {
    const port = await echoServer('seed');
    const c = await client(port, 'seed');
    const reply = await c.request('hello', 5000);
    assert.ok(Buffer.isBuffer(reply));
    assert.equal(reply.toString(), `${REPLY_PREFIX}hello`);
    // Bytes, not only strings, byte-exact.
    const bytes = Buffer.from([0, 0xff, 0xfe, 0x0a, 0xc3, 0x28]);
    assert.deepEqual(await c.request(bytes, 5000), Buffer.concat([Buffer.from(REPLY_PREFIX), bytes]));
    assert.equal(c.isOpen, true);
    await within(c.close(), 5000, 'close()');
    assert.equal(c.isOpen, false);
    await assert.rejects(c.request('after close', 1000), ConnectionClosedError);
    assert.throws(() => c.send('after close'), ConnectionClosedError);
  });

  it('seed codec: an empty message is refused at once with EmptyMessageError (it would get no reply), and the connection goes on working', { timeout: 10_000 }, async () => {
    const port = await echoServer('seed');
    const c = await client(port, 'seed');
    for (const empty of ['', Buffer.alloc(0), ['', new Uint8Array(0)]]) {
      const started = performance.now();
      // A request timeout far beyond the test's: only an immediate refusal passes.
      const error = await c.request(empty, 60_000).then(
        () => assert.fail('an empty request resolved'),
        (err: unknown) => err,
      );
      assert.ok(error instanceof EmptyMessageError, `rejected with ${String(error)}`);
      assert.equal(error.code, 'ERR_EMPTY_MESSAGE');
      assert.equal(error.name, 'EmptyMessageError');
      assert.match(error.message, /empty message gets no reply with the seed codec/);
      assert.ok(performance.now() - started < 1000, 'not refused at once');
      assert.throws(() => c.send(empty), EmptyMessageError);
    }
    // Nothing was written and no request was left waiting: the next one gets its own reply.
    assert.equal((await c.request('after the empty ones', 5000)).toString(), `${REPLY_PREFIX}after the empty ones`);
    assert.equal(c.isOpen, true);
  });

  it('length and line codecs: an empty message is a message, answered like any other', { timeout: 10_000 }, async () => {
    for (const codec of ['length', 'line'] as const) {
      const port = await echoServer(codec);
      const c = await client(port, codec);
      assert.equal((await c.request('', 5000)).toString(), REPLY_PREFIX, codec);
      assert.equal((await c.request(Buffer.alloc(0), 5000)).toString(), REPLY_PREFIX, codec);
      // A reply no request waits for comes as a 'message' event.
      const unclaimed = within(once(c, 'message') as Promise<[Buffer]>, 5000, `${codec}: the reply to send('')`);
      c.send('');
      assert.equal((await unclaimed)[0].toString(), REPLY_PREFIX, codec);
    }
  });

  it('concurrent requests on one connection resolve in order, each with its own reply', { timeout: 10_000 }, async () => {
    const port = await echoServer('length');
    const c = await client(port, 'length');
    const messages = Array.from({ length: 50 }, (_, i) => `request ${i} ${'.'.repeat(i * 37)}`);
    const settledOrder: number[] = [];
    const replies = await Promise.all(
      messages.map((m, i) =>
        c.request(m, 5000).then((reply) => {
          settledOrder.push(i);
          return reply.toString();
        }),
      ),
    );
    assert.deepEqual(
      replies,
      messages.map((m) => `${REPLY_PREFIX}${m}`),
    );
    assert.deepEqual(
      settledOrder,
      messages.map((_, i) => i),
    );
  });

  it('a request to a server that never replies rejects with RequestTimeoutError; the connection stays open', { timeout: 10_000 }, async () => {
    const silent = new NetServer({ host: '127.0.0.1', port: 0, codec: 'length', callbacks: { onMessage: () => undefined } });
    const { port } = await silent.start();
    cleanups.push(() => silent.stop({ drainTimeout: 0 }));
    const c = await client(port, 'length');
    const started = performance.now();
    const error = await c.request('anyone?', 150).then(
      () => assert.fail('resolved without a reply'),
      (err: unknown) => err,
    );
    const waited = performance.now() - started;
    assert.ok(error instanceof RequestTimeoutError, `rejected with ${String(error)}`);
    assert.equal(error.code, 'ERR_REQUEST_TIMEOUT');
    assert.equal(error.timeoutMs, 150);
    assert.ok(waited >= 140, `rejected after ${waited.toFixed(0)} ms`);
    assert.equal(c.isOpen, true);
    assert.equal(silent.connectionCount, 1);
  });

  it('after a timeout, late replies are dropped and later replies stay matched to later requests', { timeout: 10_000 }, async () => {
    const manual = await manualServer();
    const c = await client(manual.port, 'length');
    const unclaimed: string[] = [];
    c.on('message', (reply: Buffer) => unclaimed.push(reply.toString()));

    const first = c.request('first', 100);
    const atServer1 = await manual.next();
    assert.equal(atServer1.message, 'first');
    await assert.rejects(first, RequestTimeoutError);

    const second = c.request('second', 5000);
    const atServer2 = await manual.next();
    assert.equal(atServer2.message, 'second');
    // Now the server answers both, in order: the late reply to "first" must not satisfy "second".
    atServer1.conn.send('reply to first');
    atServer2.conn.send('reply to second');
    assert.equal((await second).toString(), 'reply to second');

    // And the connection goes on working.
    const third = c.request('third', 5000);
    const atServer3 = await manual.next();
    assert.equal(atServer3.message, 'third');
    atServer3.conn.send('reply to third');
    assert.equal((await third).toString(), 'reply to third');
    assert.deepEqual(unclaimed, []);
    assert.equal(c.isOpen, true);
  });

  it('the server closing rejects every pending request with ConnectionClosedError and emits close', { timeout: 10_000 }, async () => {
    const manual = await manualServer();
    const c = await client(manual.port, 'length');
    const closed = once(c, 'close');
    const pending = [c.request('one', 5000), c.request('two', 5000)];
    await manual.next();
    await manual.next();
    const started = performance.now();
    await manual.server.stop({ drainTimeout: 0 });
    for (const request of pending) {
      const error = await request.then(
        () => assert.fail('resolved without a reply'),
        (err: unknown) => err,
      );
      assert.ok(error instanceof ConnectionClosedError, `rejected with ${String(error)}`);
      assert.equal(error.code, 'ERR_CONNECTION_CLOSED');
    }
    // Rejected by the close, not by the 5 s request timeout.
    assert.ok(performance.now() - started < 2000);
    await within(closed, 2000, 'the close event');
    assert.equal(c.isOpen, false);
    await assert.rejects(c.request('after', 1000), ConnectionClosedError);
  });

  it('connecting to a closed port rejects with ConnectionClosedError', { timeout: 10_000 }, async () => {
    const port = await closedPort();
    const error = await connect({ port, connectTimeout: 5000 }).then(
      (c) => {
        c.destroy();
        return assert.fail('connected to a closed port');
      },
      (err: unknown) => err,
    );
    assert.ok(error instanceof ConnectionClosedError, `rejected with ${String(error)}`);
    assert.match(error.message, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('the line codec works against a line server (and CRLF requests too)', { timeout: 10_000 }, async () => {
    const port = await echoServer('line');
    const c = await client(port, 'line');
    assert.equal((await c.request('hello line', 5000)).toString(), `${REPLY_PREFIX}hello line`);
    // A CRLF client: the server drops the \r.
    assert.equal((await c.request('crlf\r', 5000)).toString(), `${REPLY_PREFIX}crlf`);
    const replies = await Promise.all(['a', 'b', 'c'].map((m) => c.request(m, 5000)));
    assert.deepEqual(
      replies.map((r) => r.toString()),
      ['a', 'b', 'c'].map((m) => `${REPLY_PREFIX}${m}`),
    );
  });

  it('the length codec works against length servers, little- and big-endian', { timeout: 10_000 }, async () => {
    for (const order of ['little', 'big'] as const) {
      const port = await echoServer('length', order);
      const c = await client(port, 'length', order);
      const big = Buffer.alloc(300_000, order === 'little' ? 0x4c : 0x42);
      assert.deepEqual(await c.request(big, 5000), Buffer.concat([Buffer.from(REPLY_PREFIX), big]), `${order}-endian`);
      assert.equal((await c.request('small', 5000)).toString(), `${REPLY_PREFIX}small`);
    }
  });

  // Bigger than the kernel's buffers both ways: the client keeps what the socket does not take
  // at once (on Bun's sockets, which buffer nothing, the client's own queue) and sends it in order.
  it('three 6 MiB requests sent at once come back whole and in order; close() waits for the replies', { timeout: 20_000 }, async () => {
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length', maxMessageBytes: 8 * 1024 * 1024 });
    const { port } = await app.start();
    cleanups.push(() => app.stop({ drainTimeout: 0 }));
    const c = await connect({ port, codec: 'length', maxMessageBytes: 8 * 1024 * 1024, connectTimeout: 5000 });
    cleanups.push(() => c.destroy());
    const requests = [0x61, 0x62, 0x63].map((fill) => Buffer.alloc(6 * 1024 * 1024, fill));
    const replies = await Promise.all(requests.map((request) => c.request(request, 15_000)));
    for (const [i, reply] of replies.entries()) {
      assert.ok(reply.equals(Buffer.concat([Buffer.from(REPLY_PREFIX), requests[i] as Buffer])), `reply ${i} differs`);
    }
    const closed = c.close();
    await within(closed, 5000, 'close() did not end');
    assert.equal(c.isOpen, false);
  });
});
