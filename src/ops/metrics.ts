import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { lazyModule } from '../core/lazy-module.js';
import type { LoopStats } from '../core/loop-stats.js';
import type { RejectReason } from '../callbacks.js';
import type { NetServer } from '../server/net-server.js';
import { HANDSHAKE_SECONDS_BUCKETS } from '../core/tls-stats.js';
import type { HandshakeFailure } from '../transport/transport.js';
import { namedSocketError } from '../transport/socket-error.js';
import { registerPrecountedHistogram } from './histogram-metric.js';
import type { BrokerStatus } from '../broker/broker.js';
import { registerBrokerMetrics } from './broker-metrics.js';

const promClient = lazyModule<typeof import('prom-client')>('prom-client');

/** One reactor's numbers at scrape time. */
export interface ReactorSample {
  reactor: number;
  stats: LoopStats;
  /** Mean event-loop delay of that reactor, in seconds. */
  eventLoopLagSeconds: number;
}

/** Whether the server serves, and each reactor slot. */
export interface HealthReport {
  /** The server is stopping. */
  draining: boolean;
  /** Every reactor slot, serving or not (down, waiting to be replaced, or starting). */
  reactors: { index: number; serving: boolean; restarts: number }[];
  /** With a shared broker: its connection state (`up`, `connecting`, `down`, `stopped`). */
  broker?: string;
}

/** Where the metrics come from: read at scrape time, so serving costs nothing extra. */
export interface MetricsSource {
  sample(): Promise<ReactorSample[]>;
  health(): HealthReport;
  /** Present when the server serves TLS: its material reloads so far. */
  tlsReloads?(): { succeeded: number; failed: number };
  /** Present with a shared broker: its state and counters. */
  broker?(): BrokerStatus;
}

/** Every handshake failure reason, so each series exists (at 0) before the first failure. */
const HANDSHAKE_FAILURE_REASONS: readonly HandshakeFailure['reason'][] = ['plaintext', 'timeout', 'no-shared-cipher', 'bad-certificate', 'closed', 'protocol'];

type CounterKey = 'accepted' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'idleClosed' | 'backpressurePauses' | 'messageRatePauses';

const COUNTERS: [CounterKey, string, string][] = [
  ['accepted', 'reactor_connections_accepted_total', 'Connections accepted'],
  ['messagesIn', 'reactor_messages_received_total', 'Messages received'],
  ['messagesOut', 'reactor_messages_sent_total', 'Messages sent'],
  ['bytesIn', 'reactor_bytes_received_total', 'Bytes received'],
  ['bytesOut', 'reactor_bytes_sent_total', 'Bytes written to sockets'],
  ['idleClosed', 'reactor_idle_closed_total', 'Connections closed by the idle timeout'],
  ['backpressurePauses', 'reactor_backpressure_pauses_total', 'Times reading paused because a peer did not read its replies'],
  ['messageRatePauses', 'reactor_message_rate_pauses_total', 'Times reading paused because a connection reached its messages per second'],
];

/** Every reason, so each series exists (at 0) before the first refusal. */
const REJECT_REASONS: readonly RejectReason[] = ['max-connections', 'fd-limit', 'deny', 'allow', 'per-ip', 'rate', 'proxy-untrusted', 'proxy-invalid'];

/**
 * A Prometheus registry over a MetricsSource: per-reactor connections, counters, errors by
 * code, event-loop lag, plus the process's default Node.js metrics.
 */
export function createRegistry(source: MetricsSource): Registry {
  const { Counter, Gauge, Registry, collectDefaultMetrics } = promClient();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // One sample per scrape, shared by every metric below (the first collect takes it).
  let pending: Promise<ReactorSample[]> | null = null;
  const sample = async (): Promise<ReactorSample[]> => {
    pending ??= source.sample().finally(() => setImmediate(() => (pending = null)));
    return pending;
  };
  new Gauge({
    name: 'reactor_connections',
    help: 'Connections open now',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ reactor: String(s.reactor) }, s.stats.connections);
    },
  });
  new Gauge({
    name: 'reactor_buffered_input_bytes',
    help: 'Bytes set aside now for messages begun and not yet complete (bounded by maxBufferedInput per reactor)',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ reactor: String(s.reactor) }, s.stats.bufferedInput);
    },
  });
  for (const [key, name, help] of COUNTERS) {
    new Counter({
      name,
      help,
      labelNames: ['reactor'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const s of await sample()) this.inc({ reactor: String(s.reactor) }, s.stats[key]);
      },
    });
  }
  new Counter({
    name: 'reactor_connections_rejected_total',
    help: 'Connections refused at accept, by reason: max-connections (the limit), fd-limit (out of file descriptors), deny, allow (address lists), per-ip (open connections per address), rate (new connections per second per address), proxy-untrusted, proxy-invalid (PROXY protocol)',
    labelNames: ['reactor', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) {
        for (const reason of REJECT_REASONS) this.inc({ reactor: String(s.reactor), reason }, s.stats.rejectedByReason[reason] ?? 0);
      }
    },
  });
  new Counter({
    name: 'reactor_errors_total',
    help: 'Connection errors by code (socket, protocol, handler)',
    labelNames: ['reactor', 'code'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) {
        for (const [code, n] of Object.entries(s.stats.errorsByCode)) this.inc({ reactor: String(s.reactor), code }, n);
      }
    },
  });
  new Gauge({
    name: 'reactor_up',
    help: 'Whether each reactor slot serves (1) or is down or starting (0)',
    labelNames: ['reactor'],
    registers: [registry],
    collect() {
      this.reset();
      for (const slot of source.health().reactors) this.set({ reactor: String(slot.index) }, slot.serving ? 1 : 0);
    },
  });
  new Counter({
    name: 'reactor_restarts_total',
    help: 'Times a reactor slot was given a new reactor after its reactor died',
    labelNames: ['reactor'],
    registers: [registry],
    collect() {
      this.reset();
      for (const slot of source.health().reactors) this.inc({ reactor: String(slot.index) }, slot.restarts);
    },
  });
  new Gauge({
    name: 'reactor_event_loop_lag_seconds',
    help: 'Mean event-loop delay of each reactor',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ reactor: String(s.reactor) }, s.eventLoopLagSeconds);
    },
  });
  if (source.tlsReloads !== undefined) registerTlsMetrics(registry, source.tlsReloads, sample);
  if (source.broker !== undefined) registerBrokerMetrics(registry, source.broker);
  return registry;
}

/** The TLS series: handshakes, their failures by reason and durations, TLS connections, reloads. */
function registerTlsMetrics(registry: Registry, reloads: () => { succeeded: number; failed: number }, sample: () => Promise<ReactorSample[]>): void {
  const { Counter, Gauge } = promClient();
  const tlsSamples = async (): Promise<(ReactorSample & { stats: { tls: NonNullable<LoopStats['tls']> } })[]> =>
    (await sample()).filter((s): s is ReactorSample & { stats: { tls: NonNullable<LoopStats['tls']> } } => s.stats.tls !== null);
  new Gauge({
    name: 'reactor_tls_connections',
    help: 'TLS connections open now (handshake done)',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await tlsSamples()) this.set({ reactor: String(s.reactor) }, s.stats.connections);
    },
  });
  new Counter({
    name: 'reactor_tls_handshakes_total',
    help: 'TLS handshakes completed',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await tlsSamples()) this.inc({ reactor: String(s.reactor) }, s.stats.tls.handshakes);
    },
  });
  new Counter({
    name: 'reactor_tls_handshake_failures_total',
    help: 'TLS handshakes that failed, by reason: plaintext, timeout, no-shared-cipher, bad-certificate, closed, protocol',
    labelNames: ['reactor', 'reason'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await tlsSamples()) {
        for (const reason of HANDSHAKE_FAILURE_REASONS) this.inc({ reactor: String(s.reactor), reason }, s.stats.tls.handshakeFailures[reason] ?? 0);
      }
    },
  });
  registerPrecountedHistogram({
    name: 'reactor_tls_handshake_duration_seconds',
    help: 'Time from TCP accept to a completed TLS handshake',
    buckets: HANDSHAKE_SECONDS_BUCKETS,
    registry,
    collect: async () => (await tlsSamples()).map((s) => ({ labels: { reactor: String(s.reactor) }, counts: s.stats.tls.handshakeBuckets, sum: s.stats.tls.handshakeSeconds })),
  });
  new Counter({
    name: 'reactor_tls_reloads_total',
    help: 'TLS material reloads (SIGHUP), by result: ok (new handshakes use it), failed (the old material stays in use)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      this.reset();
      const { succeeded, failed } = reloads();
      this.inc({ result: 'ok' }, succeeded);
      this.inc({ result: 'failed' }, failed);
    },
  });
}

const LAG_SAMPLE_MS = 100;

/**
 * Measures this thread's event-loop delay: a timer due every 100 ms records how late it fires.
 * `mean()` returns the average lateness in seconds since the previous call.
 */
export function eventLoopLagMeter(): { mean(): number; stop(): void } {
  let total = 0;
  let samples = 0;
  let expected = performance.now() + LAG_SAMPLE_MS;
  const timer = setInterval(() => {
    const now = performance.now();
    total += Math.max(0, now - expected);
    samples++;
    expected = now + LAG_SAMPLE_MS;
  }, LAG_SAMPLE_MS);
  // A meter never keeps a stopped server alive.
  timer.unref();
  return {
    mean() {
      const seconds = samples === 0 ? 0 : total / samples / 1000;
      total = 0;
      samples = 0;
      return seconds;
    },
    stop: () => clearInterval(timer),
  };
}

/** The MetricsSource of one server on this thread, as `start` builds it for one reactor. */
export function serverMetricsSource(server: NetServer<unknown>, lag: { mean(): number }): MetricsSource {
  return {
    sample: async () => [{ reactor: 0, stats: server.stats, eventLoopLagSeconds: lag.mean() }],
    health: () => ({ draining: !server.isRunning, reactors: [{ index: 0, serving: server.isRunning, restarts: 0 }] }),
  };
}

/**
 * What /health answers: 200 `ok` when every reactor serves; 200 `degraded` (naming the reactors
 * down, and a shared broker that is not up) while some serve, so a load balancer keeps sending
 * what they can take; 503 `down` when none serves, 503 `draining` while stopping.
 */
export function healthAnswer(report: HealthReport): { status: number; body: string } {
  if (report.draining) return { status: 503, body: 'draining\n' };
  const down = report.reactors.filter((slot) => !slot.serving).map((slot) => slot.index);
  if (down.length > 0 && down.length === report.reactors.length) return { status: 503, body: `down: no reactor serving (reactors ${down.join(', ')} down)\n` };
  // Local delivery goes on without the broker: this instance still serves its own clients.
  const problems = [
    ...(down.length === 0 ? [] : [`reactor${down.length > 1 ? 's' : ''} ${down.join(', ')} down`]),
    ...(report.broker === undefined || report.broker === 'up' ? [] : [`broker ${report.broker}`]),
  ];
  if (problems.length === 0) return { status: 200, body: 'ok\n' };
  return { status: 200, body: `degraded: ${problems.join(', ')}\n` };
}

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serves `/metrics` (Prometheus text) and `/health` (200 serving, 503 draining). */
export async function startMetricsServer(source: MetricsSource, port: number, host: string): Promise<MetricsServer> {
  const registry = createRegistry(source);
  // node:http is loaded here, not at import: a server without metrics never needs it.
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    // The path alone: scrapers may add a query string.
    const path = (req.url ?? '').split('?', 1)[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics failed: ${String(err)}\n`);
        },
      );
    } else if (path === '/health') {
      const { status, body } = healthAnswer(source.health());
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /health\n');
    }
  });
  server.listen(port, host);
  try {
    await once(server, 'listening');
  } catch (err) {
    throw namedSocketError(err, 'listen', host, port);
  }
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
