import type { AddressInfo } from 'node:net';
import type { MetricsSource } from '../ops/metrics.js';
import { formatHostPort } from '../core/host-port.js';
import type { ReactorSummary, StatusReport } from './control-protocol.js';
import { PACKAGE_VERSION } from './package-version.js';

/** One reactor slot as `start` knows it: 'inline' for the one reactor on this process's own loop. */
export interface ReactorIdentity {
  index: number;
  kind: string;
  id: number;
}

/** What a running `start` has to answer `status` with. */
export interface StatusSource {
  address: AddressInfo;
  metrics: MetricsSource;
  reactors(): ReactorIdentity[];
}

/**
 * The answer to `status`, read now: the metrics source's health (serving, draining) and
 * sample (connections, per reactor). A reactor that does not answer its sample in time (down,
 * or being replaced) shows 0 connections.
 */
export async function statusReport(source: StatusSource, options: { drainTimeoutSeconds: number; stopping: boolean }): Promise<StatusReport> {
  const health = source.metrics.health();
  const samples = await source.metrics.sample();
  const reactors: ReactorSummary[] = source.reactors().map(({ index, kind, id }) => ({
    index,
    kind,
    id,
    serving: health.reactors.find((slot) => slot.index === index)?.serving ?? false,
    connections: samples.find((sample) => sample.reactor === index)?.stats.connections ?? 0,
  }));
  return {
    pid: process.pid,
    version: PACKAGE_VERSION,
    uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
    address: formatHostPort(source.address.address, source.address.port),
    draining: options.stopping || health.draining,
    connections: reactors.reduce((sum, reactor) => sum + reactor.connections, 0),
    drainTimeoutSeconds: options.drainTimeoutSeconds,
    reactors,
  };
}
