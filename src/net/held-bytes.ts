import { ByteBuffer } from '../core/byte-buffer.js';

/**
 * The start of a message that straddles reads, held back by a decoder until the rest arrives.
 * Holding copies; a chunk that ends on a message boundary is never copied.
 */
export class HeldBytes {
  private buffer: ByteBuffer | null = null;
  /** What the decoder said one unfinished message can hold at most (see {@link keep}). */
  private cap = 0;

  /** Bytes held back. */
  get length(): number {
    return this.buffer === null ? 0 : this.buffer.length;
  }

  /** Memory set aside for them: the held bytes and the room for the rest (what the input budget counts). */
  get retained(): number {
    return this.buffer === null ? 0 : this.buffer.capacity;
  }

  /** The bytes to decode now: `chunk` itself, or the held bytes with `chunk` appended. */
  join(chunk: Buffer): Buffer {
    const held = this.buffer;
    if (held === null) return chunk;
    if (held.writableBytes < chunk.length) this.grow(held, chunk.length);
    (this.buffer as ByteBuffer).append(chunk);
    return (this.buffer as ByteBuffer).peek();
  }

  /**
   * Holds `data` from `from` on (the undecoded rest of what {@link join} returned). A new
   * buffer gets room for `slack` more bytes, at most `cap` in all; it is new rather than reused
   * so that views already delivered from the old one stay valid.
   */
  keep(data: Buffer, from: number, slack: number, cap: number): void {
    const rest = data.length - from;
    this.cap = cap;
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

  /**
   * Doubles the room, as ByteBuffer would, but never past `cap` unless this one chunk needs
   * more: a message still incomplete then fits in `cap` (the decoder's largest message and its
   * header), so a stalled peer holds at most that, not up to twice it. A chunk that goes past
   * `cap` completes a message, and {@link keep} replaces the buffer right after.
   */
  private grow(held: ByteBuffer, more: number): void {
    const needed = held.length + more;
    const grown = new ByteBuffer(Math.min(Math.max(2 * held.capacity, needed), Math.max(this.cap, needed)), 0);
    grown.append(held.peek());
    this.buffer = grown;
  }
}
