import type { ByteBuffer } from '../core/byte-buffer.js';
import { payloadByteLength } from '../core/payload.js';
import { appendPayload, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';
import { LineTooLongError } from '../core/errors.js';
import { HeldBytes } from './held-bytes.js';

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

/**
 * Newline-delimited messages in both directions. Inbound, a trailing `\r` before the `\n` is
 * dropped (so CRLF clients work); a line longer than `maxMessageBytes` fails the connection.
 * Outbound, `send(payload)` writes the payload and a `\n` (a payload containing `\n` arrives
 * as several lines).
 */
export class LineCodec implements Codec {
  readonly name = 'line';

  constructor(readonly maxMessageBytes: number) {}

  createDecoder(): Decoder {
    return new LineDecoder(this.maxMessageBytes);
  }

  encode(payload: Payload, out: ByteBuffer): number {
    const n = payloadByteLength(payload);
    // Room for the newline too: no second allocation, and the reply fills its storage exactly.
    out.ensureWritable(n + 1);
    appendPayload(payload, out);
    out.append(NEWLINE_BYTES);
    return n;
  }
}

const NEWLINE_BYTES = Buffer.from('\n');

class LineDecoder implements Decoder {
  /** The start of a line whose newline has not arrived. */
  private readonly held: HeldBytes;

  constructor(private readonly max: number) {
    this.held = new HeldBytes(max + 2);
  }

  get bufferedBytes(): number {
    return this.held.length;
  }

  get retainedBytes(): number {
    return this.held.retained;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    let start = 0;
    if (this.held.length > 0) {
      // The held bytes hold no newline (or they would have been delivered): search only the new ones.
      const end = chunk.indexOf(NEWLINE);
      if (end === -1) {
        // The partial line may still end in a `\r` that the limit does not count.
        if (this.held.length + chunk.length > this.max + 1) {
          this.held.clear();
          sink.fail(new LineTooLongError(this.max));
          return;
        }
        this.held.hold(chunk);
        return;
      }
      // The held start and the rest, copied once into a buffer of their own.
      const line = this.held.takeWith(chunk, end);
      const stop = line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN ? line.length - 1 : line.length;
      if (stop > this.max) {
        sink.fail(new LineTooLongError(this.max));
        return;
      }
      sink.deliver(line.subarray(0, stop));
      start = end + 1;
    }
    for (let end = chunk.indexOf(NEWLINE, start); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      const stop = end > start && chunk[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
      if (stop - start > this.max) {
        sink.fail(new LineTooLongError(this.max));
        return;
      }
      // A view, not a copy: `chunk` is ours.
      sink.deliver(chunk.subarray(start, stop));
      start = end + 1;
    }
    if (chunk.length - start > this.max + 1) {
      sink.fail(new LineTooLongError(this.max));
      return;
    }
    this.held.hold(chunk, start);
  }
}
