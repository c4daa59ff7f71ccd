/**
 * A chunk at least this large is held as it is; smaller ones are copied together, so that a
 * peer sending a message a byte at a time costs a buffer per few KiB, not an object per byte.
 */
const SMALL_CHUNK = 4096;
/**
 * Room left after the first small piece copied: the rest of a short message usually fits, and
 * is then appended in place and delivered from there, with no buffer of its own.
 */
const SMALL_SLACK = 1024;
/** The most the buffer small pieces are copied into grows to (doubling) before another starts. */
const COALESCE_MAX = 64 * 1024;

/**
 * The start of a message that straddles reads, held back by a decoder until the rest arrives.
 *
 * Large chunks read from the socket are kept as they came (a chunk is the decoder's to keep) and
 * copied once, into one buffer, when the message completes: a message arriving in N reads costs
 * one copy, not a copy per read into a buffer that doubles as it grows, and a peer that stalls
 * leaves nothing behind but the chunks it sent. The undecoded end of a chunk whose start was
 * delivered, and small chunks, are copied into an open buffer (with SMALL_SLACK to spare, then
 * doubling up to COALESCE_MAX), so what is held never keeps alive memory it does not use; a short
 * message that completes within the open buffer's room is finished in place. The memory reserved
 * never exceeds `cap`.
 */
export class HeldBytes {
  /** The held bytes before the open buffer, in order: whole chunks and sealed open buffers. */
  private readonly pieces: Buffer[] = [];
  private bytes = 0;
  private reserved = 0;
  /** The buffer small pieces are being copied into (after `pieces`), and how full it is. */
  private open: Buffer | null = null;
  private openFill = 0;

  /** @param cap the most one unfinished message can hold (the decoder's largest message and its framing) */
  constructor(private readonly cap: number) {}

  /** Bytes held back. */
  get length(): number {
    return this.bytes;
  }

  /** Memory set aside for them (what the input budget counts): the held bytes and the open buffer's room. */
  get retained(): number {
    return this.reserved;
  }

  /**
   * Holds `chunk` from `from` on, after what is held: the chunk itself when it is large and
   * all of it is held, otherwise a copy.
   */
  hold(chunk: Buffer, from = 0): void {
    const n = chunk.length - from;
    if (n === 0) return;
    this.bytes += n;
    if (n < SMALL_CHUNK) {
      this.copySmall(chunk, from, n);
      return;
    }
    this.seal();
    // A view of part of a larger buffer would keep all of it alive: only a whole one is kept as it is.
    let piece = chunk;
    if (from !== 0 || chunk.byteOffset !== 0 || chunk.length !== chunk.buffer.byteLength) {
      piece = Buffer.allocUnsafe(n);
      chunk.copy(piece, 0, from);
    }
    this.pieces.push(piece);
    this.reserved += n;
  }

  /** Copies the first `target.length` held bytes (there must be that many) into `target`. */
  copyHead(target: Buffer): void {
    let at = 0;
    for (const piece of this.pieces) {
      at += piece.copy(target, at, 0, Math.min(piece.length, target.length - at));
      if (at === target.length) return;
    }
    if (this.open !== null) this.open.copy(target, at, 0, target.length - at);
  }

  /**
   * The held bytes followed by `more` up to `end`: a complete message, in the open buffer when
   * it is all there is and has room, else copied into a buffer of its own. Nothing is held
   * afterwards (the buffer returned is never written again: views of it stay valid).
   */
  takeWith(more: Buffer, end: number): Buffer {
    const open = this.open;
    let out: Buffer;
    if (this.pieces.length === 0 && open !== null && open.length - this.openFill >= end) {
      more.copy(open, this.openFill, 0, end);
      out = open.subarray(0, this.openFill + end);
    } else {
      out = Buffer.allocUnsafe(this.bytes + end);
      let at = 0;
      for (const piece of this.pieces) {
        out.set(piece, at);
        at += piece.length;
      }
      if (open !== null) at += open.copy(out, at, 0, this.openFill);
      more.copy(out, at, 0, end);
    }
    this.clear();
    return out;
  }

  /** Drops what is held (the message completed elsewhere, or the stream failed). */
  clear(): void {
    // Popped rather than `length = 0`, which V8 makes a runtime call; there are few.
    const pieces = this.pieces;
    while (pieces.length > 0) pieces.pop();
    this.bytes = 0;
    this.reserved = 0;
    this.open = null;
    this.openFill = 0;
  }

  /**
   * Copies a small piece into the open buffer, growing it (doubling, up to COALESCE_MAX) or,
   * once it is that large, sealing it and starting another. Never more room than the message
   * can still use, and a sealed buffer is exactly full, so what is reserved stays within `cap`.
   */
  private copySmall(chunk: Buffer, from: number, n: number): void {
    // Room the unfinished message may still take, these n bytes included (this.bytes counts them).
    const room = this.cap - this.bytes + n;
    let open = this.open;
    if (open !== null && open.length - this.openFill < n) {
      if (open.length < COALESCE_MAX) {
        const grown = Buffer.allocUnsafe(Math.max(this.openFill + n, Math.min(2 * open.length, COALESCE_MAX, this.openFill + room)));
        open.copy(grown, 0, 0, this.openFill);
        this.reserved += grown.length - open.length;
        this.open = open = grown;
      } else {
        this.seal();
        open = null;
      }
    }
    if (open === null) {
      open = Buffer.allocUnsafe(Math.max(n, Math.min(n + SMALL_SLACK, room)));
      this.open = open;
      this.openFill = 0;
      this.reserved += open.length;
    }
    chunk.copy(open, this.openFill, from);
    this.openFill += n;
  }

  /** Moves the open buffer into `pieces`, trimmed to what it holds: what comes next goes after it. */
  private seal(): void {
    const open = this.open;
    if (open === null) return;
    if (this.openFill < open.length) {
      this.pieces.push(Buffer.from(open.subarray(0, this.openFill)));
      this.reserved -= open.length - this.openFill;
    } else {
      this.pieces.push(open);
    }
    this.open = null;
  }
}
