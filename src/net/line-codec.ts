import { ByteBuffer } from '../core/byte-buffer.js';
import { appendPayload, type Codec, type Decoder, type MessageSink, type Payload } from './codec.js';
import { LineTooLongError } from './errors.js';

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
    const before = out.length;
    appendPayload(payload, out);
    const n = out.length - before;
    out.append(NEWLINE_BYTES);
    return n;
  }
}

const NEWLINE_BYTES = Buffer.from('\n');

class LineDecoder implements Decoder {
  private held: ByteBuffer | null = null;

  constructor(private readonly max: number) {}

  get bufferedBytes(): number {
    return this.held === null ? 0 : this.held.length;
  }

  decode(chunk: Buffer, sink: MessageSink): void {
    let data = chunk;
    // The held bytes hold no newline (or they would have been delivered): search only the new ones.
    let scanFrom = 0;
    if (this.held !== null) {
      scanFrom = this.held.length;
      this.held.append(chunk);
      data = this.held.peek();
    }
    let start = 0;
    for (let end = data.indexOf(NEWLINE, scanFrom); end !== -1; end = data.indexOf(NEWLINE, start)) {
      const stop = end > start && data[end - 1] === CARRIAGE_RETURN ? end - 1 : end;
      if (stop - start > this.max) {
        this.held = null;
        sink.fail(new LineTooLongError(this.max));
        return;
      }
      sink.deliver(data.subarray(start, stop));
      start = end + 1;
    }
    const rest = data.length - start;
    // The partial line may still end in a `\r` that the limit does not count.
    if (rest > this.max + 1) {
      this.held = null;
      sink.fail(new LineTooLongError(this.max));
      return;
    }
    if (rest === 0) {
      this.held = null;
    } else if (this.held === null || start > 0) {
      const held = new ByteBuffer(Math.min(rest + 1024, this.max + 2), 0);
      held.append(data.subarray(start));
      this.held = held;
    }
  }
}
