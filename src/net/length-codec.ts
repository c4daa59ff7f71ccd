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
  private readonly held: HeldBytes;

  constructor(
    private readonly max: number,
    private readonly littleEndian: boolean,
  ) {
    this.held = new HeldBytes(max + 4);
  }

  get bufferedBytes(): number {
    return this.held.length;
  }

  get retainedBytes(): number {
    return this.held.retained;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    let at = 0;
    if (this.held.length > 0) {
      at = this.completeHeld(chunk, sink);
      if (at === -1) return;
    }
    while (chunk.length - at >= 4) {
      const length = this.littleEndian ? chunk.readUInt32LE(at) : chunk.readUInt32BE(at);
      if (length > this.max) {
        sink.fail(new FrameTooLargeError(length, this.max));
        return;
      }
      if (chunk.length - at - 4 < length) break;
      // A view, not a copy: `chunk` is ours.
      sink.deliver(chunk.subarray(at + 4, at + 4 + length));
      at += 4 + length;
    }
    this.held.hold(chunk, at);
  }

  /**
   * Completes the held frame with the start of `chunk`, copying it once into a buffer of its
   * own; returns where the rest of `chunk` starts, or -1 when all of `chunk` is held (the frame
   * is still incomplete) or the frame is over the limit.
   */
  private completeHeld(chunk: Buffer, sink: MessageSink): number {
    const held = this.held;
    if (held.length + chunk.length < 4) {
      held.hold(chunk);
      return -1;
    }
    const length = this.headerOf(chunk);
    if (length > this.max) {
      held.clear();
      sink.fail(new FrameTooLargeError(length, this.max));
      return -1;
    }
    const missing = 4 + length - held.length;
    if (chunk.length < missing) {
      held.hold(chunk);
      return -1;
    }
    // Replaced, not reused, for every frame: views already delivered stay valid.
    sink.deliver(held.takeWith(chunk, missing).subarray(4));
    return missing;
  }

  /** The held frame's length header, its first bytes held and the rest at the start of `chunk`. */
  private headerOf(chunk: Buffer): number {
    const fromHeld = Math.min(this.held.length, 4);
    this.held.copyHead(fromHeld === 4 ? HEADER : HEADER.subarray(0, fromHeld));
    if (fromHeld < 4) chunk.copy(HEADER, fromHeld, 0, 4 - fromHeld);
    return this.littleEndian ? HEADER.readUInt32LE(0) : HEADER.readUInt32BE(0);
  }
}

/** Scratch space for a header split across reads (every decoder of this thread shares it: decoding is synchronous). */
const HEADER = Buffer.alloc(4);
