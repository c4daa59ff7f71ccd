import { ByteBuffer } from '../core/byte-buffer.js';
import { appendPayload, payloadLength, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';
import { FrameTooLargeError } from './errors.js';
import { MAX_FRAME_PAYLOAD } from './seed-codec.js';

export type ByteOrder = 'little' | 'big';

/**
 * 4-byte length-prefixed frames in both directions. A header announcing more than
 * `maxMessageBytes` fails the connection at once: nothing is allocated for the announced size.
 */
export class LengthCodec implements Codec {
  readonly name = 'length';
  private readonly littleEndian: boolean;

  constructor(
    readonly maxMessageBytes: number,
    readonly byteOrder: ByteOrder = 'little',
  ) {
    this.littleEndian = byteOrder === 'little';
  }

  createDecoder(): Decoder {
    return new LengthDecoder(this.maxMessageBytes, this.littleEndian);
  }

  encode(payload: Payload, out: ByteBuffer): number {
    const n = payloadLength(payload);
    if (n > MAX_FRAME_PAYLOAD) throw new RangeError(`payload of ${n} bytes does not fit a 4-byte length`);
    out.ensureWritable(4 + n);
    out.appendUInt32(n, this.littleEndian);
    appendPayload(payload, out);
    return n;
  }
}

class LengthDecoder implements Decoder {
  /** Bytes of an incomplete frame (header included); null while nothing is held back. */
  private held: ByteBuffer | null = null;

  constructor(
    private readonly max: number,
    private readonly littleEndian: boolean,
  ) {}

  get bufferedBytes(): number {
    return this.held === null ? 0 : this.held.length;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    let data = chunk;
    if (this.held !== null) {
      // Complete the held frame first; it is the only case that copies.
      this.held.append(chunk);
      data = this.held.peek();
    }
    let at = 0;
    while (data.length - at >= 4) {
      const length = this.littleEndian ? data.readUInt32LE(at) : data.readUInt32BE(at);
      if (length > this.max) {
        this.held = null;
        sink.fail(new FrameTooLargeError(length, this.max));
        return;
      }
      if (data.length - at - 4 < length) break;
      // A view, not a copy: `chunk` is ours, and a held buffer is replaced rather than reused.
      sink.deliver(data.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    const rest = data.length - at;
    if (rest === 0) {
      this.held = null;
    } else if (this.held === null || at > 0) {
      const held = new ByteBuffer(Math.min(rest + 4096, this.max + 4), 0);
      held.append(data.subarray(at));
      this.held = held;
    }
  }
}
