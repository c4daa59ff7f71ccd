import type { Logger } from 'pino';
import { formatHostPort } from '../core/host-port.js';
import { startMetricsServer, type MetricsServer, type MetricsSource } from '../ops/metrics.js';

/**
 * The CLI's metrics endpoint, which a reload may move to another port or host (or turn on or
 * off): the new one listens before the old one closes, so a scraper always finds one.
 */
export class MetricsEndpoint {
  private server: MetricsServer | null = null;

  constructor(
    private readonly source: MetricsSource,
    private readonly logger: Logger,
  ) {}

  /** Serves at `port` on `host` (nowhere when `port` is undefined). @throws when it cannot listen there (the old one stays) */
  async move(port: number | undefined, host: string): Promise<void> {
    const next = port === undefined ? null : await startMetricsServer(this.source, port, host);
    const previous = this.server;
    this.server = next;
    await previous?.close();
    if (next !== null) this.logger.info({ metrics: `http://${formatHostPort(next.address.address, next.address.port)}/metrics` }, 'metrics listening');
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    await server?.close();
  }
}
