import type { WirePayload } from '../server/broker-link.js';
import type { Bus, BusHandler, BusState } from './bus.js';

/** What the hub hands a reactor to deliver to its own connections. Structured-cloneable: it crosses threads and processes as it is. */
export type Delivery = { t: 'broadcast'; payload: WirePayload } | { t: 'publish'; topic: string; payload: WirePayload } | { t: 'sendTo'; id: number; payload: WirePayload };

/** What a reactor hands the hub: its messages for everyone else, and its topic membership. */
export type Outgoing =
  | { t: 'broadcast'; payload: WirePayload }
  | { t: 'publish'; topic: string; payload: WirePayload }
  | { t: 'sendTo'; instance: string; id: number; payload: WirePayload }
  | { t: 'subscribe'; topic: string }
  | { t: 'unsubscribe'; topic: string };

/** A reactor as the hub sees it: how to reach it. */
type Deliver = (delivery: Delivery) => void;

/** The origin of what the group itself (not one of its reactors) sends: every reactor gets it. */
export const FROM_GROUP = -1;

/**
 * One instance's router: between its reactors (the "local" broker, today's cross-reactor
 * relay) and, when there is a bus, between this instance and the others. It keeps which
 * reactors have members of which topics, so a topic's messages go only to those reactors, and
 * the instance subscribes to a topic on the bus only while some reactor has members.
 *
 * A reactor delivers its own messages to its own connections; the hub never sends them back.
 * Each receiver gets one publisher's messages by one path (the hub for this instance's, the bus
 * for another's), so they arrive in the order they were sent.
 */
export class BrokerHub {
  private readonly reactors: (Deliver | undefined)[] = [];
  /** Topic -> the reactors with members of it. */
  private readonly topicReactors = new Map<string, Set<number>>();

  /**
   * @param instanceId this instance's id: a direct send to it is routed here
   * @param reactorCount reactors of the instance: connection id N lives on reactor (N - 1) mod count
   * @param bus the other instances; null with the local broker
   */
  constructor(
    readonly instanceId: string,
    private readonly reactorCount: number,
    private readonly bus: Bus | null,
  ) {}

  /** Reactor `index` serves (0 to count - 1, or count to 2 count - 1 for a group's replacements): deliveries for it go to `deliver`. */
  attach(index: number, deliver: Deliver): void {
    this.reactors[index] = deliver;
  }

  /** Reactor `index` is gone (stopped or died): nothing more for it, and its memberships end with it. */
  detach(index: number): void {
    this.reactors[index] = undefined;
    for (const [topic, reactors] of this.topicReactors) {
      if (reactors.delete(index) && reactors.size === 0) this.dropTopic(topic);
    }
  }

  /** What reactor `from` (or the group itself, FROM_GROUP) sends. */
  fromReactor(from: number, message: Outgoing): void {
    switch (message.t) {
      case 'broadcast':
        for (let i = 0; i < this.reactors.length; i++) if (i !== from) this.reactors[i]?.(message);
        this.bus?.publishBroadcast(message.payload);
        break;
      case 'publish': {
        const reactors = this.topicReactors.get(message.topic);
        if (reactors !== undefined) for (const i of reactors) if (i !== from) this.reactors[i]?.(message);
        this.bus?.publishTopic(message.topic, message.payload);
        break;
      }
      case 'sendTo':
        if (message.instance === this.instanceId) {
          const delivery: Delivery = { t: 'sendTo', id: message.id, payload: message.payload };
          // The sender looked among its own connections first.
          for (const i of this.reactorsOf(message.id)) if (i !== from) this.reactors[i]?.(delivery);
        } else {
          this.bus?.publishDirect(message.instance, message.id, message.payload);
        }
        break;
      case 'subscribe': {
        let reactors = this.topicReactors.get(message.topic);
        if (reactors === undefined) {
          reactors = new Set();
          this.topicReactors.set(message.topic, reactors);
          this.bus?.subscribe(message.topic);
        }
        reactors.add(from);
        break;
      }
      case 'unsubscribe': {
        const reactors = this.topicReactors.get(message.topic);
        if (reactors !== undefined && reactors.delete(from) && reactors.size === 0) this.dropTopic(message.topic);
        break;
      }
    }
  }

  /** The topics some reactor of this instance has members of. */
  topics(): IterableIterator<string> {
    return this.topicReactors.keys();
  }

  /** What the bus delivers from the other instances, and how it fares. */
  busHandler(stateChanged: (state: BusState, error?: Error) => void): BusHandler {
    return {
      broadcast: (payload) => {
        const delivery: Delivery = { t: 'broadcast', payload };
        for (const deliver of this.reactors) deliver?.(delivery);
      },
      publish: (topic, payload) => {
        const reactors = this.topicReactors.get(topic);
        if (reactors === undefined) return;
        const delivery: Delivery = { t: 'publish', topic, payload };
        for (const i of reactors) this.reactors[i]?.(delivery);
      },
      sendTo: (id, payload) => {
        const delivery: Delivery = { t: 'sendTo', id, payload };
        for (const i of this.reactorsOf(id)) this.reactors[i]?.(delivery);
      },
      stateChanged,
    };
  }

  /**
   * Where connection `id` may live. Reactor i hands out ids i+1, i+1+count, ... (a replacement
   * too: its range starts a multiple of count higher), and serves at index i, or at i + count
   * while it or the reactor it replaces drains (a ReactorGroup's second column): each index
   * that has a reactor is asked, and the one with the connection delivers.
   */
  private reactorsOf(id: number): [number, number] {
    const i = (id - 1) % this.reactorCount;
    return [i, i + this.reactorCount];
  }

  private dropTopic(topic: string): void {
    this.topicReactors.delete(topic);
    this.bus?.unsubscribe(topic);
  }
}
