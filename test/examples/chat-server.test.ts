import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { NetServer } from '../../src/index.js';
import { createChatServer } from '../../examples/chat-server.js';
import { spawnNode } from '../helpers/cli-process.js';
import { SeedClient } from '../helpers/seed-client.js';

const CHAT_SCRIPT = fileURLToPath(new URL('../../examples/chat-server.js', import.meta.url));

/** A chat member: its client socket and the id the server gave it. */
interface Member {
  readonly client: SeedClient;
  /** Its globalId, INSTANCE:N. */
  readonly id: string;
}

function relayed(from: Member, message: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(`[client ${from.id}] `), Buffer.from(message)]);
}

async function readText(member: Member): Promise<string> {
  return (await member.client.readFrame()).toString();
}

/** Connects and waits for the welcome, so the server has registered the member. */
async function join(port: number, host = '127.0.0.1'): Promise<Member> {
  const client = await SeedClient.connect(port, host);
  const welcome = (await client.readFrame()).toString();
  const match = /^\* you are client (\S+:\d+)$/.exec(welcome);
  assert.ok(match !== null, `unexpected welcome ${JSON.stringify(welcome)}`);
  return { client, id: match[1] as string };
}

/** Joins one more member and checks every member already present hears about it. */
async function joinAnnounced(port: number, present: readonly Member[]): Promise<Member> {
  const member = await join(port);
  for (const other of present) assert.equal(await readText(other), `* client ${member.id} joined`);
  return member;
}

/** Runs `body` against a fresh chat server on a free port, stopped afterwards. */
async function withChat(body: (port: number, server: NetServer) => Promise<void>): Promise<void> {
  const server = createChatServer({ port: 0 });
  const { port } = await server.start();
  try {
    await body(port, server);
  } finally {
    await server.stop();
  }
}

describe('examples: chat server', () => {
  it('relays A\'s message to B and C byte-exact with the sender prefix, never back to A', { timeout: 10_000 }, () =>
    withChat(async (port) => {
      const a = await joinAnnounced(port, []);
      const b = await joinAnnounced(port, [a]);
      const c = await joinAnnounced(port, [a, b]);
      assert.equal(new Set([a.id, b.id, c.id]).size, 3, 'ids must be distinct');

      a.client.send('hello from A');
      assert.deepEqual(await b.client.readFrame(), relayed(a, 'hello from A'));
      assert.deepEqual(await c.client.readFrame(), relayed(a, 'hello from A'));

      // B answers. A's next frame is B's reply: had A's own message come back, it would have
      // been queued on A's connection before B even sent, and would be read first.
      b.client.send('hi A, B here');
      assert.deepEqual(await a.client.readFrame(), relayed(b, 'hi A, B here'));
      assert.deepEqual(await c.client.readFrame(), relayed(b, 'hi A, B here'));
      assert.equal(a.client.queuedFrames + b.client.queuedFrames + c.client.queuedFrames, 0, 'unexpected extra frames');

      for (const member of [a, b, c]) member.client.destroy();
      await Promise.all([a, b, c].map((m) => m.client.closed));
    }));

  it('announces joins and leaves to the others, and keeps delivering after a member leaves mid-conversation', { timeout: 10_000 }, () =>
    withChat(async (port) => {
      const a = await joinAnnounced(port, []);
      const b = await joinAnnounced(port, [a]);
      const c = await joinAnnounced(port, [a, b]);

      a.client.send('first round');
      assert.deepEqual(await b.client.readFrame(), relayed(a, 'first round'));
      assert.deepEqual(await c.client.readFrame(), relayed(a, 'first round'));

      // C leaves with a FIN; A and B hear it, C hears nothing more.
      await c.client.end();
      assert.equal(await readText(a), `* client ${c.id} left`);
      assert.equal(await readText(b), `* client ${c.id} left`);

      b.client.send('second round, C is gone');
      assert.deepEqual(await a.client.readFrame(), relayed(b, 'second round, C is gone'));

      // B drops abruptly (RST): A hears it leave and the room still works for newcomers.
      b.client.destroy(true);
      assert.equal(await readText(a), `* client ${b.id} left`);
      const d = await joinAnnounced(port, [a]);
      d.client.send('hello, I am new');
      assert.deepEqual(await a.client.readFrame(), relayed(d, 'hello, I am new'));
      assert.equal(a.client.queuedFrames + d.client.queuedFrames, 0, 'unexpected extra frames');

      await Promise.all([a.client.end(), d.client.end()]);
      await b.client.closed;
    }));

  it('relays non-UTF-8 bytes exactly', { timeout: 10_000 }, () =>
    withChat(async (port) => {
      const a = await joinAnnounced(port, []);
      const b = await joinAnnounced(port, [a]);
      const c = await joinAnnounced(port, [a, b]);
      const message = Buffer.from([0x00, 0xff, 0xfe, 0xc3, 0x28, 0x80, 0x0a, 0xed, 0xa0, 0x80, 0x00]);
      a.client.send(message);
      const atB = await b.client.readFrame();
      const atC = await c.client.readFrame();
      assert.deepEqual(atB, relayed(a, message));
      assert.deepEqual(atC, relayed(a, message));
      assert.ok(atB.subarray(-message.length).equals(message), 'the relayed body differs from what was sent');
      await Promise.all([a, b, c].map((m) => m.client.end()));
    }));

  it('/join ROOM: room messages reach the room only; /leave returns to the lobby; /msg reaches one client', { timeout: 10_000 }, () =>
    withChat(async (port) => {
      const a = await joinAnnounced(port, []);
      const b = await joinAnnounced(port, [a]);
      const c = await joinAnnounced(port, [a, b]);

      assert.equal((await a.client.request('/join chess\n')).toString(), '* you joined chess');
      assert.equal((await b.client.request('/join chess')).toString(), '* you joined chess');
      assert.equal(await readText(a), `* client ${b.id} joined chess`);

      a.client.send('e4');
      assert.deepEqual(await b.client.readFrame(), relayed(a, 'e4'));
      // c, outside the room, hears nothing of it; what c says outside a room reaches everyone.
      c.client.send('hello everyone');
      assert.deepEqual(await a.client.readFrame(), relayed(c, 'hello everyone'));
      assert.deepEqual(await b.client.readFrame(), relayed(c, 'hello everyone'));
      assert.equal((await c.client.request('/join')).toString(), '* usage: /join ROOM (1 to 64 characters, no spaces)');

      assert.equal((await b.client.request('/leave')).toString(), '* you left chess');
      assert.equal(await readText(a), `* client ${b.id} left chess`);
      b.client.send('back in the lobby');
      assert.deepEqual(await c.client.readFrame(), relayed(b, 'back in the lobby'));
      assert.deepEqual(await a.client.readFrame(), relayed(b, 'back in the lobby'));
      // a, still in the room, talks to the room alone: no one is left there to hear it.
      a.client.send('anyone?');

      assert.equal((await c.client.request(`/msg ${a.id} just for you`)).toString(), `* sent to ${a.id}`);
      assert.equal(await readText(a), `[client ${c.id} privately] just for you`);
      assert.equal((await c.client.request('/msg nobody')).toString(), '* usage: /msg ID TEXT');
      const gone = `${a.id.split(':')[0]}:999`;
      assert.equal((await c.client.request(`/msg ${gone} hello?`)).toString(), `* no client ${gone}`);
      assert.equal((await c.client.request('/dance')).toString(), '* unknown command /dance: try /join ROOM, /leave, /msg ID TEXT');

      assert.equal(a.client.queuedFrames + b.client.queuedFrames + c.client.queuedFrames, 0, 'unexpected extra frames');
      await Promise.all([a, b, c].map((m) => m.client.end()));
    }));

  it('runs directly: prints its ready line, chats, and exits 0 on SIGTERM', { timeout: 15_000 }, async () => {
    const chat = spawnNode([CHAT_SCRIPT, '0']);
    try {
      const ready = /^chat server listening on (\S+):(\d+)\r?$/.exec(await chat.waitForLine((line) => line.startsWith('chat server listening on')));
      assert.ok(ready !== null, `unexpected ready line\n${chat.output()}`);
      const host = ready[1] as string;
      const childPort = Number(ready[2]);
      assert.equal(host, '127.0.0.1');
      assert.ok(childPort > 0);
      const a = await join(childPort, host);
      const b = await join(childPort, host);
      assert.equal(await readText(a), `* client ${b.id} joined`);
      b.client.send('over the wire');
      assert.deepEqual(await a.client.readFrame(), relayed(b, 'over the wire'));
      const { code } = await chat.stop('SIGTERM');
      assert.equal(code, 0, `exit code; stderr: ${chat.stderr()}`);
      // The server closed both members on its way out (and told no one about it).
      await Promise.all([a.client.closed, b.client.closed]);
      assert.equal(a.client.queuedFrames + b.client.queuedFrames, 0);
    } finally {
      await chat.stop('SIGKILL');
    }
  });
});
