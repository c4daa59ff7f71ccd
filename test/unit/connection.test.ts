import { after, before, describe, it, mock } from 'node:test';
import type { Socket } from 'node:net';
import assert from 'node:assert/strict';
import {
  HandlerError,
  type CloseReason,
  type Connection,
  type ConnectionState,
  type NetServer,
} from '../../src/index.js';
import { SeedClient } from '../helpers/seed-client.js';
import { deferred, EventLog } from '../helpers/wait.js';
import { startServer } from './support.js';

interface State {
  messages: number;
}

type Event =
  | { kind: 'open'; conn: Connection<State> }
  | { kind: 'message'; id: number; text: string }
  | { kind: 'error'; id: number; error: Error }
  | { kind: 'close'; id: number; reason: CloseReason; state: ConnectionState; sendAfterClose: boolean }
  | { kind: 'closed-then-sent'; id: number; accepted: boolean }
  | { kind: 'flood-closing'; id: number; pendingOutputBytes: number };

type Of<K extends Event['kind']> = Extract<Event, { kind: K }>;

const FLOOD_FRAMES = 64;
const FLOOD_FRAME_BYTES = 256 * 1024;

function floodFrame(i: number): Buffer {
  return Buffer.alloc(FLOOD_FRAME_BYTES, i & 0xff);
}

/**
 * One server whose behaviour is picked by the message text, so each test drives its
 * own connection and reads the shared event log for that connection's id only.
 */
describe('Connection', { timeout: 10000 }, () => {
  const log = new EventLog<Event>();
  let server: NetServer<State>;
  let port = 0;

  function kindsFor(id: number): Event['kind'][] {
    return log.events.filter((e) => e.kind !== 'open' ? e.id === id : e.conn.id === id).map((e) => e.kind);
  }

  function closeOf(id: number): Promise<Of<'close'>> {
    return log.waitFor((e): e is Of<'close'> => e.kind === 'close' && e.id === id);
  }

  async function connect(): Promise<{ client: SeedClient; conn: Connection<State> }> {
    const client = await SeedClient.connect(port);
    const opened = await log.waitFor((e): e is Of<'open'> => e.kind === 'open' && e.conn.remotePort === client.socket.localPort);
    return { client, conn: opened.conn };
  }

  before(async () => {
    ({ server, port } = await startServer<State>({
      onConnection: (conn) => {
        conn.userData = { messages: 0 };
        log.push({ kind: 'open', conn });
      },
      onMessage: (conn, message) => {
        const text = message.toString();
        log.push({ kind: 'message', id: conn.id, text });
        (conn.userData as State).messages++;
        switch (text) {
          case 'throw':
            throw new Error('sync boom');
          case 'reject':
            return (async () => {
              await Promise.resolve();
              throw new Error('async boom');
            })();
          case 'close':
            conn.close();
            log.push({ kind: 'closed-then-sent', id: conn.id, accepted: conn.send('too late') });
            return;
          case 'flush-close':
            conn.send('one');
            conn.send('two');
            conn.closeAfterWrite();
            return;
          case 'flood':
            for (let i = 0; i < FLOOD_FRAMES / 2; i++) conn.send(floodFrame(i));
            // The rest is sent outside the read callback, while the socket is backed up.
            setImmediate(() => {
              for (let i = FLOOD_FRAMES / 2; i < FLOOD_FRAMES; i++) conn.send(floodFrame(i));
              conn.closeAfterWrite();
              log.push({ kind: 'flood-closing', id: conn.id, pendingOutputBytes: conn.pendingOutputBytes });
            });
            return;
          case 'big':
            conn.send(floodFrame(7));
            return;
          case 'burst':
            for (let i = 0; i < 3; i++) conn.send(`part ${i}`);
            return;
          case 'later':
            setImmediate(() => {
              for (let i = 0; i < 3; i++) conn.send(`later ${i}`);
            });
            return;
          case 'count':
            conn.send(String((conn.userData as State).messages));
            return;
          default:
            conn.send(message);
        }
      },
      onError: (conn, error) => log.push({ kind: 'error', id: conn.id, error }),
      onClose: (conn, reason) =>
        log.push({ kind: 'close', id: conn.id, reason, state: conn.state, sendAfterClose: conn.send('after close') }),
    }));
  });

  after(() => server.stop());

  it('fires onConnection, onMessage, then onClose(peer-closed) when the client sends FIN', async () => {
    const { client, conn } = await connect();
    assert.equal(conn.remoteAddress, '127.0.0.1');
    assert.equal(conn.remotePort, client.socket.localPort);
    assert.equal(conn.state, 'open');
    assert.deepEqual(await client.request('ping'), Buffer.from('ping'));
    await client.end();
    const closed = await closeOf(conn.id);
    assert.equal(closed.reason, 'peer-closed');
    assert.equal(closed.state, 'closed');
    assert.equal(closed.sendAfterClose, false, 'send() inside onClose must be refused');
    assert.deepEqual(kindsFor(conn.id), ['open', 'message', 'close']);
    assert.equal(conn.isOpen, false);
  });

  for (const [command, message] of [
    ['throw', 'sync boom'],
    ['reject', 'async boom'],
  ] as const) {
    it(`a handler that ${command === 'throw' ? 'throws' : 'rejects'} closes only its connection, after onError(HandlerError)`, async () => {
      const bystander = await connect();
      const victim = await connect();
      assert.deepEqual(await bystander.client.request('before'), Buffer.from('before'));
      const errorsBefore = server.stats.errors;

      victim.client.send(command);
      await victim.client.closed;
      const closed = await closeOf(victim.conn.id);
      assert.equal(closed.reason, 'error');
      assert.deepEqual(kindsFor(victim.conn.id), ['open', 'message', 'error', 'close']);
      const { error } = log.filter((e): e is Of<'error'> => e.kind === 'error' && e.id === victim.conn.id)[0] as Of<'error'>;
      assert.ok(error instanceof HandlerError, `got ${String(error)}`);
      assert.equal(error.code, 'ERR_HANDLER_FAILED');
      assert.equal(error.callback, 'onMessage');
      assert.ok(error.cause instanceof Error);
      assert.equal(error.cause.message, message);
      assert.equal(server.stats.errors, errorsBefore + 1);

      assert.deepEqual(await bystander.client.request('after'), Buffer.from('after'));
      assert.equal(bystander.conn.isOpen, true);
      await bystander.client.end();
    });
  }

  it('a peer that half-closes and reads only after we closed still gets the whole reply, then a clean FIN', async () => {
    const { client, conn } = await connect();
    // Not reading: the 256 KiB reply waits in the kernel's buffers when the server closes.
    client.socket.pause();
    client.send('big');
    client.socket.end();
    const closed = await closeOf(conn.id);
    assert.equal(closed.reason, 'peer-closed');
    client.socket.resume();
    assert.deepEqual(await client.readFrame(), floodFrame(7));
    assert.equal(await client.closed, false, 'the close reset the connection instead of ending it');
    assert.deepEqual(kindsFor(conn.id), ['open', 'message', 'close']);
  });

  it('conn.close() closes with reason "closed", and send() afterwards returns false', async () => {
    const { client, conn } = await connect();
    client.send('close');
    await client.closed;
    const closed = await closeOf(conn.id);
    assert.equal(closed.reason, 'closed');
    const sent = log.filter((e): e is Of<'closed-then-sent'> => e.kind === 'closed-then-sent' && e.id === conn.id);
    assert.deepEqual(sent.map((e) => e.accepted), [false]);
    assert.equal(conn.send('later still'), false);
    assert.deepEqual(kindsFor(conn.id), ['open', 'message', 'closed-then-sent', 'close']);
  });

  it('closeAfterWrite delivers the frames queued before it, then closes cleanly', async () => {
    const { client, conn } = await connect();
    client.send('flush-close');
    assert.deepEqual(await client.readFrame(), Buffer.from('one'));
    assert.deepEqual(await client.readFrame(), Buffer.from('two'));
    assert.equal(await client.closed, false);
    assert.equal((await closeOf(conn.id)).reason, 'closed');
  });

  it('closeAfterWrite on a backed-up socket still delivers every frame, in order, before FIN', async () => {
    const { client, conn } = await connect();
    // Not reading lets the server's output back up in the kernel and in the socket.
    client.socket.pause();
    client.send('flood');
    const closing = await log.waitFor((e): e is Of<'flood-closing'> => e.kind === 'flood-closing' && e.id === conn.id);
    assert.ok(closing.pendingOutputBytes > 0, 'the output never backed up: the test proves nothing');
    client.socket.resume();
    for (let i = 0; i < FLOOD_FRAMES; i++) {
      const frame = await client.readFrame();
      assert.ok(frame.equals(floodFrame(i)), `frame ${i} differs`);
    }
    assert.equal(await client.closed, false);
    assert.equal(client.queuedFrames, 0);
    assert.equal((await closeOf(conn.id)).reason, 'closed');
  });

  it('sends made in one onMessage arrive in order, in a single socket write', async () => {
    const { client, conn } = await connect();
    const write = mock.method(conn.rawSocket as Socket, 'write');
    try {
      client.send('burst');
      for (let i = 0; i < 3; i++) assert.equal((await client.readFrame()).toString(), `part ${i}`);
      assert.equal(write.mock.callCount(), 1);
    } finally {
      write.mock.restore();
      await client.end();
    }
  });

  it('sends made outside a read callback in one tick are coalesced into one write too', async () => {
    const { client, conn } = await connect();
    const write = mock.method(conn.rawSocket as Socket, 'write');
    try {
      client.send('later');
      for (let i = 0; i < 3; i++) assert.equal((await client.readFrame()).toString(), `later ${i}`);
      assert.equal(write.mock.callCount(), 1);
    } finally {
      write.mock.restore();
      await client.end();
    }
  });

  it('keeps per-connection state in userData', async () => {
    const a = await connect();
    const b = await connect();
    try {
      assert.equal((await a.client.request('x')).toString(), 'x');
      assert.equal((await a.client.request('y')).toString(), 'y');
      assert.equal((await b.client.request('count')).toString(), '1');
      assert.equal((await a.client.request('count')).toString(), '3');
      assert.deepEqual(a.conn.userData, { messages: 3 });
      assert.deepEqual(b.conn.userData, { messages: 1 });
    } finally {
      await a.client.end();
      await b.client.end();
    }
  });

  it('survives a client reset: onError(ECONNRESET) then one onClose, and keeps serving', async () => {
    const { client, conn } = await connect();
    assert.deepEqual(await client.request('before reset'), Buffer.from('before reset'));
    client.destroy(true);
    const closed = await closeOf(conn.id);
    assert.equal(closed.reason, 'error');
    const errors = log.filter((e): e is Of<'error'> => e.kind === 'error' && e.id === conn.id);
    assert.equal(errors.length, 1);
    assert.equal((errors[0]?.error as NodeJS.ErrnoException).code, 'ECONNRESET');
    assert.deepEqual(kindsFor(conn.id), ['open', 'message', 'error', 'close']);

    const other = await connect();
    assert.deepEqual(await other.client.request('still serving'), Buffer.from('still serving'));
    await other.client.end();
  });

  it('fired onClose exactly once for every connection, the last after stop()', async () => {
    const { client, conn } = await connect();
    assert.deepEqual(await client.request('open at stop'), Buffer.from('open at stop'));
    await server.stop();
    assert.equal(await client.closed, false);
    assert.equal((await closeOf(conn.id)).reason, 'server-stop');

    const opened = log.filter((e): e is Of<'open'> => e.kind === 'open').map((e) => e.conn.id);
    assert.ok(opened.length >= 10);
    for (const id of opened) {
      const closes = log.filter((e) => e.kind === 'close' && e.id === id);
      assert.equal(closes.length, 1, `connection ${id} closed ${closes.length} times`);
    }
    assert.equal(server.connectionCount, 0);
    assert.equal(log.filter((e) => e.kind === 'close').length, opened.length);
  });
});

describe('Connection onSendComplete', { timeout: 10000 }, () => {
  it('fires once per flushed batch, when nothing is left to write', async () => {
    const completions = new EventLog<{ id: number; pending: number }>();
    const { server, port } = await startServer({
      onMessage: (conn, message) => {
        conn.send(message);
        conn.send(Buffer.alloc(2 * 1024 * 1024, 1)); // large enough for the write to complete late
        conn.send(message);
      },
      onSendComplete: (conn) => completions.push({ id: conn.id, pending: conn.pendingOutputBytes }),
    });
    const client = await SeedClient.connect(port);
    try {
      const first = completions.waitFor(() => true);
      assert.deepEqual(await client.request('a'), Buffer.from('a'));
      assert.equal((await client.readFrame()).length, 2 * 1024 * 1024);
      assert.deepEqual(await client.readFrame(), Buffer.from('a'));
      assert.equal((await first).pending, 0);

      const second = completions.waitFor(() => completions.events.length === 2);
      client.send('b');
      await client.readFrame();
      await client.readFrame();
      await client.readFrame();
      await second;
      assert.equal(completions.events.length, 2);
      assert.ok(completions.events.every((c) => c.pending === 0));
    } finally {
      await client.end();
      await server.stop();
    }
  });

  it('under backpressure, fires only once the send queued behind the big write is out too', async () => {
    const big = 16 * 1024 * 1024;
    const completions: number[] = [];
    const firstDone = deferred();
    const queuedBehind = deferred<number>();
    const { server, port } = await startServer({
      onMessage: (conn) => {
        conn.send(Buffer.alloc(big, 1));
        setImmediate(() => {
          // Only meaningful if the first write is still pending when this one queues.
          queuedBehind.resolve(conn.pendingOutputBytes);
          conn.send('tail');
        });
      },
      onSendComplete: (conn) => {
        completions.push(conn.pendingOutputBytes);
        firstDone.resolve();
      },
    }, { maxPendingOutput: 2 * big });
    const client = await SeedClient.connect(port);
    try {
      client.socket.pause();
      client.send('go');
      assert.ok((await queuedBehind.promise) > 0, 'the first write was not backed up: the test proves nothing');
      client.socket.resume();
      assert.equal((await client.readFrame()).length, big);
      assert.deepEqual(await client.readFrame(), Buffer.from('tail'));
      await firstDone.promise;
      // The big write completing may fire it (the drain has flushed the tail by then), but
      // never while the tail still waits in the connection's output.
      assert.ok(completions.length >= 1);
      assert.ok(completions.every((pending) => pending === 0), `pending at completion: ${completions.join(', ')}`);
    } finally {
      await client.end();
      await server.stop();
    }
  });

  it('set later with setCallbacks, applies only to connections accepted afterwards', async () => {
    const completions = new EventLog<number>();
    const opened = new EventLog<Connection>();
    const { server, port } = await startServer({
      onConnection: (conn) => opened.push(conn),
      onMessage: (conn, message) => {
        conn.send(message);
      },
    });
    const early = await SeedClient.connect(port);
    const earlyConn = await opened.waitFor((c) => c.remotePort === early.socket.localPort);
    server.setCallbacks({ onSendComplete: (conn) => completions.push(conn.id) });
    const late = await SeedClient.connect(port);
    try {
      assert.deepEqual(await early.request('early'), Buffer.from('early'));
      assert.deepEqual(await late.request('late'), Buffer.from('late'));
      const lateId = await completions.waitFor(() => true);
      // The early connection wrote first; had it a write callback, it would have fired by now.
      assert.deepEqual(completions.events, [lateId]);
      assert.notEqual(lateId, earlyConn.id);
    } finally {
      await early.end();
      await late.end();
      await server.stop();
    }
  });
});

describe('Connection handler errors', { timeout: 10000 }, () => {
  it('an onConnection that throws reports HandlerError and closes that connection', async () => {
    const errors = deferred<Error>();
    const closed = deferred<CloseReason>();
    let first = true;
    const { server, port } = await startServer({
      onConnection: () => {
        if (!first) return;
        first = false;
        throw new Error('refused');
      },
      onMessage: (conn, message) => {
        conn.send(message);
      },
      onError: (_conn, error) => errors.resolve(error),
      onClose: (_conn, reason) => closed.resolve(reason),
    });
    const refused = await SeedClient.connect(port);
    try {
      const error = await errors.promise;
      assert.ok(error instanceof HandlerError);
      assert.equal(error.callback, 'onConnection');
      assert.equal(await closed.promise, 'error');
      await refused.closed;
      const fine = await SeedClient.connect(port);
      assert.deepEqual(await fine.request('ok'), Buffer.from('ok'));
      await fine.end();
    } finally {
      refused.destroy();
      await server.stop();
    }
  });

  it('an onError that throws becomes a process warning, not a crash', async () => {
    const warned = deferred<Error>();
    const listener = (warning: Error): void => {
      if (warning instanceof HandlerError && warning.callback === 'onError') warned.resolve(warning);
    };
    process.on('warning', listener);
    const closed = deferred<CloseReason>();
    const { server, port } = await startServer({
      onMessage: () => {
        throw new Error('first failure');
      },
      onError: () => {
        throw new Error('onError failed too');
      },
      onClose: (_conn, reason) => closed.resolve(reason),
    });
    const client = await SeedClient.connect(port);
    try {
      client.send('anything');
      const warning = await warned.promise;
      assert.match(warning.message, /onError failed too/);
      assert.equal(await closed.promise, 'error');
      await client.closed;
    } finally {
      process.off('warning', listener);
      client.destroy();
      await server.stop();
    }
  });
});
