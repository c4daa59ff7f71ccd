import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker, threadId } from 'node:worker_threads';
import { RemoteDispatcher, type CloseReason, type Connection, type NetServer } from '../../src/index.js';
import { SeedClient } from '../helpers/seed-client.js';
import { deferred, EventLog } from '../helpers/wait.js';
import { startServer } from './support.js';
import type { WorkerCommand, WorkerEvent } from './fixtures/remote-worker.js';

type ServerEvent =
  | { kind: 'open'; conn: Connection }
  | { kind: 'close'; id: number; reason: CloseReason }
  | { kind: 'topic'; topic: string; data: unknown; threadId: number };

describe('RemoteDispatcher across threads', { timeout: 10000 }, () => {
  const log = new EventLog<ServerEvent>();
  const fromWorker = new EventLog<WorkerEvent>();
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => {
    warnings.push(warning);
  };
  let server: NetServer;
  let port = 0;
  let worker: Worker;
  let workerExit: Promise<unknown[]>;

  function run(...batch: WorkerCommand[]): void {
    worker.postMessage(batch);
  }

  async function connect(): Promise<{ client: SeedClient; id: number }> {
    const client = await SeedClient.connect(port);
    const opened = await log.waitFor(
      (e): e is Extract<ServerEvent, { kind: 'open' }> => e.kind === 'open' && e.conn.remotePort === client.socket.localPort,
    );
    return { client, id: opened.conn.id };
  }

  /** The first event of `topic` (carrying `data`, when given), logged already or to come. */
  function topicEvent(topic: string, data?: unknown): Promise<Extract<ServerEvent, { kind: 'topic' }>> {
    return log.waitFor(
      (e): e is Extract<ServerEvent, { kind: 'topic' }> => e.kind === 'topic' && e.topic === topic && (data === undefined || e.data === data),
    );
  }

  before(async () => {
    process.on('warning', onWarning);
    ({ server, port } = await startServer({
      onConnection: (conn) => log.push({ kind: 'open', conn }),
      onMessage: (conn, message) => {
        conn.send(message);
      },
      onClose: (conn, reason) => log.push({ kind: 'close', id: conn.id, reason }),
    }));
    for (const topic of ['greet', 'marker']) {
      server.dispatcher.handle(topic, (data) => log.push({ kind: 'topic', topic, data, threadId }));
    }
    const dispatcherPort = server.dispatcher.createPort();
    worker = new Worker(new URL('./fixtures/remote-worker.js', import.meta.url), {
      workerData: { port: dispatcherPort },
      transferList: [dispatcherPort],
    });
    workerExit = once(worker, 'exit');
    worker.on('message', (event: WorkerEvent) => fromWorker.push(event));
    await once(worker, 'online');
  });

  after(async () => {
    process.off('warning', onWarning);
    await server.stop();
    run({ op: 'exit' });
    await workerExit;
  });

  it('delivers sends from the worker to the client as frames, in call order', async () => {
    const { client, id } = await connect();
    try {
      run(
        { op: 'send', connectionId: id, payload: 'hello from a worker' },
        { op: 'send', connectionId: id, payload: new Uint8Array([0, 1, 0xff]) },
        { op: 'send', connectionId: id, payload: ['[part 1]', new Uint8Array([0x2b]), '[part 2 ✓]'] },
        ...Array.from({ length: 50 }, (_, i): WorkerCommand => ({ op: 'send', connectionId: id, payload: `#${i}` })),
      );
      assert.deepEqual(await client.readFrame(), Buffer.from('hello from a worker'));
      assert.deepEqual(await client.readFrame(), Buffer.from([0, 1, 0xff]));
      assert.deepEqual(await client.readFrame(), Buffer.from('[part 1]+[part 2 ✓]'));
      for (let i = 0; i < 50; i++) assert.equal((await client.readFrame()).toString(), `#${i}`);
      // The connection still serves its own traffic.
      assert.deepEqual(await client.request('echo'), Buffer.from('echo'));
    } finally {
      await client.end();
    }
  });

  it('runs a posted topic handler on the main thread with the (cloned) data', async () => {
    const data = { n: 42, list: ['a', 'b'], nested: { ok: true }, bytes: new Uint8Array([9, 8, 7]) };
    const seen = topicEvent('greet');
    run({ op: 'post', topic: 'greet', data });
    const event = await seen;
    assert.equal(event.threadId, 0);
    assert.deepEqual(event.data, data);
  });

  it('can transfer the payload memory instead of copying it', async () => {
    const { client, id } = await connect();
    try {
      const transferred = fromWorker.waitFor((e) => e.event === 'transferred');
      run({ op: 'send-transfer', connectionId: id, text: 'moved, not copied' });
      assert.deepEqual(await transferred, { event: 'transferred', byteLengthAfter: 0 });
      assert.deepEqual(await client.readFrame(), Buffer.from('moved, not copied'));
    } finally {
      await client.end();
    }
  });

  it('closeConnection flushes what the worker sent first, then closes', async () => {
    const { client, id } = await connect();
    run({ op: 'send', connectionId: id, payload: 'last words' }, { op: 'close', connectionId: id });
    assert.deepEqual(await client.readFrame(), Buffer.from('last words'));
    assert.equal(await client.closed, false);
    const closed = await log.waitFor((e): e is Extract<ServerEvent, { kind: 'close' }> => e.kind === 'close' && e.id === id);
    assert.equal(closed.reason, 'closed');
  });

  it('drops sends and closes for unknown or closed connection ids without throwing', async () => {
    const { client, id } = await connect();
    await client.end();
    await log.waitFor((e) => e.kind === 'close' && e.id === id);
    const warningsBefore = warnings.length;
    const marker = topicEvent('marker');
    run(
      { op: 'send', connectionId: id, payload: 'to a closed connection' },
      { op: 'close', connectionId: id },
      { op: 'send', connectionId: 999_999, payload: 'to nobody' },
      { op: 'close', connectionId: 999_999 },
      // The port is FIFO: once the marker is handled, everything above has been applied.
      { op: 'post', topic: 'marker', data: 'done' },
    );
    assert.equal((await marker).data, 'done');
    assert.deepEqual(warnings.slice(warningsBefore), []);
    assert.equal(server.isRunning, true);
    const other = await connect();
    assert.deepEqual(await other.client.request('alive'), Buffer.from('alive'));
    await other.client.end();
  });

  it('reports a post to a topic without a handler as a warning and keeps going', async () => {
    const warned = deferred<Error>();
    const listener = (warning: Error): void => {
      if (warning.message.includes('no handler for topic "nobody-listens"')) warned.resolve(warning);
    };
    process.on('warning', listener);
    try {
      // The post after the bad one, not an earlier greeting already in the log.
      const marker = topicEvent('greet', 'after the bad one');
      run({ op: 'post', topic: 'nobody-listens', data: 1 }, { op: 'post', topic: 'greet', data: 'after the bad one' });
      await warned.promise;
      assert.equal((await marker).data, 'after the bad one');
    } finally {
      process.off('warning', listener);
    }
  });

  it('closes the cross-thread port when the server stops', async () => {
    const closed = fromWorker.waitFor((e) => e.event === 'port-closed');
    await server.stop();
    await closed;
  });
});

describe('RemoteDispatcher on the same thread', { timeout: 10000 }, () => {
  it('queues its calls on the dispatcher loop, asynchronously', async () => {
    const { server } = await startServer({});
    const remote = new RemoteDispatcher(server.dispatcher.createPort());
    const received = deferred<unknown>();
    let handled = false;
    server.dispatcher.handle('local', (data) => {
      handled = true;
      received.resolve(data);
    });
    remote.post('local', [1, 2, 3]);
    assert.equal(handled, false);
    assert.deepEqual(await received.promise, [1, 2, 3]);
    remote.close();
    await server.stop();
  });
});
