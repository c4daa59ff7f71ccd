import type { ByteBuffer } from '../core/byte-buffer.js';
import { encodeLengthPrefixed, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';

export { MAX_FRAME_PAYLOAD } from './codec.js';

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
    return encodeLengthPrefixed(payload, out, true);
  }
}

/** Stateless, so every connection shares this one. */
const RAW_DECODER: Decoder = {
  bufferedBytes: 0,
  retainedBytes: 0,
  decode(chunk: Buffer, sink: MessageSink): void {
    sink.deliver(chunk);
  },
};
