import type { ByteBuffer } from '../core/byte-buffer.js';
import { payloadByteLength, type Payload } from '../core/payload.js';

// Codecs encode payloads; the type is core's (the Dispatcher carries payloads across threads).
export type { Payload };

/** Where a decoder hands the messages it finds. Implemented by the connection. */
export interface MessageSink {
  /** One complete inbound message. */
  deliver(message: Buffer): void;
  /** The byte stream is malformed; the connection is closed with this error. */
  fail(error: Error): void;
}

/** Turns a connection's inbound byte stream into messages. One per connection. */
export interface Decoder {
  /** Consumes one chunk read from the socket, delivering zero or more messages to `sink`. */
  decode(chunk: Buffer, sink: MessageSink): void;
  /** Bytes held back waiting for the rest of a message. */
  readonly bufferedBytes: number;
  /**
   * Memory set aside for unfinished input: the held bytes plus the room reserved for the rest
   * of the message. The server counts it against `maxBufferedInput` after each read. Optional:
   * a decoder without it is counted by `bufferedBytes`.
   */
  readonly retainedBytes?: number;
}

/** A wire format: how inbound bytes become messages and how a payload is framed outbound. */
export interface Codec {
  readonly name: string;
  /** A decoder for one new connection (stateless codecs may share one instance). */
  createDecoder(): Decoder;
  /** Appends the framed `payload` to `out`; returns the payload's size in bytes. */
  encode(payload: Payload, out: ByteBuffer): number;
}

/** The largest payload a 4-byte length header can describe. */
export const MAX_FRAME_PAYLOAD = 0xffff_ffff;

/**
 * Appends a 4-byte length (little- or big-endian) and the payload, sized in one allocation;
 * returns the payload's size. The seed and length codecs' framing.
 * @throws RangeError when the payload is over MAX_FRAME_PAYLOAD bytes
 */
export function encodeLengthPrefixed(payload: Payload, out: ByteBuffer, littleEndian: boolean): number {
  const n = payloadByteLength(payload);
  if (n > MAX_FRAME_PAYLOAD) throw new RangeError(`payload of ${n} bytes does not fit a 4-byte length`);
  out.ensureWritable(4 + n);
  out.appendUInt32(n, littleEndian);
  appendPayload(payload, out);
  return n;
}

/** Appends a payload's bytes to `out` with no framing. */
export function appendPayload(payload: Payload, out: ByteBuffer): void {
  if (typeof payload === 'string' || payload instanceof Uint8Array) {
    out.append(payload);
  } else {
    for (const part of payload) out.append(part);
  }
}
