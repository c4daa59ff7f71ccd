import { InvalidOptionError } from '../core/errors.js';
import { rejectUnknownOptions, requireFunction, requireInteger, requireOptionsObject } from '../core/option-checks.js';
import type { NetServer } from '../server/net-server.js';
import { BrokerHub, type Delivery } from './broker-hub.js';
import { deliverTo } from './deliver.js';
import { parseBrokerUrl, type BrokerTarget } from './broker-url.js';
import type { Bus, BusState, BusStats } from './bus.js';
import { RedisBus } from './redis-bus.js';

/** How instances share broadcasts, topics and direct sends. */
export interface BrokerOptions {
  /**
   * `local` (default): this instance's reactors only, as a ReactorGroup has always relayed.
   * `redis://HOST:PORT[/DB]` (or `rediss://`): every instance on that Redis.
   */
  url?: string;
  /**
   * Bytes of messages that may wait while Redis is unreachable or slower than this instance;
   * past it the oldest waiting message is dropped (and counted). Default 1 MiB.
   */
  outboxBytes?: number;
  /** Milliseconds between round-trip probes through Redis. Default 1000. */
  probeIntervalMs?: number;
  /** The connection to Redis went up, down (with why) or stopped. Default: nothing. */
  onStateChange?: (state: BusState, error?: Error) => void;
}

const BROKER_OPTION_NAMES = Object.keys({ url: true, outboxBytes: true, probeIntervalMs: true, onStateChange: true } satisfies Record<keyof BrokerOptions, true>);

export const DEFAULT_OUTBOX_BYTES = 1024 * 1024;
export const DEFAULT_PROBE_INTERVAL_MS = 1000;

/** A broker setting, checked: where it goes, and its bounds. */
export interface ResolvedBroker {
  target: BrokerTarget;
  outboxBytes: number;
  probeIntervalMs: number;
  onStateChange: ((state: BusState, error?: Error) => void) | undefined;
}

/**
 * Checks a `broker` option: a URL (or `local`), or BrokerOptions.
 * @throws InvalidOptionError naming the bad part (`broker`, `broker.outboxBytes`, ...)
 */
export function resolveBrokerOptions(broker: string | BrokerOptions | undefined): ResolvedBroker {
  const options: BrokerOptions = typeof broker === 'string' || broker === undefined ? { url: broker } : broker;
  if (typeof broker !== 'string' && broker !== undefined) {
    requireOptionsObject('broker', broker);
    rejectUnknownOptions(broker, BROKER_OPTION_NAMES, 'broker.');
  }
  const { url, outboxBytes = DEFAULT_OUTBOX_BYTES, probeIntervalMs = DEFAULT_PROBE_INTERVAL_MS, onStateChange } = options;
  const target = parseBrokerUrl(url, typeof broker === 'string' || broker === undefined ? 'broker' : 'broker.url');
  requireInteger('broker.outboxBytes', outboxBytes, 1024, Number.MAX_SAFE_INTEGER);
  requireInteger('broker.probeIntervalMs', probeIntervalMs, 10, 2 ** 31 - 1);
  if (onStateChange !== undefined) requireFunction('broker.onStateChange', onStateChange);
  return { target, outboxBytes, probeIntervalMs, onStateChange };
}

/** A broker's kind, state and counters, for metrics and health. */
export interface BrokerStatus {
  kind: 'local' | 'redis';
  /** Where it connects (a password hidden); `local` for the local broker. */
  target: string;
  /** The bus's counters; null for the local broker, which has no bus. */
  bus: BusStats | null;
}

/**
 * One instance's broker: the hub that routes between its reactors and, with Redis, the bus to
 * the other instances. A ReactorGroup makes its own from its `broker` option; a NetServer on
 * its own joins one with {@link attachBroker}.
 */
export class Broker {
  readonly hub: BrokerHub;
  private readonly bus: Bus | null;
  private readonly target: BrokerTarget;
  private readonly onStateChange: ResolvedBroker['onStateChange'];
  private started = false;

  /**
   * @param options as resolveBrokerOptions takes them
   * @param instance this instance's id, its reactors, and the largest payload it accepts from others
   * @throws InvalidOptionError for a bad option
   */
  constructor(options: string | BrokerOptions | undefined, instance: { instanceId: string; reactorCount: number; maxMessageBytes: number }) {
    const resolved = resolveBrokerOptions(options);
    this.target = resolved.target;
    this.onStateChange = resolved.onStateChange;
    if (!Number.isInteger(instance.reactorCount) || instance.reactorCount < 1) throw new InvalidOptionError('reactorCount', `must be an integer >= 1, got ${instance.reactorCount}`);
    this.bus =
      this.target.kind === 'local'
        ? null
        : new RedisBus({
            url: this.target.url,
            db: this.target.db,
            instanceId: instance.instanceId,
            maxMessageBytes: instance.maxMessageBytes,
            outboxBytes: resolved.outboxBytes,
            probeIntervalMs: resolved.probeIntervalMs,
          });
    this.hub = new BrokerHub(instance.instanceId, instance.reactorCount, this.bus);
  }

  get kind(): 'local' | 'redis' {
    return this.target.kind;
  }

  /** Starts connecting to the bus (not waiting: an unreachable Redis is retried and reported as `down`). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.bus?.start(this.hub.busHandler((state, error) => this.onStateChange?.(state, error)));
  }

  /** Sends what it can of the outbox, then disconnects. */
  async stop(): Promise<void> {
    await this.bus?.stop();
  }

  status(): BrokerStatus {
    return { kind: this.target.kind, target: this.target.kind === 'local' ? 'local' : this.target.display, bus: this.bus?.stats() ?? null };
  }

  /** Joins a server of this thread as reactor `index`: its messages for others come here, and the others' go to it. */
  attachServer<T>(server: NetServer<T>, index = 0): void {
    const hub = this.hub;
    hub.attach(index, (delivery: Delivery) => deliverTo(server, delivery));
    server.attachBroker({
      broadcast: (payload) => hub.fromReactor(index, { t: 'broadcast', payload }),
      publish: (topic, payload) => hub.fromReactor(index, { t: 'publish', topic, payload }),
      sendTo: (instance, id, payload) => hub.fromReactor(index, { t: 'sendTo', instance, id, payload }),
      subscribe: (topic) => hub.fromReactor(index, { t: 'subscribe', topic }),
      unsubscribe: (topic) => hub.fromReactor(index, { t: 'unsubscribe', topic }),
    });
  }
}

/**
 * Joins one NetServer (on this thread, not in a group) to the instances on `options`' broker,
 * and starts connecting. Stop it after the server: `await server.stop(); await broker.stop()`.
 *
 * ```ts
 * const server = new NetServer({ port: 9000, instanceId: 'east-1', callbacks });
 * const broker = attachBroker(server, { url: 'redis://127.0.0.1:6379' });
 * await server.start();
 * ```
 * @throws InvalidOptionError for a bad option
 */
export function attachBroker<T>(server: NetServer<T>, options: string | BrokerOptions): Broker {
  const broker = new Broker(options, { instanceId: server.instanceId, reactorCount: 1, maxMessageBytes: server.options.maxMessageBytes });
  broker.attachServer(server);
  broker.start();
  return broker;
}
