import type { ByteBuffer } from '../core/byte-buffer.js';
import { encodeLengthPrefixed, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';
import { FrameTooLargeError } from '../core/errors.js';
import { HeldBytes } from './held-bytes.js';

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
    return encodeLengthPrefixed(payload, out, this.littleEndian);
  }
}

class LengthDecoder implements Decoder {
  /** Bytes of an incomplete frame (header included). */
  private readonly held = new HeldBytes();

  constructor(
    private readonly max: number,
    private readonly littleEndian: boolean,
  ) {}

  get bufferedBytes(): number {
    return this.held.length;
  }

  get retainedBytes(): number {
    return this.held.retained;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    const data = this.held.join(chunk);
    let at = 0;
    while (data.length - at >= 4) {
      const length = this.littleEndian ? data.readUInt32LE(at) : data.readUInt32BE(at);
      if (length > this.max) {
        this.held.clear();
        sink.fail(new FrameTooLargeError(length, this.max));
        return;
      }
      if (data.length - at - 4 < length) break;
      // A view, not a copy: `chunk` is ours, and held bytes are replaced rather than reused.
      sink.deliver(data.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    this.held.keep(data, at, 4096, this.max + 4);
  }
}
