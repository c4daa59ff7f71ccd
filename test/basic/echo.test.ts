import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ReactorServer, type Connection } from '../../src/index.js';
import { ECHO_PREFIX as PREFIX, expectedReply, SeedClient } from '../helpers/seed-client.js';

describe('basic: the default echo application', () => {
  const app = new ReactorServer({ port: 0 });
  let port = 0;

  before(async () => {
    port = (await app.start()).port;
  });
  after(() => app.stop());

  it('answers a single connection with "[Server Reply]: " + message behind a 4-byte length', async () => {
    const client = await SeedClient.connect(port);
    assert.deepEqual(await client.request('hello reactor'), expectedReply('hello reactor'));
    await client.end();
  });

  it('writes the length header little-endian, as the seed does on x86 and ARM', async () => {
    const client = await SeedClient.connect(port);
    const raw: Buffer[] = [];
    client.socket.prependListener('data', (chunk: Buffer) => raw.push(chunk));
    await client.request('xyz');
    assert.deepEqual(Buffer.concat(raw).subarray(0, 4), Buffer.from([PREFIX.length + 3, 0, 0, 0]));
    await client.end();
  });

  it('echoes every byte value exactly, NUL and non-UTF-8 included', async () => {
    const client = await SeedClient.connect(port);
    const message = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28, 0]), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
    client.send(message);
    const reply = await client.readReassembled(message.length, PREFIX);
    assert.deepEqual(reply.body, message);
    await client.end();
  });

  it('serves 5 sequential connections, each with its own reply', async () => {
    for (let i = 0; i < 5; i++) {
      const client = await SeedClient.connect(port);
      assert.deepEqual(await client.request(`sequential ${i}`), expectedReply(`sequential ${i}`));
      await client.end();
    }
  });

  it('serves 10 concurrent connections, none mixed up with another', async () => {
    const clients = await Promise.all(Array.from({ length: 10 }, () => SeedClient.connect(port)));
    const replies = await Promise.all(clients.map((client, i) => client.request(`concurrent ${i}`)));
    replies.forEach((reply, i) => assert.deepEqual(reply, expectedReply(`concurrent ${i}`)));
    await Promise.all(clients.map((client) => client.end()));
  });

  it('echoes a 200 KB message in pieces that reassemble exactly', async () => {
    const client = await SeedClient.connect(port);
    const message = randomBytes(200 * 1024);
    client.send(message);
    const reply = await client.readReassembled(message.length, PREFIX);
    // libuv reads at most 64 KiB at a time: 200 KB cannot arrive as one message.
    assert.ok(reply.frames > 1, `one frame for a 200 KB message`);
    assert.equal(reply.body.length, message.length);
    assert.ok(reply.body.equals(message), 'reassembled body differs from what was sent');
    await client.end();
  });

  it('keeps one connection answering message after message', async () => {
    const client = await SeedClient.connect(port);
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(await client.request(`round ${i}`), expectedReply(`round ${i}`));
    }
    await client.end();
  });

  it('closes the connection after the peer half-closes, replies delivered first', async () => {
    const client = await SeedClient.connect(port);
    client.send('last words');
    client.socket.end();
    assert.deepEqual(await client.readFrame(), expectedReply('last words'));
    assert.equal(await client.closed, false);
  });
});

/** Starts `app`, sends one request from a fresh client, and returns the reply; stops `app`. */
async function replyFrom(app: ReactorServer, message: string): Promise<Buffer> {
  const { port } = await app.start();
  try {
    const client = await SeedClient.connect(port);
    const reply = await client.request(message);
    await client.end();
    return reply;
  } finally {
    await app.stop();
  }
}

describe('basic: the echo gives way to the application', () => {
  it('an onMessage set on the underlying server before start() is the one that answers', async () => {
    const app = new ReactorServer({ port: 0 });
    app.server.setCallbacks({ onMessage: (conn, message) => void conn.send(Buffer.from(message.toString().toUpperCase())) });
    assert.deepEqual(await replyFrom(app, 'shout'), Buffer.from('SHOUT'));
  });

  it('a subclass overriding processMessage is the one that answers', async () => {
    class Upper extends ReactorServer {
      protected override processMessage(conn: Connection, message: Buffer): void {
        conn.send(message.toString().toUpperCase());
      }
    }
    assert.deepEqual(await replyFrom(new Upper({ port: 0 }), 'quiet'), Buffer.from('QUIET'));
  });
});
