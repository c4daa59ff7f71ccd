import type { Registry } from 'prom-client';
import { lazyModule } from '../core/lazy-module.js';
import type { BrokerStatus } from '../broker/broker.js';
import { DROP_REASONS, MESSAGE_CLASSES, ROUND_TRIP_SECONDS_BUCKETS } from '../broker/bus.js';
import { registerPrecountedHistogram } from './histogram-metric.js';

const promClient = lazyModule<typeof import('prom-client')>('prom-client');

/**
 * The broker's series, read from its counters at scrape time: whether this instance reaches
 * the bus, messages published, received and dropped by class (and reason), the outbox, and the
 * round trip through the bus. Only for a shared broker: the local one has no bus to watch.
 */
export function registerBrokerMetrics(registry: Registry, status: () => BrokerStatus): void {
  const { Counter, Gauge } = promClient();
  const bus = () => status().bus;
  new Gauge({
    name: 'reactor_broker_connected',
    help: 'Whether this instance is connected to the broker and subscribed (1) or not (0: connecting, or down and retrying)',
    registers: [registry],
    collect() {
      this.set(bus()?.state === 'up' ? 1 : 0);
    },
  });
  new Counter({
    name: 'reactor_broker_connects_total',
    help: 'Times the connection to the broker came up (the first included): more than 1 means it was lost and restored',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(bus()?.connects ?? 0);
    },
  });
  for (const [key, name, help] of [
    ['published', 'reactor_broker_published_total', 'Messages this instance sent to the other instances through the broker, acknowledged, by class: broadcast, topic, direct'],
    ['received', 'reactor_broker_received_total', 'Messages from other instances delivered to this one, by class'],
  ] as const) {
    new Counter({
      name,
      help,
      labelNames: ['class'],
      registers: [registry],
      collect() {
        this.reset();
        const stats = bus();
        if (stats !== null) for (const cls of MESSAGE_CLASSES) this.inc({ class: cls }, stats[key][cls]);
      },
    });
  }
  new Counter({
    name: 'reactor_broker_dropped_total',
    help: 'Messages between instances dropped, by class and reason: outbox-full (the broker was unreachable or backed up), failed (the connection broke while it was sent), too-large (over maxMessageBytes)',
    labelNames: ['class', 'reason'],
    registers: [registry],
    collect() {
      this.reset();
      const stats = bus();
      if (stats !== null) for (const cls of MESSAGE_CLASSES) for (const reason of DROP_REASONS) this.inc({ class: cls, reason }, stats.dropped[cls][reason]);
    },
  });
  new Gauge({
    name: 'reactor_broker_outbox_bytes',
    help: 'Bytes of messages waiting for the broker (bounded by --broker-outbox)',
    registers: [registry],
    collect() {
      this.set(bus()?.outboxBytes ?? 0);
    },
  });
  registerPrecountedHistogram({
    name: 'reactor_broker_round_trip_seconds',
    help: 'Time for a probe published by this instance to come back to it through the broker',
    buckets: ROUND_TRIP_SECONDS_BUCKETS,
    registry,
    collect: async () => {
      const stats = bus();
      return stats === null ? [] : [{ labels: {}, counts: stats.roundTripBuckets, sum: stats.roundTripSeconds }];
    },
  });
}
