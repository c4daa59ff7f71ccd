/**
 * A growable byte buffer with read and write indices, the seed's `Buffer`.
 *
 * ```
 * +-------------------+------------------+------------------+
 * | prependable bytes |  readable bytes  |  writable bytes  |
 * |                   |     (CONTENT)    |                  |
 * +-------------------+------------------+------------------+
 * 0      <=     readerIndex    <=    writerIndex    <=    capacity
 * ```
 *
 * Consuming bytes only moves `readerIndex` (O(1)); the space in front of the content is
 * reused on the next growth, or to prepend a length header without copying the body.
 * Storage is allocated on first use, so an idle connection holding an empty buffer costs
 * nothing but the object itself.
 */
export class ByteBuffer {
  /** Room kept in front of the content so a 4- or 8-byte header can be prepended for free. */
  static readonly CHEAP_PREPEND = 8;

  private storage: Buffer | null = null;
  private readerIndex: number;
  private writerIndex: number;

  /**
   * @param initialCapacity bytes allocated on first write (the buffer grows as needed)
   * @param reservedPrepend bytes kept free in front of the content (default 8)
   */
  constructor(
    private readonly initialCapacity = 1024,
    private readonly reservedPrepend = ByteBuffer.CHEAP_PREPEND,
  ) {
    this.readerIndex = reservedPrepend;
    this.writerIndex = reservedPrepend;
  }

  /** Number of readable (unconsumed) bytes. */
  get length(): number {
    return this.writerIndex - this.readerIndex;
  }

  /** Bytes that can be prepended in front of the content without moving it. */
  get prependableBytes(): number {
    return this.readerIndex;
  }

  /** Bytes that can be appended without growing or compacting. */
  get writableBytes(): number {
    return this.storage === null ? 0 : this.storage.length - this.writerIndex;
  }

  /** Size of the underlying storage (0 before the first write). */
  get capacity(): number {
    return this.storage === null ? 0 : this.storage.length;
  }

  /**
   * A view of the readable bytes. No copy: the view is invalidated by the next write,
   * compaction or {@link detach}; copy it (`Buffer.from(view)`) to keep it.
   */
  peek(): Buffer {
    return this.storage === null
      ? EMPTY
      : this.storage.subarray(this.readerIndex, this.writerIndex);
  }

  /** The byte at `offset` from the read position. Throws RangeError past the content. */
  byteAt(offset: number): number {
    if (!isIndex(offset, this.length - 1)) throw new RangeError(`offset ${offset} outside 0..${this.length - 1}`);
    return (this.storage as Buffer)[this.readerIndex + offset] as number;
  }

  /** Index of `byte` in the readable bytes at or after `from`, or -1. */
  indexOf(byte: number, from = 0): number {
    if (!Number.isInteger(from) || from < 0) throw new RangeError(`from must be an integer >= 0, got ${from}`);
    if (this.storage === null || from >= this.length) return -1;
    const at = this.storage.indexOf(byte, this.readerIndex + from);
    return at === -1 || at >= this.writerIndex ? -1 : at - this.readerIndex;
  }

  /** Reads a 32-bit unsigned integer at `offset` from the read position without consuming it. */
  peekUInt32(offset = 0, littleEndian = true): number {
    if (!isIndex(offset, this.length - 4)) throw new RangeError(`need 4 bytes at ${offset}, have ${this.length}`);
    const storage = this.storage as Buffer;
    const at = this.readerIndex + offset;
    return littleEndian ? storage.readUInt32LE(at) : storage.readUInt32BE(at);
  }

  /** Consumes `n` bytes from the front. O(1). */
  retrieve(n: number): void {
    if (!isIndex(n, this.length)) throw new RangeError(`cannot retrieve ${n} of ${this.length} bytes`);
    if (n === this.length) {
      this.retrieveAll();
    } else {
      this.readerIndex += n;
    }
  }

  /** Consumes everything; keeps the storage for reuse. */
  retrieveAll(): void {
    this.readerIndex = this.reservedPrepend;
    this.writerIndex = this.reservedPrepend;
  }

  /** Copies out and consumes `n` bytes (all by default). */
  take(n = this.length): Buffer {
    const out = Buffer.from(this.peek().subarray(0, n));
    this.retrieve(n);
    return out;
  }

  /**
   * Hands the readable bytes over as a view and forgets the storage, so whoever holds the
   * view (for example a pending socket write) owns that memory. The buffer starts empty.
   */
  detach(): Buffer {
    const storage = this.storage;
    // Storage filled exactly (the usual single reply): hand it over without a new view.
    const view = storage !== null && this.readerIndex === 0 && this.writerIndex === storage.length ? storage : this.peek();
    this.storage = null;
    this.readerIndex = this.reservedPrepend;
    this.writerIndex = this.reservedPrepend;
    return view;
  }

  /** Appends bytes, or a string encoded as UTF-8. */
  append(data: Uint8Array | string): void {
    if (typeof data === 'string') {
      const n = Buffer.byteLength(data);
      this.ensureWritable(n);
      this.writerIndex += (this.storage as Buffer).write(data, this.writerIndex, n, 'utf8');
    } else {
      this.ensureWritable(data.length);
      (this.storage as Buffer).set(data, this.writerIndex);
      this.writerIndex += data.length;
    }
  }

  /** Appends a 32-bit unsigned integer. */
  appendUInt32(value: number, littleEndian = true): void {
    this.ensureWritable(4);
    const storage = this.storage as Buffer;
    if (littleEndian) storage.writeUInt32LE(value, this.writerIndex);
    else storage.writeUInt32BE(value, this.writerIndex);
    this.writerIndex += 4;
  }

  /**
   * Writes a 32-bit unsigned integer in front of the content (the seed's `AppendWithHead`,
   * done after the body is known). Uses the reserved prepend room: no copy of the body.
   */
  prependUInt32(value: number, littleEndian = true): void {
    if (this.readerIndex < 4) {
      // The prepend room is used up (built smaller than 4, or already prepended into).
      this.makeRoomInFront(4);
    }
    if (this.storage === null) this.allocate(0);
    this.readerIndex -= 4;
    const storage = this.storage as Buffer;
    if (littleEndian) storage.writeUInt32LE(value, this.readerIndex);
    else storage.writeUInt32BE(value, this.readerIndex);
  }

  /** Makes sure `n` more bytes can be appended, compacting or growing the storage. */
  ensureWritable(n: number): void {
    if (this.storage === null) {
      this.allocate(n);
      return;
    }
    if (this.storage.length - this.writerIndex >= n) return;
    const readable = this.length;
    if (this.readerIndex - this.reservedPrepend + this.storage.length - this.writerIndex >= n) {
      // Enough space once the consumed bytes in front are reclaimed: slide the content down.
      this.storage.copy(this.storage, this.reservedPrepend, this.readerIndex, this.writerIndex);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(this.storage.length * 2, this.reservedPrepend + readable + n));
      this.storage.copy(grown, this.reservedPrepend, this.readerIndex, this.writerIndex);
      this.storage = grown;
    }
    this.readerIndex = this.reservedPrepend;
    this.writerIndex = this.reservedPrepend + readable;
  }

  private allocate(n: number): void {
    // allocUnsafe slices small sizes out of Node's shared pool: cheap, and freed with the view.
    this.storage = Buffer.allocUnsafe(this.reservedPrepend + Math.max(n, this.initialCapacity));
    this.readerIndex = this.reservedPrepend;
    this.writerIndex = this.reservedPrepend;
  }

  private makeRoomInFront(n: number): void {
    const readable = this.peek();
    const grown = Buffer.allocUnsafe(n + readable.length + this.writableBytes);
    readable.copy(grown, n);
    this.storage = grown;
    this.readerIndex = n;
    this.writerIndex = n + readable.length;
  }
}

const EMPTY = Buffer.alloc(0);

/** An integer from 0 to `max`; NaN and fractions would corrupt the indices. */
function isIndex(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= max;
}
