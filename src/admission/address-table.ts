/**
 * Per-address state for the whole server: how many connections each client address holds
 * open, and its token bucket of new connections. One fixed block of memory (a
 * SharedArrayBuffer), so the reactor threads of a group share it, and so a scan from a million
 * addresses cannot make it grow.
 *
 * The table is open-addressed: an address lives in one of the WINDOW slots after its hash.
 * A lookup reads those slots and nothing else, so every operation is O(1). A new address takes
 * an empty slot of its window, or the slot of an idle entry (no open connection, bucket full
 * again: it holds nothing worth keeping); failing both, the idle entry used least recently is
 * evicted (the address it held starts afresh with a full bucket if it comes back). Entries with
 * open connections are never evicted: when a whole window holds open connections, the new
 * address is refused (`rate`, counted in `refusedForRoom`).
 *
 * Threads take a lock (an Atomics word in the block) around each operation: a few dozen
 * reads and writes, so contention costs next to nothing. Open connections are counted per
 * reactor as well as in total, so that when a reactor dies, what it held can be given back
 * (`releaseReactor`) even though it never closed its connections itself.
 */
import { addressKey, hashKey } from './address-key.js';

/** What the table limits; 0 turns a limit off. */
export interface AddressLimits {
  /** Open connections per address, across the whole server. */
  maxConnectionsPerIp: number;
  /** New connections per second per address: a token bucket refilling this many a second and holding as many. */
  connectRatePerIp: number;
}

/** All it takes to use a table from another thread; survives structured cloning (the memory is shared, not copied). */
export interface AddressTableState {
  buffer: SharedArrayBuffer;
  capacity: number;
  reactors: number;
}

/** Why the table refused a connection: its address holds the most it may, or it is out of tokens (or there is no room for it). */
export type AddressRefusal = 'per-ip' | 'rate';

/** Slots an address may live in, after its hash. */
export const WINDOW = 16;
/** The most slots a table may have: 2^22 (40 bytes each, plus 2 per reactor). */
export const MAX_CAPACITY = 2 ** 22;
/** Per-reactor counts are 16-bit. */
export const MAX_CONNECTIONS_PER_IP = 0xffff;

// The header: Int32 words.
const LOCK = 0;
const WAITERS = 1;
const SIZE = 2;
const EVICTIONS = 3;
const SEED = 4;
const REFUSED_FOR_ROOM = 5;
// The limits live in the shared block too, so a change reaches every thread at its next operation.
const MAX_OPEN = 6;
const RATE = 7;
const HEADER_BYTES = 32;

/** Lock attempts before sleeping on the lock word. */
const SPINS = 200;
/** A sleeper wakes at least this often (ms), in case the holder died holding the lock. */
const WAIT_MS = 1;

/** This thread's time origin (a getter costs more than the subtraction it saves). */
const ORIGIN = performance.timeOrigin;

/** Milliseconds on a clock all threads of the process share. */
export function tableClock(): number {
  // performance.now() starts at each thread's own origin; origin + now is one clock for all.
  return ORIGIN + performance.now();
}

/** The smallest power of two >= `n`, and at least WINDOW. */
function slotsFor(n: number): number {
  let slots = WINDOW;
  while (slots < n) slots *= 2;
  return slots;
}

function byteLength(capacity: number, reactors: number): number {
  return HEADER_BYTES + capacity * (8 + 8 + 16 + 4 + 4 + 2 * reactors);
}

export class AddressTable {
  /** Slots: `maxTrackedAddresses` rounded up to a power of two. */
  readonly capacity: number;
  /** Reactors counted separately (each reactor uses its index, from 0). */
  readonly reactors: number;
  private readonly buffer: SharedArrayBuffer;
  private readonly header: Int32Array;
  /** When each entry's bucket was last filled up to date (tableClock ms); also its last use. */
  private readonly stamps: Float64Array;
  private readonly tokens: Float64Array;
  private readonly keys: Uint32Array;
  /** 1 where a slot holds an address. */
  private readonly used: Int32Array;
  /** Open connections of each entry, all reactors together. */
  private readonly open: Int32Array;
  /** Open connections of each entry by reactor: slot * reactors + reactor. */
  private readonly openByReactor: Uint16Array;
  private readonly mask: number;
  private readonly seed: number;
  /** Tokens per ms, the bucket's size, and the most open connections: this thread's copy of the limits, read under the lock. */
  private refill = 0;
  private burst = 0;
  private maxOpen = 0;
  /** The lock owner id of the supervisor (reactors are 1..reactors). */
  private readonly supervisorId: number;
  /** The key being looked up (this thread's own). */
  private readonly key = new Uint32Array(4);

  private constructor(state: AddressTableState) {
    const { buffer, capacity, reactors } = state;
    this.buffer = buffer;
    this.capacity = capacity;
    this.reactors = reactors;
    let at = HEADER_BYTES;
    const take = (bytesPerSlot: number): number => {
      const start = at;
      at += capacity * bytesPerSlot;
      return start;
    };
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    // Float64 first: their offsets must be multiples of 8.
    this.stamps = new Float64Array(buffer, take(8), capacity);
    this.tokens = new Float64Array(buffer, take(8), capacity);
    this.keys = new Uint32Array(buffer, take(16), capacity * 4);
    this.used = new Int32Array(buffer, take(4), capacity);
    this.open = new Int32Array(buffer, take(4), capacity);
    this.openByReactor = new Uint16Array(buffer, take(2 * reactors), capacity * reactors);
    this.mask = capacity - 1;
    this.seed = Atomics.load(this.header, SEED);
    this.readLimits();
    this.supervisorId = reactors + 1;
  }

  /**
   * A new, empty table.
   * @param maxTrackedAddresses addresses it can hold, rounded up to a power of two (16 to 2^22)
   * @param reactors how many reactors use it (each counts under its own index)
   */
  static create(maxTrackedAddresses: number, reactors: number, limits: AddressLimits): AddressTable {
    if (!Number.isInteger(maxTrackedAddresses) || maxTrackedAddresses < 1 || maxTrackedAddresses > MAX_CAPACITY) throw new RangeError(`maxTrackedAddresses must be an integer from 1 to ${MAX_CAPACITY}`);
    if (!Number.isInteger(reactors) || reactors < 1) throw new RangeError('reactors must be an integer >= 1');
    const capacity = slotsFor(maxTrackedAddresses);
    const buffer = new SharedArrayBuffer(byteLength(capacity, reactors));
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    Atomics.store(header, SEED, (Math.random() * 2 ** 32) | 0);
    Atomics.store(header, MAX_OPEN, limits.maxConnectionsPerIp);
    Atomics.store(header, RATE, limits.connectRatePerIp);
    return new AddressTable({ buffer, capacity, reactors });
  }

  /** The same table, for use on this thread (its memory is shared with every other user). */
  static attach(state: AddressTableState): AddressTable {
    return new AddressTable(state);
  }

  /** What another thread needs to `attach` to this table. */
  get state(): AddressTableState {
    return { buffer: this.buffer, capacity: this.capacity, reactors: this.reactors };
  }

  /** The limits in force for every user of the table. */
  get limits(): AddressLimits {
    return { maxConnectionsPerIp: Atomics.load(this.header, MAX_OPEN), connectRatePerIp: Atomics.load(this.header, RATE) };
  }

  /**
   * Changes the limits for every user of the table, from each one's next operation. Counting
   * open connections cannot start or stop on a table in use (connections admitted without a
   * count would later be released): a maximum stays a maximum.
   * @throws RangeError when `maxConnectionsPerIp` would turn counting on or off
   */
  setLimits(limits: AddressLimits): void {
    if (limits.maxConnectionsPerIp > 0 !== this.countsConnections) throw new RangeError('maxConnectionsPerIp cannot turn on or off while the table is in use');
    this.lock(this.supervisorId);
    Atomics.store(this.header, MAX_OPEN, limits.maxConnectionsPerIp);
    Atomics.store(this.header, RATE, limits.connectRatePerIp);
    this.readLimits();
    this.unlock();
  }

  /** True when connections are counted: each admitted one must be released. */
  get countsConnections(): boolean {
    return Atomics.load(this.header, MAX_OPEN) > 0;
  }

  /** Slots holding an address now (idle ones included, until their slot is needed). */
  get size(): number {
    return Atomics.load(this.header, SIZE);
  }

  /** Idle entries dropped to make room before they expired. */
  get evictions(): number {
    return Atomics.load(this.header, EVICTIONS);
  }

  /** Connections refused because a new address found no room (every slot of its window had open connections). */
  get refusedForRoom(): number {
    return Atomics.load(this.header, REFUSED_FOR_ROOM);
  }

  /** Open connections counted for `address` (0 for one not in the table). */
  openConnections(address: string): number {
    if (!addressKey(address, this.key)) return 0;
    this.lock(this.supervisorId);
    const slot = this.find();
    const open = slot < 0 ? 0 : this.open[slot]!;
    this.unlock();
    return open;
  }

  /**
   * Admits one new connection from `address` on `reactor`, or says why not. Takes a token
   * (when a rate is set) before it looks at the open connections (when a maximum is set), so
   * every attempt counts against the rate. An address that is no IP address is not limited.
   * @param now tableClock() ms; read here when a rate is set (without one, time plays no part)
   * @returns null when admitted (then, if `countsConnections`, `release` it when it closes)
   */
  acquire(address: string, reactor: number, now = Atomics.load(this.header, RATE) > 0 ? tableClock() : 0): AddressRefusal | null {
    if (!addressKey(address, this.key)) return null;
    this.lock(reactor + 1);
    this.readLimits();
    try {
      const slot = this.slotFor(now);
      if (slot < 0) {
        // Under the lock: plain writes; readers use Atomics.load.
        this.header[REFUSED_FOR_ROOM]!++;
        return 'rate';
      }
      if (this.refill > 0) {
        let tokens = this.tokens[slot]!;
        const elapsed = now - this.stamps[slot]!;
        // Another thread's clock may be a hair behind: time never runs backwards for a bucket.
        if (elapsed > 0) {
          tokens = Math.min(this.burst, tokens + elapsed * this.refill);
          this.stamps[slot] = now;
        }
        if (tokens < 1) {
          this.tokens[slot] = tokens;
          return 'rate';
        }
        this.tokens[slot] = tokens - 1;
      } else {
        this.stamps[slot] = now;
      }
      if (this.maxOpen > 0) {
        if (this.open[slot]! >= this.maxOpen) return 'per-ip';
        this.open[slot]!++;
        this.openByReactor[slot * this.reactors + reactor]!++;
      }
      return null;
    } finally {
      this.unlock();
    }
  }

  /** One connection from `address` that `acquire` admitted on `reactor` has closed. */
  release(address: string, reactor: number): void {
    if (!this.countsConnections || !addressKey(address, this.key)) return;
    this.lock(reactor + 1);
    this.readLimits();
    const slot = this.find();
    const at = slot * this.reactors + reactor;
    if (slot >= 0 && this.openByReactor[at]! > 0) {
      this.openByReactor[at]!--;
      if (--this.open[slot]! === 0 && this.refill === 0) this.free(slot);
    }
    this.unlock();
  }

  /**
   * Gives back every connection `reactor` held: it died without closing them. Takes the lock
   * from it if it died holding it, and recounts each entry it touched from the reactors'
   * counts, so that an update it left half done is repaired. O(capacity x reactors): only
   * when a reactor ends.
   */
  releaseReactor(reactor: number): void {
    if (!this.countsConnections) return;
    if (Atomics.compareExchange(this.header, LOCK, reactor + 1, this.supervisorId) !== reactor + 1) this.lock(this.supervisorId);
    this.readLimits();
    const { reactors, openByReactor } = this;
    for (let slot = 0; slot < this.capacity; slot++) {
      if (this.used[slot] === 0 || openByReactor[slot * reactors + reactor] === 0) continue;
      openByReactor[slot * reactors + reactor] = 0;
      let open = 0;
      for (let r = 0; r < reactors; r++) open += openByReactor[slot * reactors + r]!;
      this.open[slot] = open;
      if (open === 0 && this.refill === 0) this.free(slot);
    }
    this.unlock();
  }

  /** This thread's copy of the limits, from the shared block: under the lock (or before anyone else has the table). */
  private readLimits(): void {
    this.maxOpen = Atomics.load(this.header, MAX_OPEN);
    const rate = Atomics.load(this.header, RATE);
    this.refill = rate / 1000;
    this.burst = rate;
  }

  /** The slot of the key being looked up, or -1. Under the lock. */
  private find(): number {
    const { key, keys, used, mask } = this;
    const k0 = key[0]!;
    const k1 = key[1]!;
    const k2 = key[2]!;
    const k3 = key[3]!;
    const start = hashKey(key, this.seed) & mask;
    for (let i = 0; i < WINDOW; i++) {
      const slot = (start + i) & mask;
      const at = slot * 4;
      if (used[slot] !== 0 && keys[at + 3] === k3 && keys[at] === k0 && keys[at + 1] === k1 && keys[at + 2] === k2) return slot;
    }
    return -1;
  }

  /**
   * The slot of the key being looked up, claimed for it if it has none (see the class
   * comment for which slot); -1 when its whole window holds open connections. Under the lock.
   */
  private slotFor(now: number): number {
    const { key, keys, used, open, mask } = this;
    const k0 = key[0]!;
    const k1 = key[1]!;
    const k2 = key[2]!;
    const k3 = key[3]!;
    const start = hashKey(key, this.seed) & mask;
    let reusable = -1;
    let oldestIdle = -1;
    for (let i = 0; i < WINDOW; i++) {
      const slot = (start + i) & mask;
      if (used[slot] === 0) {
        if (reusable < 0) reusable = slot;
        continue;
      }
      const at = slot * 4;
      // The last word first: for IPv4 clients the first three are the same for everyone.
      if (keys[at + 3] === k3 && keys[at] === k0 && keys[at + 1] === k1 && keys[at + 2] === k2) return slot;
      if (open[slot] !== 0) continue;
      if (this.bucketFull(slot, now)) {
        if (reusable < 0) reusable = slot;
      } else if (oldestIdle < 0 || this.stamps[slot]! < this.stamps[oldestIdle]!) {
        oldestIdle = slot;
      }
    }
    let slot = reusable;
    if (slot < 0) {
      if (oldestIdle < 0) return -1;
      slot = oldestIdle;
      this.header[EVICTIONS]!++;
    } else if (used[slot] === 0) {
      used[slot] = 1;
      this.header[SIZE]!++;
    }
    const at = slot * 4;
    keys[at] = k0;
    keys[at + 1] = k1;
    keys[at + 2] = k2;
    keys[at + 3] = k3;
    this.tokens[slot] = this.burst;
    this.stamps[slot] = now;
    open[slot] = 0;
    // Zero already when the open count is (it is their sum), unless a repair is under way.
    for (let r = slot * this.reactors, end = r + this.reactors; r < end; r++) this.openByReactor[r] = 0;
    return slot;
  }

  /** An idle entry whose bucket has refilled holds nothing a fresh one would not. */
  private bucketFull(slot: number, now: number): boolean {
    if (this.refill === 0) return true;
    return this.tokens[slot]! + Math.max(0, now - this.stamps[slot]!) * this.refill >= this.burst;
  }

  private free(slot: number): void {
    this.used[slot] = 0;
    this.header[SIZE]!--;
  }

  private lock(owner: number): void {
    if (Atomics.compareExchange(this.header, LOCK, 0, owner) !== 0) this.lockContended(owner);
  }

  private lockContended(owner: number): void {
    const header = this.header;
    for (;;) {
      for (let i = 0; i < SPINS; i++) {
        if (Atomics.load(header, LOCK) === 0 && Atomics.compareExchange(header, LOCK, 0, owner) === 0) return;
      }
      Atomics.add(header, WAITERS, 1);
      const holder = Atomics.load(header, LOCK);
      if (holder !== 0) Atomics.wait(header, LOCK, holder, WAIT_MS);
      Atomics.sub(header, WAITERS, 1);
      if (Atomics.compareExchange(header, LOCK, 0, owner) === 0) return;
    }
  }

  private unlock(): void {
    Atomics.store(this.header, LOCK, 0);
    if (Atomics.load(this.header, WAITERS) !== 0) Atomics.notify(this.header, LOCK, 1);
  }
}
