import { payloadByteLength } from '../core/payload.js';
import { ByteBuffer } from '../core/byte-buffer.js';
import type { Codec, Payload } from '../net/codec.js';
import { EmptyMessageError } from '../core/errors.js';
import { LengthCodec, type ByteOrder } from '../net/length-codec.js';
import { LineCodec } from '../net/line-codec.js';
import type { CodecName } from '../server/options.js';

/** Largest reply a client accepts unless told otherwise: 16 MiB. */
export const DEFAULT_MAX_REPLY_BYTES = 16 * 1024 * 1024;

/**
 * A server's wire format seen from the client side, built from the server's own codecs: how
 * requests are framed and how the reply stream splits into replies. Shared by the client
 * library and the load driver, so both speak exactly what the server speaks.
 */
export class ClientWireFormat {
  /** Frames requests; null for the seed codec, whose requests go out as they are. */
  private readonly requestCodec: Codec | null;
  /** Splits the reply stream: seed and length replies are length frames, line replies are lines. */
  readonly replyCodec: Codec;

  constructor(
    readonly codec: CodecName,
    /** Byte order of the `length` codec's headers (seed replies are always little-endian). */
    byteOrder: ByteOrder = 'little',
    /** Largest reply accepted; a bigger one fails the connection. */
    maxReplyBytes: number = DEFAULT_MAX_REPLY_BYTES,
  ) {
    this.replyCodec = codec === 'line' ? new LineCodec(maxReplyBytes) : new LengthCodec(maxReplyBytes, codec === 'seed' ? 'little' : byteOrder);
    this.requestCodec = codec === 'seed' ? null : this.replyCodec;
  }

  /**
   * One request as it goes on the wire, in one piece.
   * @throws EmptyMessageError for an empty message with the seed codec: the server delivers
   * each read as a message, and an empty write is no read, so it would never be answered.
   */
  frame(message: Payload): Uint8Array | string {
    if (this.requestCodec === null) {
      if (payloadByteLength(message) === 0) throw new EmptyMessageError();
      return typeof message === 'string' || message instanceof Uint8Array ? message : Buffer.concat(message.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
    }
    const out = new ByteBuffer(0, 0);
    this.requestCodec.encode(message, out);
    return out.detach();
  }
}
