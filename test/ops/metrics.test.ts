/**
 * Prometheus metrics and /health: scraped over real HTTP from the CLI (`--metrics-port 0`, the
 * address read from its "metrics listening" log line), with one reactor and with two, and
 * in-process for what the CLI cannot provoke on demand (a protocol error, a drain in progress).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  NetServer,
  REPLY_PREFIX,
  ReactorServer,
  connect,
  eventLoopLagMeter,
  serverMetricsSource,
  startMetricsServer,
  supportsReusePort,
  type Client,
  type MetricsServer,
} from '../../src/index.js';
import { runCli, withCli, type CliServer } from '../helpers/cli-process.js';
import { httpGet, metric, parseMetrics, scrape, series, total, type Sample } from '../helpers/metrics.js';
import { waitUntil, within } from '../helpers/wait.js';

const PREFIX_BYTES = Buffer.byteLength(REPLY_PREFIX);

/** The /metrics URL the CLI logged. */
async function metricsUrl(server: CliServer): Promise<string> {
  const entry = await server.waitForLog((e) => e.msg === 'metrics listening' && typeof e.metrics === 'string');
  const url = entry.metrics as string;
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  return url;
}

/** Connects `count` seed clients and has each do one request, so the server has surely registered them all. */
async function connectedClients(port: number, count: number): Promise<Client[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => connect({ port })));
  const replies = await Promise.all(clients.map((client, i) => client.request(`hello from ${i}`, 5000)));
  replies.forEach((reply, i) => assert.equal(reply.toString(), `${REPLY_PREFIX}hello from ${i}`));
  return clients;
}

async function closeClients(clients: readonly Client[]): Promise<void> {
  await Promise.all(clients.map((client) => client.close()));
}

function value(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  const v = metric(samples, name, labels);
  assert.ok(v !== undefined, `no sample ${name}${JSON.stringify(labels)}`);
  return v;
}

describe('ops: metrics', () => {
  it('one reactor: connections gauge, message/byte counters and /health over real HTTP', { timeout: 30_000 }, async () => {
    await withCli(['--metrics-port', '0'], async (server) => {
      let clients: Client[] = [];
      try {
        const url = await metricsUrl(server);
        const health = await httpGet(url.replace(/\/metrics$/, '/health'));
        assert.equal(health.status, 200);
        assert.equal(health.body, 'ok\n');
        assert.equal((await httpGet(url.replace(/\/metrics$/, '/nope'))).status, 404);

        clients = await connectedClients(server.port, 7);
        const before = await scrape(url);
        const r0 = { reactor: '0' };
        assert.equal(value(before, 'reactor_connections', r0), 7);
        assert.equal(value(before, 'reactor_connections_accepted_total', r0), 7);
        assert.equal(value(before, 'reactor_messages_received_total', r0), 7);
        assert.equal(value(before, 'reactor_messages_sent_total', r0), 7);
        assert.equal(value(before, 'reactor_connections_rejected_total', { ...r0, reason: 'max-connections' }), 0);
        assert.equal(value(before, 'reactor_connections_rejected_total', { ...r0, reason: 'fd-limit' }), 0);
        assert.ok(value(before, 'reactor_event_loop_lag_seconds', r0) >= 0);
        // Only one reactor reports.
        assert.deepEqual(series(before, 'reactor_connections').map((s) => s.labels.reactor), ['0']);
        // The process's default metrics come along.
        assert.ok(series(before, 'process_cpu_user_seconds_total').length === 1);

        // Three sequential requests per client: each read is one seed message, so the counts are exact.
        let bytesIn = 0;
        let bytesOut = 0;
        for (const [i, client] of clients.entries()) {
          for (let round = 0; round < 3; round++) {
            const message = `client ${i} round ${round}${'!'.repeat(i)}`;
            assert.equal((await client.request(message, 5000)).toString(), `${REPLY_PREFIX}${message}`);
            bytesIn += Buffer.byteLength(message);
            bytesOut += 4 + PREFIX_BYTES + Buffer.byteLength(message);
          }
        }
        const after = await scrape(url);
        const delta = (name: string): number => value(after, name, r0) - value(before, name, r0);
        assert.equal(delta('reactor_messages_received_total'), 21);
        assert.equal(delta('reactor_messages_sent_total'), 21);
        assert.equal(delta('reactor_bytes_received_total'), bytesIn);
        assert.equal(delta('reactor_bytes_sent_total'), bytesOut);
        assert.equal(value(after, 'reactor_connections', r0), 7);
        assert.equal(delta('reactor_connections_accepted_total'), 0);

        await closeClients(clients);
        clients = [];
        // The server's side of each close lands in another process: poll the gauge, bounded.
        await waitUntil(async () => metric(await scrape(url), 'reactor_connections', r0) === 0, 'reactor_connections to drop to 0', 5000, 25);
      } finally {
        for (const client of clients) client.destroy();
      }
    });
  });

  it(`--workers 2 (${supportsReusePort() ? 'threads' : 'processes'}): per-reactor series for reactors 0 and 1 summing to the clients`, { timeout: 40_000 }, async () => {
    await withCli(['--workers', '2', '--metrics-port', '0'], async (server) => {
      let clients: Client[] = [];
      try {
        const url = await metricsUrl(server);
        clients = await connectedClients(server.port, 6);
        const samples = await scrape(url);
        for (const name of ['reactor_connections', 'reactor_connections_accepted_total', 'reactor_messages_received_total', 'reactor_event_loop_lag_seconds', 'reactor_buffered_input_bytes']) {
          assert.deepEqual(
            series(samples, name)
              .map((s) => s.labels.reactor)
              .sort(),
            ['0', '1'],
            `${name} series`,
          );
        }
        assert.equal(total(samples, 'reactor_connections'), 6);
        assert.equal(total(samples, 'reactor_connections_accepted_total'), 6);
        assert.equal(total(samples, 'reactor_messages_received_total'), 6);
        assert.equal(total(samples, 'reactor_messages_sent_total'), 6);
        // The seed codec holds nothing back between reads.
        assert.equal(total(samples, 'reactor_buffered_input_bytes'), 0);
        assert.equal((await httpGet(url.replace(/\/metrics$/, '/health'))).status, 200);

        // Two more connections: the sum follows.
        const more = await connectedClients(server.port, 2);
        clients.push(...more);
        assert.equal(total(await scrape(url), 'reactor_connections'), 8);
      } finally {
        await closeClients(clients).catch(() => undefined);
        for (const client of clients) client.destroy();
      }
    }, { readyTimeoutMs: 20_000 });
  });

  it('--metrics-host ::1: the logged URL puts the IPv6 address in brackets, parses, and serves /metrics', { timeout: 20_000 }, async () => {
    await withCli(['--metrics-port', '0', '--metrics-host', '::1'], async (server) => {
      const entry = await server.waitForLog((e) => e.msg === 'metrics listening' && typeof e.metrics === 'string');
      const logged = entry.metrics as string;
      const url = new URL(logged);
      assert.equal(url.hostname, '[::1]');
      assert.equal(url.pathname, '/metrics');
      const samples = await scrape(url.href);
      assert.equal(value(samples, 'reactor_connections', { reactor: '0' }), 0);
    });
  });

  it('/metrics and /health route on the path alone: a query string is served, other paths stay 404', { timeout: 20_000 }, async () => {
    await withCli(['--metrics-port', '0'], async (server) => {
      const url = await metricsUrl(server);
      const withQuery = await httpGet(`${url}?x=1`);
      assert.equal(withQuery.status, 200, withQuery.body);
      assert.equal(value(parseMetrics(withQuery.body), 'reactor_connections', { reactor: '0' }), 0);
      assert.deepEqual(await httpGet(url.replace(/\/metrics$/, '/health?probe=1&x')), { status: 200, body: 'ok\n' });
      assert.equal((await httpGet(url.replace(/\/metrics$/, '/metrics/x?y=1'))).status, 404);
      assert.equal((await httpGet(url.replace(/\/metrics$/, '/nope?metrics'))).status, 404);
      assert.equal((await httpGet(url.replace(/\/metrics$/, '/?/metrics'))).status, 404);
    });
  });

  it('a --metrics-port already in use exits 1 with a one-line message, not a stack trace', { timeout: 15_000 }, async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as net.AddressInfo;
    try {
      const result = await runCli(['start', '--port', '0', '--metrics-port', String(port)], { timeoutMs: 10_000 });
      assert.equal(result.code, 1, `exit ${result.code} ${result.signal}`);
      assert.match(result.stderr, new RegExp(`^reactor-server: .*127\\.0\\.0\\.1:${port}.*EADDRINUSE`, 'm'));
      // Like the TCP port in use (test/basic/cli.test.ts): a message for the operator, no stack.
      assert.doesNotMatch(result.stderr, /\n\s+at /, `stderr has a stack trace:\n${result.stderr}`);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('in-process: an oversized length header counts as reactor_errors_total{code="ERR_FRAME_TOO_LARGE"} 1', { timeout: 15_000 }, async () => {
    const app = new ReactorServer({ host: '127.0.0.1', port: 0, codec: 'length', maxMessageBytes: 1024 });
    const lag = eventLoopLagMeter();
    let metrics: MetricsServer | null = null;
    try {
      const { port } = await app.start();
      metrics = await startMetricsServer(serverMetricsSource(app.server, lag), 0, '127.0.0.1');
      const url = `http://127.0.0.1:${metrics.address.port}/metrics`;

      // A good frame first: no error.
      const good = await connect({ port, codec: 'length' });
      assert.equal((await good.request('fine', 5000)).toString(), `${REPLY_PREFIX}fine`);
      await good.close();
      const clean = await scrape(url);
      assert.equal(series(clean, 'reactor_errors_total').length, 0);

      // Then a header announcing 1 MB to a server that takes 1 KB: the connection is failed.
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      const header = Buffer.alloc(4);
      header.writeUInt32LE(1_000_000);
      const closed = once(socket, 'close');
      socket.write(header);
      await within(closed, 5000, 'the server closing the connection');

      const samples = await scrape(url);
      assert.equal(value(samples, 'reactor_errors_total', { reactor: '0', code: 'ERR_FRAME_TOO_LARGE' }), 1);
      assert.equal(series(samples, 'reactor_errors_total').length, 1, 'no other error code counted');
      assert.equal(value(samples, 'reactor_connections_accepted_total', { reactor: '0' }), 2);
    } finally {
      await metrics?.close();
      await app.stop({ drainTimeout: 0 });
      lag.stop();
    }
  });

  it('in-process: /health answers 200 while serving and 503 while draining', { timeout: 15_000 }, async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const messageArrived = new Promise<void>((resolve) => (arrived = resolve));
    const server = new NetServer({
      host: '127.0.0.1',
      port: 0,
      codec: 'length',
      callbacks: {
        // An async handler still at work: the connection is not quiescent, so the drain waits for it.
        onMessage: async (conn, message) => {
          arrived();
          await held;
          conn.send(Buffer.concat([Buffer.from('done: '), message]));
        },
      },
    });
    const lag = eventLoopLagMeter();
    let metrics: MetricsServer | null = null;
    let client: Client | null = null;
    try {
      const { port } = await server.start();
      metrics = await startMetricsServer(serverMetricsSource(server, lag), 0, '127.0.0.1');
      const health = `http://127.0.0.1:${metrics.address.port}/health`;
      assert.deepEqual(await httpGet(health), { status: 200, body: 'ok\n' });

      client = await connect({ port, codec: 'length' });
      const reply = client.request('slow', 10_000);
      await within(messageArrived, 5000, 'the message reaching the handler');
      const stopped = server.stop({ drainTimeout: 5 });
      let stopDone = false;
      void stopped.then(() => (stopDone = true));

      assert.deepEqual(await httpGet(health), { status: 503, body: 'draining\n' });
      assert.equal(stopDone, false, 'stop() resolved while a handler was still at work');
      // Scrapes still work while draining, and still see the connection.
      assert.equal(value(await scrape(`http://127.0.0.1:${metrics.address.port}/metrics`), 'reactor_connections', { reactor: '0' }), 1);

      release();
      // The drain lets the handler finish: its reply arrives, then the connection is closed.
      assert.equal((await reply).toString(), 'done: slow');
      await within(stopped, 4000, 'stop() after the handler finished');
      assert.equal(server.state, 'stopped');
      assert.equal((await httpGet(health)).status, 503);
    } finally {
      release();
      client?.destroy();
      await metrics?.close();
      await server.stop({ drainTimeout: 0 });
      lag.stop();
    }
  });
});
