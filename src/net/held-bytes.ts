import { ByteBuffer } from '../core/byte-buffer.js';

/**
 * The start of a message that straddles reads, held back by a decoder until the rest arrives.
 * Holding copies; a chunk that ends on a message boundary is never copied.
 */
export class HeldBytes {
  private buffer: ByteBuffer | null = null;

  /** Bytes held back. */
  get length(): number {
    return this.buffer === null ? 0 : this.buffer.length;
  }

  /** The bytes to decode now: `chunk` itself, or the held bytes with `chunk` appended. */
  join(chunk: Buffer): Buffer {
    if (this.buffer === null) return chunk;
    this.buffer.append(chunk);
    return this.buffer.peek();
  }

  /**
   * Holds `data` from `from` on (the undecoded rest of what {@link join} returned). A new
   * buffer gets room for `slack` more bytes, at most `cap` in all; it is new rather than reused
   * so that views already delivered from the old one stay valid.
   */
  keep(data: Buffer, from: number, slack: number, cap: number): void {
    const rest = data.length - from;
    if (rest === 0) {
      this.buffer = null;
    } else if (this.buffer === null || from > 0) {
      const held = new ByteBuffer(Math.min(rest + slack, cap), 0);
      held.append(data.subarray(from));
      this.buffer = held;
    }
    // Otherwise `data` is the held buffer, nothing of it decoded: it stays as it is.
  }

  /** Drops what is held (the stream failed). */
  clear(): void {
    this.buffer = null;
  }
}
