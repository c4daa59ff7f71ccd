import { InvalidOptionError } from '../core/errors.js';
import { describeValue } from '../core/option-checks.js';

/** A payload as it leaves a reactor: a string, or one array that owns exactly its bytes (see flattenPayload). */
export type WirePayload = Uint8Array | string;

/**
 * How a server's broadcasts, topic publishes and direct sends leave its reactor, and how the
 * reactor tells whoever routes them which topics it has members of. The server delivers to
 * its own connections itself; the link carries what is for everyone else: the instance's other
 * reactors and, with a shared broker, the other instances. Set by a ReactorGroup's reactor
 * runtime or by a `Broker` (src/broker/).
 */
export interface BrokerLink {
  /** For every connection elsewhere. */
  broadcast(payload: WirePayload): void;
  /** For the members of `topic` elsewhere. */
  publish(topic: string, payload: WirePayload): void;
  /** For connection `connectionId` of instance `instanceId` (this instance's too: it may be on another reactor). */
  sendTo(instanceId: string, connectionId: number, payload: WirePayload): void;
  /** The first connection of this reactor joined `topic`. */
  subscribe(topic: string): void;
  /** The last connection of this reactor left `topic` (or closed). */
  unsubscribe(topic: string): void;
}

/** @deprecated the link is a {@link BrokerLink} now (topics and direct sends too). */
export type GroupLink = BrokerLink;

/** The longest topic name, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 1024;

/** @throws InvalidOptionError (option `topic`) unless `topic` is a non-empty string of at most 1024 characters */
export function requireTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new InvalidOptionError('topic', `must be a non-empty string of at most ${MAX_TOPIC_LENGTH} characters, got ${describeValue(topic)}`);
  }
}

