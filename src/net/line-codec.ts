import type { ByteBuffer } from '../core/byte-buffer.js';
import { appendPayload, payloadLength, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';
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
    const n = payloadLength(payload);
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
  private readonly held = new HeldBytes();

  constructor(private readonly max: number) {}

  get bufferedBytes(): number {
    return this.held.length;
  }

  get retainedBytes(): number {
    return this.held.retained;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    // The held bytes hold no newline (or they would have been delivered): search only the new ones.
    const scanFrom = this.held.length;
    const data = this.held.join(chunk);
    let start = 0;
    for (let end = data.indexOf(NEWLINE, scanFrom); end !== -1; end = data.indexOf(NEWLINE, start)) {
      const stop = end > start && data[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
      if (stop - start > this.max) {
        this.held.clear();
        sink.fail(new LineTooLongError(this.max));
        return;
      }
      sink.deliver(data.subarray(start, stop));
      start = end + 1;
    }
    const rest = data.length - start;
    // The partial line may still end in a `\r` that the limit does not count.
    if (rest > this.max + 1) {
      this.held.clear();
      sink.fail(new LineTooLongError(this.max));
      return;
    }
    this.held.keep(data, start, 1024, this.max + 2);
  }
}
