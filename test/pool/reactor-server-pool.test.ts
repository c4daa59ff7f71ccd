import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  HandlerError,
  InvalidOptionError,
  ReactorServer,
  SeedCodec,
  type CloseReason,
  type Codec,
  type Connection,
  type Decoder,
  type MessageSink,
  type Payload,
  type ReactorServerOptions,
} from '../../src/index.js';
import type { ByteBuffer } from '../../src/core/byte-buffer.js';
import { osThreadCount } from '../helpers/resources.js';
import { ECHO_PREFIX as PREFIX, expectedReply, SeedClient } from '../helpers/seed-client.js';
import { EventLog, waitUntil } from '../helpers/wait.js';
import { HANDLERS } from './helpers.js';

type ServerEvent =
  | { kind: 'open'; conn: number; remotePort: number }
  | { kind: 'message'; conn: number; text: string; handled: Promise<void> }
  | { kind: 'error'; conn: number; error: Error }
  | { kind: 'close'; conn: number; reason: CloseReason };

/** A ReactorServer that records what happens to it, leaving the default behaviour in place. */
class ObservedServer extends ReactorServer {
  readonly log = new EventLog<ServerEvent>();

  /** The server-side id of the connection a client opened. */
  async connOf(client: SeedClient): Promise<number> {
    const port = client.socket.localPort;
    const open = await this.log.waitFor((e) => e.kind === 'open' && e.remotePort === port);
    return open.conn;
  }

  messages(conn: number): Extract<ServerEvent, { kind: 'message' }>[] {
    return this.log.filter((e): e is Extract<ServerEvent, { kind: 'message' }> => e.kind === 'message' && e.conn === conn);
  }

  errors(): Extract<ServerEvent, { kind: 'error' }>[] {
    return this.log.filter((e): e is Extract<ServerEvent, { kind: 'error' }> => e.kind === 'error');
  }

  protected override onConnection(conn: Connection): void {
    this.log.push({ kind: 'open', conn: conn.id, remotePort: conn.remotePort });
  }

  protected override processMessage(conn: Connection, message: Buffer): void | Promise<void> {
    const result = super.processMessage(conn, message);
    const handled = result === undefined ? Promise.resolve() : result;
    // Observe without handling: the connection still sees (and handles) a rejection.
    handled.catch(() => undefined);
    this.log.push({ kind: 'message', conn: conn.id, text: message.toString('latin1'), handled });
    return result;
  }

  protected override onError(conn: Connection, error: Error): void {
    this.log.push({ kind: 'error', conn: conn.id, error });
  }

  protected override onClose(conn: Connection, reason: CloseReason): void {
    this.log.push({ kind: 'close', conn: conn.id, reason });
  }
}

/** Length-prefixed inbound frames (4-byte LE), seed framing outbound: lets a client pipeline. */
class FramedCodec implements Codec {
  readonly name = 'framed-test';
  private readonly seed = new SeedCodec();

  createDecoder(): Decoder {
    let pending: Buffer = Buffer.alloc(0);
    return {
      get bufferedBytes() {
        return pending.length;
      },
      decode(chunk: Buffer, sink: MessageSink): void {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        while (pending.length >= 4) {
          const length = pending.readUInt32LE(0);
          if (pending.length < 4 + length) break;
          sink.deliver(Buffer.from(pending.subarray(4, 4 + length)));
          pending = pending.subarray(4 + length);
        }
      },
    };
  }

  encode(payload: Payload, out: ByteBuffer): number {
    return this.seed.encode(payload, out);
  }
}

function frame(text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(body.length, 0);
  return Buffer.concat([head, body]);
}

async function withServer<S extends ReactorServer>(app: S, body: (port: number) => Promise<void>): Promise<void> {
  const { port } = await app.start();
  try {
    await body(port);
  } finally {
    await app.stop();
  }
}

function options(extra: ReactorServerOptions): ReactorServerOptions {
  return { host: '127.0.0.1', port: 0, ...extra };
}

/** Parses "<id>@<finish ns>" replies of the `delayed` handler. */
function parseDelayed(reply: Buffer): { id: string; finishedAt: bigint } {
  const [id, at] = reply.toString('latin1').split('@');
  return { id: id as string, finishedAt: BigInt(at as string) };
}

describe('ReactorServer on the pool: the default echo', { timeout: 60000 }, () => {
  const app = new ReactorServer(options({ taskWorkers: 2 }));
  let port = 0;

  before(async () => {
    port = (await app.start()).port;
  });
  after(() => app.stop());

  it('runs a pool of exactly taskWorkers threads', () => {
    assert.ok(app.pool !== null);
    assert.equal(app.pool.isRunning, true);
    assert.equal(app.pool.size, 2);
    assert.equal(app.pool.threads.length, 2);
  });

  it('answers byte-exact, every byte value included', async () => {
    const client = await SeedClient.connect(port);
    try {
      assert.deepEqual(await client.request('hello pool'), expectedReply('hello pool'));
      const binary = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0xc3, 0x28, 0]), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
      client.send(binary);
      const reply = await client.readReassembled(binary.length, PREFIX);
      assert.deepEqual(reply.body, binary);
    } finally {
      await client.end();
    }
  });

  it('reassembles a 512 KB message read in many pieces: the pool replies in read order', async () => {
    const client = await SeedClient.connect(port);
    try {
      const message = randomBytes(512 * 1024);
      client.send(message);
      const reply = await client.readReassembled(message.length, PREFIX);
      assert.ok(reply.frames > 1, 'a 512 KB message arrived as one read: nothing was reassembled');
      assert.ok(reply.body.equals(message), `reassembled body differs (${reply.frames} frames)`);
    } finally {
      await client.end();
    }
  });

  it('50 concurrent connections x 40 requests (one in flight each), all byte-exact', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, () => SeedClient.connect(port)));
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          for (let r = 0; r < 40; r++) {
            const message = `conn ${c} request ${r} ${'x'.repeat((c * 7 + r) % 50)}`;
            const reply = await client.request(message);
            assert.deepEqual(reply, expectedReply(message), `connection ${c}, request ${r}`);
          }
          assert.equal(client.queuedFrames, 0, `connection ${c} got a frame nobody asked for`);
        }),
      );
    } finally {
      await Promise.all(clients.map((client) => client.end()));
    }
  });
});

describe('ReactorServer on the pool: reply order', { timeout: 30000 }, () => {
  it('keeps message order on a connection when pipelined tasks finish out of order', async () => {
    const app = new ObservedServer(options({ taskWorkers: 4, taskModule: HANDLERS, taskExport: 'delayed', codec: new FramedCodec() }));
    await withServer(app, async (port) => {
      const client = await SeedClient.connect(port);
      try {
        const delays = [400, 20, 300, 0, 200, 100, 250, 10];
        client.send(Buffer.concat(delays.map((delay, i) => frame(`m${i}:${delay}`))));
        const replies: { id: string; finishedAt: bigint }[] = [];
        for (let i = 0; i < delays.length; i++) replies.push(parseDelayed(await client.readFrame()));
        assert.deepEqual(
          replies.map((r) => r.id),
          delays.map((_, i) => `m${i}`),
          'replies come back in message order',
        );
        const finishOrder = [...replies].sort((a, b) => (a.finishedAt < b.finishedAt ? -1 : 1)).map((r) => r.id);
        assert.notDeepEqual(finishOrder, replies.map((r) => r.id), 'precondition: the tasks really finished out of order');
        assert.equal(app.messages(await app.connOf(client)).length, delays.length, 'one message per frame');
      } finally {
        await client.end();
      }
    });
  });

  it('keeps message order with the seed codec, one message per read, descending delays', async () => {
    const app = new ObservedServer(options({ taskWorkers: 4, taskModule: HANDLERS, taskExport: 'delayed' }));
    await withServer(app, async (port) => {
      const client = await SeedClient.connect(port);
      try {
        const conn = await app.connOf(client);
        const delays = [300, 200, 100, 0];
        for (let i = 0; i < delays.length; i++) {
          client.send(`d${i}:${delays[i]}`);
          // Wait until the server has read it as its own message before sending the next.
          await app.log.waitFor((e) => e.kind === 'message' && e.conn === conn && e.text === `d${i}:${delays[i]}`);
        }
        const replies: { id: string; finishedAt: bigint }[] = [];
        for (let i = 0; i < delays.length; i++) replies.push(parseDelayed(await client.readFrame()));
        assert.deepEqual(
          replies.map((r) => r.id),
          ['d0', 'd1', 'd2', 'd3'],
        );
        assert.ok((replies[3] as { finishedAt: bigint }).finishedAt < (replies[0] as { finishedAt: bigint }).finishedAt, 'precondition: the last task finished first');
      } finally {
        await client.end();
      }
    });
  });

  it('a peer that half-closes while its tasks run still gets every reply, in order', async () => {
    const app = new ObservedServer(options({ taskWorkers: 2, taskModule: HANDLERS, taskExport: 'delayed', codec: new FramedCodec() }));
    await withServer(app, async (port) => {
      const client = await SeedClient.connect(port);
      client.send(Buffer.concat([frame('h0:200'), frame('h1:0')]));
      const conn = await app.connOf(client);
      await app.log.waitFor((e) => e.kind === 'message' && e.conn === conn && e.text === 'h1:0');
      client.socket.end();
      assert.equal(parseDelayed(await client.readFrame()).id, 'h0');
      assert.equal(parseDelayed(await client.readFrame()).id, 'h1');
      assert.equal(await client.closed, false);
      const closed = await app.log.waitFor((e) => e.kind === 'close' && e.conn === conn);
      assert.deepEqual(closed, { kind: 'close', conn, reason: 'peer-closed' });
    });
  });
});

describe('ReactorServer on the pool: failures', { timeout: 30000 }, () => {
  for (const how of ['peer reset (RST)', 'server-side close()'] as const) {
    it(`a connection that closes while its task runs (${how}) is not written to; nothing throws; the server still serves`, async () => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        const app = new ObservedServer(options({ taskWorkers: 2, taskModule: HANDLERS, taskExport: 'delayed' }));
        await withServer(app, async (port) => {
          const client = await SeedClient.connect(port);
          const conn = await app.connOf(client);
          client.send('gone:300');
          const message = await app.log.waitFor((e): e is Extract<ServerEvent, { kind: 'message' }> => e.kind === 'message' && e.conn === conn);
          const sentBefore = app.server.stats.messagesOut;
          if (how === 'peer reset (RST)') {
            client.destroy(true);
          } else {
            const serverSide = [...app.server.connections()].find((c) => c.id === conn);
            assert.ok(serverSide !== undefined);
            serverSide.close();
          }
          await app.log.waitFor((e) => e.kind === 'close' && e.conn === conn);
          assert.equal(app.pool?.active, 1, 'precondition: the task is still running after the close');
          await message.handled; // the reply is dropped quietly: resolves, does not reject
          assert.equal(app.server.stats.messagesOut, sentBefore, 'nothing was sent for the closed connection');
          // A reset may surface as a socket error (ECONNRESET); never as a handler failure.
          for (const { error } of app.errors()) {
            assert.ok(!(error instanceof HandlerError), `unexpected ${String(error)}`);
            assert.equal((error as NodeJS.ErrnoException).code, 'ECONNRESET');
          }
          if (how === 'server-side close()') assert.deepEqual(app.errors(), []);
          await new Promise((resolve) => setImmediate(resolve));
          assert.deepEqual(unhandled, []);

          const next = await SeedClient.connect(port);
          assert.equal(parseDelayed(await next.request('next:0')).id, 'next');
          await next.end();
          await client.closed;
        });
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
      assert.deepEqual(unhandled, []);
    });
  }

  it('a handler that throws on the pool fires onError(HandlerError) and closes only its connection', async () => {
    const app = new ObservedServer(options({ taskWorkers: 2, taskModule: HANDLERS, taskExport: 'explosive' }));
    await withServer(app, async (port) => {
      const victim = await SeedClient.connect(port);
      const bystander = await SeedClient.connect(port);
      const victimConn = await app.connOf(victim);
      assert.deepEqual(await bystander.request('before'), Buffer.from('ok:before'));
      victim.send('boom now');
      const failed = await app.log.waitFor((e): e is Extract<ServerEvent, { kind: 'error' }> => e.kind === 'error');
      assert.equal(failed.conn, victimConn);
      assert.ok(failed.error instanceof HandlerError, `got ${String(failed.error)}`);
      assert.equal(failed.error.code, 'ERR_HANDLER_FAILED');
      assert.equal(failed.error.callback, 'onMessage');
      assert.ok(failed.error.cause instanceof Error);
      assert.equal(failed.error.cause.message, 'handler refused: boom now');
      assert.match(failed.error.cause.stack ?? '', /explosive/, 'the worker stack comes along');
      await victim.closed;
      assert.deepEqual(await app.log.waitFor((e) => e.kind === 'close' && e.conn === victimConn), { kind: 'close', conn: victimConn, reason: 'error' });
      assert.equal(victim.queuedFrames, 0, 'no reply for the failed message');

      assert.deepEqual(await bystander.request('after'), Buffer.from('ok:after'));
      assert.equal(app.errors().length, 1);
      const late = await SeedClient.connect(port);
      assert.deepEqual(await late.request('late'), Buffer.from('ok:late'));
      await Promise.all([bystander.end(), late.end()]);
    });
  });

  it('taskModule with taskWorkers 0 runs the same handler inline, on the main thread', async () => {
    const inline = new ReactorServer(options({ taskModule: HANDLERS, taskExport: 'whereAmI' }));
    assert.equal(inline.pool, null);
    await withServer(inline, async (port) => {
      const client = await SeedClient.connect(port);
      assert.deepEqual(await client.request('hi'), Buffer.from('main:hi'));
      await client.end();
    });
    const pooled = new ReactorServer(options({ taskWorkers: 1, taskModule: HANDLERS, taskExport: 'whereAmI' }));
    await withServer(pooled, async (port) => {
      const client = await SeedClient.connect(port);
      assert.deepEqual(await client.request('hi'), Buffer.from('worker:hi'));
      await client.end();
    });
  });

  it('inline and pooled handlers agree on async replies, parts, and no reply', async () => {
    for (const taskWorkers of [0, 2]) {
      for (const [taskExport, message, expected] of [
        ['delayed', 'a:5', /^a@\d+$/],
        ['parts', 'xyz', /^<xyz>$/],
      ] as const) {
        const app = new ReactorServer(options({ taskWorkers, taskModule: HANDLERS, taskExport }));
        await withServer(app, async (port) => {
          const client = await SeedClient.connect(port);
          assert.match((await client.request(message)).toString('latin1'), expected, `${taskExport} with ${taskWorkers} workers`);
          await client.end();
        });
      }
      const app = new ObservedServer(options({ taskWorkers, taskModule: HANDLERS, taskExport: 'silent' }));
      await withServer(app, async (port) => {
        const client = await SeedClient.connect(port);
        const conn = await app.connOf(client);
        client.send('quiet');
        const message = await app.log.waitFor((e): e is Extract<ServerEvent, { kind: 'message' }> => e.kind === 'message' && e.conn === conn);
        await message.handled;
        await client.end();
        assert.equal(client.queuedFrames, 0, `a handler returning nothing sends nothing (${taskWorkers} workers)`);
      });
    }
  });

  for (const taskWorkers of [0, 1]) {
    it(`a module lacking the export: start() rejects with InvalidOptionError (${taskWorkers} workers), nothing left running`, async () => {
      const app = new ReactorServer(options({ taskWorkers, taskModule: HANDLERS, taskExport: 'noSuchHandler' }));
      await assert.rejects(app.start(), (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError, `got ${String(err)}`);
        assert.equal(err.option, 'taskModule');
        assert.match(err.message, /noSuchHandler/);
        return true;
      });
      assert.equal(app.server.isRunning, false);
      assert.equal(app.pool?.isRunning ?? false, false, 'no pool is started for a handler that cannot run');
      await app.stop();
    });
  }
});

describe('ReactorServer on the pool: stop', { timeout: 30000 }, () => {
  it('stop() stops the pool too: no worker threads left', async () => {
    const threadsBefore = osThreadCount();
    const app = new ObservedServer(options({ taskWorkers: 3, taskModule: HANDLERS, taskExport: 'delayed' }));
    const { port } = await app.start();
    const pool = app.pool;
    assert.ok(pool !== null);
    assert.equal(pool.threads.length, 3);
    const client = await SeedClient.connect(port);
    assert.equal(parseDelayed(await client.request('s:0')).id, 's');
    // One task still running when the server stops: its reply is dropped, the stop waits for it.
    const conn = await app.connOf(client);
    client.send('late:200');
    const message = await app.log.waitFor((e): e is Extract<ServerEvent, { kind: 'message' }> => e.kind === 'message' && e.conn === conn && e.text === 'late:200');
    const t0 = performance.now();
    await app.stop();
    assert.ok(performance.now() - t0 < 5000);
    await message.handled;
    assert.equal(pool.isRunning, false);
    assert.equal(pool.threads.length, 0);
    assert.equal(pool.active, 0);
    await client.closed;
    if (threadsBefore !== null) {
      // OS threads join a moment after their workers exit, with no event to await.
      await waitUntil(() => (osThreadCount() as number) <= threadsBefore, () => `OS threads: ${threadsBefore} before, ${osThreadCount()} after`, 2000, 10);
    }
  });
});
