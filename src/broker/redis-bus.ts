import { performance } from 'node:perf_hooks';
import type { Redis as RedisClient, RedisOptions } from 'ioredis';
import { lazyModule } from '../core/lazy-module.js';
import type { WirePayload } from '../server/broker-link.js';
import { emptyBusStats, recordRoundTrip, type Bus, type BusHandler, type BusState, type BusStats, type MessageClass } from './bus.js';
import { Envelope, KIND_BROADCAST, KIND_DIRECT, KIND_PROBE, KIND_TOPIC } from './envelope.js';
import { Outbox, type Waiting } from './outbox.js';

/**
 * ioredis loads with the first Redis broker, never for the local one: what a process loads
 * before it serves sizes its young generation, and with it every GC pause (docs/architecture.md).
 */
const ioredis = lazyModule<typeof import('ioredis')>('ioredis');

export interface RedisBusOptions {
  /** `redis://HOST:PORT[/DB]` (or `rediss://`), as parseBrokerUrl accepted it. */
  url: string;
  /** The URL's database number: the channels' namespace (pub/sub ignores databases). */
  db: number;
  instanceId: string;
  /** Larger payloads from other instances are dropped (`too-large`). */
  maxMessageBytes: number;
  /** What may wait for Redis, in bytes; past it the oldest waiting message is dropped. */
  outboxBytes: number;
  /** Milliseconds between round-trip probes. */
  probeIntervalMs: number;
}

/** Waits between reconnection attempts: 100 ms more each time, at most a second. */
function retryDelay(attempt: number): number {
  return Math.min(100 * attempt, 1000);
}

/** How long a stop waits for Redis to take what was sent before it cuts the connection. */
const QUIT_TIMEOUT_MS = 1000;

/**
 * The bus on a real Redis, with its pub/sub: every instance subscribes to the broadcast
 * channel and to its own direct channel, and to a topic's channel while it has members of it;
 * it publishes to the channel of what it sends. Two connections: one publishes (a subscribed
 * connection can do nothing else), one subscribes.
 *
 * At most once: nothing is sent twice (ioredis's resend of unanswered commands after a
 * reconnect is off). While Redis is unreachable, or slower than this instance, messages wait in
 * a bounded outbox and go out in order when it is back; past the bound the oldest are dropped
 * and counted. Subscriptions are made again on every reconnection. A probe published to this
 * instance every `probeIntervalMs` measures the round trip through Redis.
 */
export class RedisBus implements Bus {
  readonly kind = 'redis';
  private pub: RedisClient | null = null;
  private sub: RedisClient | null = null;
  private handler: BusHandler | null = null;
  private readonly envelope: Envelope;
  private readonly prefix: string;
  private readonly broadcastChannel: string;
  private readonly directChannel: string;
  private readonly topicPrefix: string;
  private readonly topicPrefixBytes: number;
  /** Every channel this instance wants to hear: made again on each reconnection. */
  private readonly channels = new Set<string>();
  /** The subscriber connection has subscribed to `channels` since it last connected. */
  private subscribed = false;
  private readonly outbox: Outbox;
  private readonly counters: BusStats;
  private probeTimer: NodeJS.Timeout | null = null;
  private lastError: Error | undefined;
  private stopped = false;
  /** Acknowledgements of a publish, one per class (no closure per message). */
  private readonly acks: Record<MessageClass, (error?: Error | null) => void>;

  constructor(private readonly options: RedisBusOptions) {
    this.envelope = new Envelope(options.instanceId);
    this.prefix = `reactor:${options.db}:`;
    this.broadcastChannel = `${this.prefix}broadcast`;
    this.directChannel = this.directChannelOf(options.instanceId);
    this.topicPrefix = `${this.prefix}topic:`;
    this.topicPrefixBytes = Buffer.byteLength(this.topicPrefix);
    this.channels.add(this.broadcastChannel).add(this.directChannel);
    this.outbox = new Outbox(options.outboxBytes);
    this.counters = emptyBusStats(options.outboxBytes);
    const ack = (cls: MessageClass) => (error?: Error | null) => {
      if (error) this.counters.dropped[cls].failed++;
      else this.counters.published[cls]++;
    };
    this.acks = { broadcast: ack('broadcast'), topic: ack('topic'), direct: ack('direct') };
  }

  start(handler: BusHandler): void {
    this.handler = handler;
    const { Redis } = ioredis();
    const options: RedisOptions = {
      lazyConnect: true,
      // Our own bounded outbox instead of ioredis's unbounded queue, and never a second send.
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      // Subscriptions are made again by us, once per reconnection, from `channels`.
      autoResubscribe: false,
      retryStrategy: retryDelay,
      connectTimeout: 2000,
    };
    const pub = new Redis(this.options.url, { ...options, connectionName: `reactor-${this.options.instanceId}-pub` });
    const sub = new Redis(this.options.url, { ...options, connectionName: `reactor-${this.options.instanceId}-sub` });
    this.pub = pub;
    this.sub = sub;
    pub.on('ready', () => {
      // A backed-up socket says so: the outbox goes out as it drains.
      pub.stream.on('drain', () => this.flush());
      this.update();
    });
    sub.on('ready', () => this.resubscribe(sub));
    for (const client of [pub, sub]) {
      client.on('error', (error: Error) => {
        this.lastError = error;
        this.update(true);
      });
      client.on('close', () => {
        if (client === sub) this.subscribed = false;
        this.update(true);
      });
    }
    sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    // A failed first attempt is retried like any lost connection: the error is reported by update().
    pub.connect().catch(() => undefined);
    sub.connect().catch(() => undefined);
    this.probeTimer = setInterval(() => this.sendProbe(), this.options.probeIntervalMs);
    this.probeTimer.unref();
  }

  publishBroadcast(payload: WirePayload): void {
    this.send('broadcast', this.broadcastChannel, this.envelope.seal(KIND_BROADCAST, payload));
  }

  publishTopic(topic: string, payload: WirePayload): void {
    this.send('topic', this.topicPrefix + topic, this.envelope.seal(KIND_TOPIC, payload));
  }

  publishDirect(instanceId: string, connectionId: number, payload: WirePayload): void {
    this.send('direct', this.directChannelOf(instanceId), this.envelope.seal(KIND_DIRECT, payload, connectionId));
  }

  subscribe(topic: string): void {
    const channel = this.topicPrefix + topic;
    this.channels.add(channel);
    if (this.sub?.status === 'ready') this.sub.subscribe(channel).catch(() => undefined);
  }

  unsubscribe(topic: string): void {
    const channel = this.topicPrefix + topic;
    this.channels.delete(channel);
    if (this.sub?.status === 'ready') this.sub.unsubscribe(channel).catch(() => undefined);
  }

  stats(): BusStats {
    this.counters.outboxMessages = this.outbox.size;
    this.counters.outboxBytes = this.outbox.bytes;
    return this.counters;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.flush();
    this.stopped = true;
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    for (const left of this.outbox.clear()) this.counters.dropped[left.cls]['outbox-full']++;
    await Promise.all([quit(this.pub), quit(this.sub)]);
    this.update();
  }

  private directChannelOf(instanceId: string): string {
    return `${this.prefix}direct:${instanceId}`;
  }

  /** Publishes now when Redis takes it, in order behind whatever waits; else the message waits. */
  private send(cls: MessageClass, channel: string, message: Buffer): void {
    if (this.outbox.size === 0 && this.writable()) {
      (this.pub as RedisClient).publish(channel, message, this.acks[cls]);
      return;
    }
    if (this.stopped) {
      this.counters.dropped[cls]['outbox-full']++;
      return;
    }
    for (const dropped of this.outbox.push({ cls, channel, message })) this.counters.dropped[dropped.cls]['outbox-full']++;
  }

  /**
   * Up (subscribed again too: the other instances reconnect about as fast, so the outbox waits
   * as long as we had to), and the socket not holding more than the outbox may.
   */
  private writable(): boolean {
    const pub = this.pub;
    return !this.stopped && this.counters.state === 'up' && pub !== null && pub.status === 'ready' && pub.stream.writableLength < this.options.outboxBytes;
  }

  private flush(): void {
    while (this.outbox.size > 0 && this.writable()) {
      const { cls, channel, message } = this.outbox.shift() as Waiting;
      (this.pub as RedisClient).publish(channel, message, this.acks[cls]);
    }
  }

  private resubscribe(sub: RedisClient): void {
    sub.subscribe(...this.channels).then(
      () => {
        if (sub.status !== 'ready') return;
        this.subscribed = true;
        this.update();
      },
      (error: Error) => {
        this.lastError = error;
        this.update(true);
      },
    );
  }

  private receive(channel: Buffer, message: Buffer): void {
    const opened = this.envelope.open(message);
    if (opened === null || this.handler === null) return;
    if (opened.fromSelf) {
      if (opened.kind === KIND_PROBE) recordRoundTrip(this.counters, (performance.now() - opened.number) / 1000);
      return;
    }
    const cls: MessageClass = opened.kind === KIND_BROADCAST ? 'broadcast' : opened.kind === KIND_TOPIC ? 'topic' : 'direct';
    if (opened.kind === KIND_PROBE) return;
    if (opened.payload.length > this.options.maxMessageBytes) {
      this.counters.dropped[cls]['too-large']++;
      return;
    }
    this.counters.received[cls]++;
    // A copy that owns its bytes: a view would keep, and a thread would be sent, the whole read buffer.
    const payload = new Uint8Array(opened.payload);
    if (cls === 'broadcast') this.handler.broadcast(payload);
    else if (cls === 'topic') this.handler.publish(channel.toString('utf8', this.topicPrefixBytes), payload);
    else this.handler.sendTo(opened.number, payload);
  }

  private sendProbe(): void {
    if (this.counters.state !== 'up') return;
    (this.pub as RedisClient).publish(this.directChannel, this.envelope.seal(KIND_PROBE, '', performance.now()), ignore);
  }

  /**
   * Works out the state from both connections and reports a change. `trouble` says an error
   * or a close happened: before the first success that turns `connecting` into `down`.
   */
  private update(trouble = false): void {
    const up = !this.stopped && this.pub?.status === 'ready' && this.sub?.status === 'ready' && this.subscribed;
    const previous = this.counters.state;
    let state: BusState;
    if (this.stopped) state = 'stopped';
    else if (up) state = 'up';
    else if (previous === 'connecting' && !trouble) state = 'connecting';
    else state = 'down';
    if (state === previous) return;
    this.counters.state = state;
    if (state === 'up') this.counters.connects++;
    this.handler?.stateChanged(state, state === 'down' ? this.lastError : undefined);
    if (state === 'up') this.flush();
  }
}

function ignore(): void {}

/** QUIT when connected (Redis answers what came before it first), else just disconnect. */
async function quit(client: RedisClient | null): Promise<void> {
  if (client === null) return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const cut = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      client.disconnect();
      resolve();
    }, QUIT_TIMEOUT_MS);
  });
  await Promise.race([client.quit().then(ignore, () => client.disconnect()), cut]);
  clearTimeout(timer);
}
