/**
 * What one loop's connections may hold, together, of messages begun and not yet complete
 * (`maxBufferedInput`), and who goes first when they hold more.
 *
 * Each connection that holds unfinished input has a claim in a binary max-heap keyed by what it
 * holds, the heap index kept on the claim, so a change is O(log h) and the largest holder is
 * at the top (h: connections holding something right now, not all connections). Only reads that
 * leave a message unfinished, or finish one, change a claim: a read of whole messages touches
 * nothing here. Past the bound, the top of the heap is closed: one eviction, O(log h), always
 * suffices, since the excess is at most the growth of the claim that caused it, which is at
 * most what that claim holds, which is at most what the largest holds (the loop is there for
 * evictions whose callbacks change other claims). No scan over the connections ever happens,
 * however many there are or however small each holding is: a bucketed or thresholded
 * structure would either pick only approximately or fall back to a scan when many small
 * holders add up.
 */
import type { LoopStats } from '../core/loop-stats.js';

/** One holder's entry: what it holds and where it sits in the heap. Only the budget writes it. */
export class InputClaim<O> {
  /** Bytes counted for the owner. */
  bytes = 0;
  /** Index in the heap; -1 while the owner holds nothing. */
  slot = -1;

  constructor(readonly owner: O) {}
}

/**
 * Told to close `owner`, which held `held` bytes (already taken off the total) when all held
 * `total` together. Must not throw.
 */
export type EvictInput<O> = (owner: O, held: number, total: number) => void;

export class InputBudget<O> {
  private readonly heap: InputClaim<O>[] = [];
  private evicting = false;

  /**
   * @param limit bytes all claims may hold together
   * @param stats where the running total is kept (`bufferedInput`), so it is read with the
   *   loop's other counters
   * @param evict closes an owner chosen to bring the total back under the limit
   */
  constructor(
    readonly limit: number,
    private readonly stats: Pick<LoopStats, 'bufferedInput'>,
    private readonly evict: EvictInput<O>,
  ) {}

  /** Bytes held by every claim together. */
  get total(): number {
    return this.stats.bufferedInput;
  }

  /** Owners holding something right now. */
  get holders(): number {
    return this.heap.length;
  }

  /** The claim holding the most, if any holds something. */
  largest(): InputClaim<O> | undefined {
    return this.heap[0];
  }

  /** A claim for `owner`, holding nothing yet. */
  claim(owner: O): InputClaim<O> {
    return new InputClaim(owner);
  }

  /**
   * Sets what `claim` holds now (0 when it holds nothing, or is closed). If that takes the
   * total past the limit, the claims holding the most are evicted, the largest first, until
   * it is back within it: this claim too, when it is the largest.
   */
  set(claim: InputClaim<O>, bytes: number): void {
    const before = claim.bytes;
    if (bytes === before) return;
    claim.bytes = bytes;
    this.stats.bufferedInput += bytes - before;
    if (claim.slot === -1) this.insert(claim);
    else if (bytes === 0) this.remove(claim);
    else if (bytes > before) this.siftUp(claim.slot);
    else this.siftDown(claim.slot);
    if (this.stats.bufferedInput > this.limit && !this.evicting) this.evictLargest();
  }

  private evictLargest(): void {
    // An eviction runs application callbacks (onError): a set() they cause must not start a second loop.
    this.evicting = true;
    try {
      while (this.stats.bufferedInput > this.limit && this.heap.length > 0) {
        const top = this.heap[0] as InputClaim<O>;
        const total = this.stats.bufferedInput;
        const held = top.bytes;
        // Off the heap first: the loop moves on whatever evict does, and the closing owner's own set(0) is a no-op.
        top.bytes = 0;
        this.stats.bufferedInput -= held;
        this.remove(top);
        this.evict(top.owner, held, total);
      }
    } finally {
      this.evicting = false;
    }
  }

  private insert(claim: InputClaim<O>): void {
    claim.slot = this.heap.length;
    this.heap.push(claim);
    this.siftUp(claim.slot);
  }

  private remove(claim: InputClaim<O>): void {
    const at = claim.slot;
    const last = this.heap.pop() as InputClaim<O>;
    claim.slot = -1;
    if (last === claim) return;
    this.heap[at] = last;
    last.slot = at;
    if (at > 0 && last.bytes > (this.heap[(at - 1) >> 1] as InputClaim<O>).bytes) this.siftUp(at);
    else this.siftDown(at);
  }

  private siftUp(from: number): void {
    const heap = this.heap;
    const claim = heap[from] as InputClaim<O>;
    let at = from;
    while (at > 0) {
      const up = (at - 1) >> 1;
      const parent = heap[up] as InputClaim<O>;
      if (parent.bytes >= claim.bytes) break;
      heap[at] = parent;
      parent.slot = at;
      at = up;
    }
    heap[at] = claim;
    claim.slot = at;
  }

  private siftDown(from: number): void {
    const heap = this.heap;
    const n = heap.length;
    const claim = heap[from] as InputClaim<O>;
    let at = from;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= n) break;
      const right = child + 1;
      if (right < n && (heap[right] as InputClaim<O>).bytes > (heap[child] as InputClaim<O>).bytes) child = right;
      const larger = heap[child] as InputClaim<O>;
      if (larger.bytes <= claim.bytes) break;
      heap[at] = larger;
      larger.slot = at;
      at = child;
    }
    heap[at] = claim;
    claim.slot = at;
  }
}
