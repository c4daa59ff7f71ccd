import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { lazyModule } from '../core/lazy-module.js';
import type { LoopStats } from '../core/loop-stats.js';

const promClient = lazyModule<typeof import('prom-client')>('prom-client');

/** One reactor's numbers at scrape time. */
export interface ReactorSample {
  reactor: number;
  stats: LoopStats;
  /** Mean event-loop delay of that reactor, in seconds. */
  eventLoopLagSeconds: number;
}

/** Where the metrics come from: read at scrape time, so serving costs nothing extra. */
export interface MetricsSource {
  sample(): Promise<ReactorSample[]>;
  /** False while the server drains or stops: /health answers 503. */
  serving(): boolean;
}

type CounterKey = 'accepted' | 'rejected' | 'messagesIn' | 'messagesOut' | 'bytesIn' | 'bytesOut' | 'idleClosed' | 'backpressurePauses';

const COUNTERS: [CounterKey, string, string][] = [
  ['accepted', 'reactor_connections_accepted_total', 'Connections accepted'],
  ['rejected', 'reactor_connections_rejected_total', 'Connections refused at accept (maxConnections)'],
  ['messagesIn', 'reactor_messages_received_total', 'Messages received'],
  ['messagesOut', 'reactor_messages_sent_total', 'Messages sent'],
  ['bytesIn', 'reactor_bytes_received_total', 'Bytes received'],
  ['bytesOut', 'reactor_bytes_sent_total', 'Bytes written to sockets'],
  ['idleClosed', 'reactor_idle_closed_total', 'Connections closed by the idle timeout'],
  ['backpressurePauses', 'reactor_backpressure_pauses_total', 'Times reading paused because a peer did not read its replies'],
];

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
    name: 'reactor_event_loop_lag_seconds',
    help: 'Mean event-loop delay of each reactor',
    labelNames: ['reactor'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await sample()) this.set({ reactor: String(s.reactor) }, s.eventLoopLagSeconds);
    },
  });
  return registry;
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
      const ok = source.serving();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'draining\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics or /health\n');
    }
  });
  server.listen(port, host);
  await once(server, 'listening');
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
