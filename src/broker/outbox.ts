import type { MessageClass } from './bus.js';

/** A message waiting for the bus. */
export interface Waiting {
  cls: MessageClass;
  channel: string;
  message: Buffer;
}

/** What one waiting message is counted as: its bytes and its channel's, and a little for the entry. */
function cost(entry: Waiting): number {
  return entry.message.length + entry.channel.length + 64;
}

/**
 * Messages waiting for the bus while it is unreachable or backed up, in order, bounded in
 * bytes: a message that does not fit pushes out the oldest ones (the newest are the ones still
 * worth delivering). A single message larger than the whole bound is dropped itself.
 */
export class Outbox {
  private entries: Waiting[] = [];
  private head = 0;
  private bytesValue = 0;

  constructor(readonly limitBytes: number) {}

  get size(): number {
    return this.entries.length - this.head;
  }

  get bytes(): number {
    return this.bytesValue;
  }

  /**
   * Queues `entry`.
   * @returns the messages dropped to make room (`entry` itself when it alone is over the bound)
   */
  push(entry: Waiting): Waiting[] {
    const needed = cost(entry);
    if (needed > this.limitBytes) return [entry];
    const dropped: Waiting[] = [];
    while (this.bytesValue + needed > this.limitBytes) dropped.push(this.shift() as Waiting);
    this.entries.push(entry);
    this.bytesValue += needed;
    return dropped;
  }

  /** The oldest message, taken out; undefined when empty. */
  shift(): Waiting | undefined {
    if (this.head === this.entries.length) return undefined;
    const entry = this.entries[this.head] as Waiting;
    this.entries[this.head] = undefined as unknown as Waiting;
    this.head++;
    this.bytesValue -= cost(entry);
    // Compacted now and then, so a long outage does not keep a long array of holes.
    if (this.head === this.entries.length) {
      this.entries = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  /** Takes out everything, oldest first. */
  clear(): Waiting[] {
    const all = this.entries.slice(this.head);
    this.entries = [];
    this.head = 0;
    this.bytesValue = 0;
    return all;
  }
}
