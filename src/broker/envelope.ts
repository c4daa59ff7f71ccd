import type { WirePayload } from '../server/broker-link.js';

/**
 * How a message travels between instances, in front of its payload:
 *
 *   version (1) | kind (1) | origin length (1) | origin instance id | [connection id: float64 LE] | payload
 *
 * The origin lets an instance skip what it published itself (every instance hears its own
 * broadcasts); a direct message names its connection; a probe carries its send time where a
 * direct message has the connection id. A topic travels as the channel's name, not here.
 */
export const ENVELOPE_VERSION = 1;

export const KIND_BROADCAST = 1;
export const KIND_TOPIC = 2;
export const KIND_DIRECT = 3;
/** A round-trip probe: published by an instance to itself. */
export const KIND_PROBE = 4;

export interface Opened {
  kind: number;
  /** Published by this instance. */
  fromSelf: boolean;
  /** A direct message's connection id; a probe's send time. */
  number: number;
  /** A view into the message. */
  payload: Buffer;
}

/** Seals and opens messages for one instance. */
export class Envelope {
  private readonly origin: Buffer;

  constructor(instanceId: string) {
    // Instance ids are ASCII, 64 characters at most: one length byte is enough.
    this.origin = Buffer.from(instanceId, 'latin1');
  }

  seal(kind: number, payload: WirePayload, number = 0): Buffer {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const withNumber = kind === KIND_DIRECT || kind === KIND_PROBE;
    const headerBytes = 3 + this.origin.length + (withNumber ? 8 : 0);
    const out = Buffer.allocUnsafe(headerBytes + body.length);
    out[0] = ENVELOPE_VERSION;
    out[1] = kind;
    out[2] = this.origin.length;
    this.origin.copy(out, 3);
    if (withNumber) out.writeDoubleLE(number, 3 + this.origin.length);
    out.set(body, headerBytes);
    return out;
  }

  /** The parts of `message`; null for one this version does not understand. */
  open(message: Buffer): Opened | null {
    if (message.length < 3 || message[0] !== ENVELOPE_VERSION) return null;
    const kind = message[1] as number;
    if (kind < KIND_BROADCAST || kind > KIND_PROBE) return null;
    const originEnd = 3 + (message[2] as number);
    const withNumber = kind === KIND_DIRECT || kind === KIND_PROBE;
    const headerBytes = originEnd + (withNumber ? 8 : 0);
    if (message.length < headerBytes) return null;
    const origin = this.origin;
    const fromSelf = originEnd - 3 === origin.length && origin.equals(message.subarray(3, originEnd));
    return { kind, fromSelf, number: withNumber ? message.readDoubleLE(originEnd) : 0, payload: message.subarray(headerBytes) };
  }
}
