/**
 * maxMessagesPerSecond: a connection over its budget is not read until the budget refills.
 * Every message still reaches the application, in order, no faster than the cap, also when the
 * peer half-closes or the server stops meanwhile.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { NetServer, type NetServerOptions } from '../../src/index.js';
import { within } from '../helpers/wait.js';
import { ReplyStream } from '../helpers/reply-stream.js';

interface Delivery {
  text: string;
  at: number;
}

/** A line-codec server answering each line with itself, noting when each arrived and when the connection opened. */
async function start(options: Omit<NetServerOptions, 'callbacks'>): Promise<{ server: NetServer; port: number; deliveries: Delivery[]; openedAt: () => number }> {
  const deliveries: Delivery[] = [];
  let openedAt = 0;
  const server = new NetServer({
    host: '127.0.0.1',
    port: 0,
    codec: 'line',
    ...options,
    callbacks: {
      onConnection: () => void (openedAt = performance.now()),
      onMessage: (conn, message) => {
        deliveries.push({ text: message.toString(), at: performance.now() });
        conn.send(message);
      },
    },
  });
  const { port } = await server.start();
  return { server, port, deliveries, openedAt: () => openedAt };
}

function lines(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `message ${i}`);
}

/** Connects, writes every line at once (half-closing after, with `end`), and reads `count` replies. */
async function sendAll(port: number, messages: readonly string[], end = false): Promise<{ replies: string[]; stream: ReplyStream; socket: net.Socket }> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const stream = new ReplyStream(socket, { codec: 'line' });
  await once(socket, 'connect');
  socket.write(messages.map((m) => `${m}\n`).join(''));
  if (end) socket.end();
  const replies: string[] = [];
  for (let i = 0; i < messages.length; i++) replies.push((await stream.read()).toString());
  return { replies, stream, socket };
}

describe('admission: messages per second per connection', () => {
  it('delivers a burst of N at once, then N a second, every message in order', { timeout: 20_000 }, async () => {
    const PER_SECOND = 50;
    const { server, port, deliveries, openedAt } = await start({ maxMessagesPerSecond: PER_SECOND });
    try {
      const messages = lines(150);
      const { replies, socket } = await within(sendAll(port, messages), 10_000, 'every reply');
      assert.deepEqual(replies, messages);
      assert.deepEqual(
        deliveries.map((d) => d.text),
        messages,
      );
      // Message i (from 0) needs i + 1 tokens: the burst holds N, one more comes every 1000/N ms.
      for (let i = PER_SECOND; i < deliveries.length; i++) {
        const earliest = ((i + 1 - PER_SECOND) * 1000) / PER_SECOND;
        const at = deliveries[i]!.at - openedAt();
        assert.ok(at >= earliest - 2, `message ${i} delivered ${at.toFixed(1)} ms after the connection opened, before ${earliest} ms`);
      }
      const last = deliveries.at(-1)!.at - openedAt();
      assert.ok(last < 2000 + 3000, `the last message waited ${last.toFixed(0)} ms: shaping stalled`);
      assert.ok(server.stats.messageRatePauses >= 1, 'reading paused at least once');
      socket.destroy();
    } finally {
      await server.stop();
    }
  });

  it('a peer that half-closes with messages still held gets every reply, then the close', { timeout: 20_000 }, async () => {
    const { server, port } = await start({ maxMessagesPerSecond: 100 });
    try {
      const messages = lines(250);
      const { replies, stream } = await within(sendAll(port, messages, true), 10_000, 'every reply');
      assert.deepEqual(replies, messages);
      const closed = await within(stream.closed, 5000, 'the server to close');
      assert.equal(closed.sawEnd, true);
      assert.equal(closed.hadError, false);
    } finally {
      await server.stop();
    }
  });

  it('a graceful stop waits for held messages to be delivered and answered', { timeout: 20_000 }, async () => {
    const { server, port } = await start({ maxMessagesPerSecond: 20 });
    const messages = lines(50);
    const socket = net.connect({ port, host: '127.0.0.1' });
    const stream = new ReplyStream(socket, { codec: 'line' });
    await once(socket, 'connect');
    socket.write(messages.map((m) => `${m}\n`).join(''));
    assert.equal((await stream.read()).toString(), messages[0]);
    const stopped = server.stop({ drainTimeout: 10 });
    const replies = [messages[0]!];
    for (let i = 1; i < messages.length; i++) replies.push((await within(stream.read(), 5000, `reply ${i}`)).toString());
    assert.deepEqual(replies, messages);
    await within(stopped, 5000, 'the stop');
    socket.destroy();
  });

  it('without the option, nothing is held and reading never pauses for it', { timeout: 20_000 }, async () => {
    const { server, port, deliveries } = await start({});
    try {
      const messages = lines(300);
      const { replies, socket } = await within(sendAll(port, messages), 10_000, 'every reply');
      assert.deepEqual(replies, messages);
      assert.equal(deliveries.length, 300);
      assert.equal(server.stats.messageRatePauses, 0);
      socket.destroy();
    } finally {
      await server.stop();
    }
  });
});
