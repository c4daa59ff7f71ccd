import type { ByteBuffer } from '../core/byte-buffer.js';
import { appendPayload, payloadLength, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';

/** The largest payload a 4-byte length header can describe. */
export const MAX_FRAME_PAYLOAD = 0xffff_ffff;

/**
 * The seed's wire format. Inbound: each chunk read from the socket is one message, as the
 * seed's read-until-EAGAIN delivers it. Outbound: a 4-byte unsigned little-endian length,
 * then the payload (the seed's `AppendWithHead` on x86 and ARM).
 */
export class SeedCodec implements Codec {
  readonly name = 'seed';

  createDecoder(): Decoder {
    return RAW_DECODER;
  }

  encode(payload: Payload, out: ByteBuffer): number {
    const n = payloadLength(payload);
    if (n > MAX_FRAME_PAYLOAD) throw new RangeError(`payload of ${n} bytes does not fit a 4-byte length`);
    out.ensureWritable(4 + n);
    out.appendUInt32(n, true);
    appendPayload(payload, out);
    return n;
  }
}

/** Stateless, so every connection shares this one. */
const RAW_DECODER: Decoder = {
  bufferedBytes: 0,
  decode(chunk: Buffer, sink: MessageSink): void {
    sink.deliver(chunk);
  },
};
