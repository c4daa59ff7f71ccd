/**
 * Traffic shaping for one connection: at most `perSecond` messages a second reach the
 * application, with a burst of as many. A token bucket sits between the decoder and the
 * connection; once it is empty, the messages still coming out of the current read wait here,
 * reading pauses (the kernel's window closes and the peer slows down), and a timer hands the
 * waiting messages on, in order, as tokens come back. Nothing is dropped, and what waits is
 * bounded by one read: no more is read until the queue has drained.
 *
 * Only connections of a server with `maxMessagesPerSecond` have one: without it, the decoder
 * delivers to the connection directly and the message path is untouched.
 */
import type { MessageSink } from './codec.js';

/** What the shaper needs from its connection. */
export interface ShapedConnection extends MessageSink {
  /** The queue is no longer empty: stop reading, and keep the connection open until it drains. */
  throttle(): void;
  /** Delivers what the budget allows now, as a read callback would (replies flushed after). */
  deliverHeld(): void;
  /** The queue is empty again: read again. */
  unthrottle(): void;
}

export class MessageShaper implements MessageSink {
  private tokens: number;
  /** When the bucket was last brought up to date (performance.now() ms). */
  private stamp = performance.now();
  private readonly held: Buffer[] = [];
  /** Index of the next held message (the queue is consumed from the front without shifting). */
  private next = 0;
  private heldBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly perMs: number;

  constructor(
    private readonly conn: ShapedConnection,
    private readonly perSecond: number,
  ) {
    this.tokens = perSecond;
    this.perMs = perSecond / 1000;
  }

  /** Bytes of messages waiting for their turn. */
  get bufferedBytes(): number {
    return this.heldBytes;
  }

  /** Messages waiting for their turn. */
  get heldMessages(): number {
    return this.held.length - this.next;
  }

  /** MessageSink: one message out of the decoder. */
  deliver(message: Buffer): void {
    if (this.held.length === 0) {
      if (this.take()) {
        this.conn.deliver(message);
        return;
      }
      this.conn.throttle();
      this.schedule();
    }
    this.held.push(message);
    this.heldBytes += message.length;
  }

  /** MessageSink: the byte stream is malformed. */
  fail(error: Error): void {
    this.conn.fail(error);
  }

  /** Hands on the messages the budget allows now; the connection calls it inside `deliverHeld`. */
  release(): void {
    const held = this.held;
    while (this.next < held.length && this.take()) {
      const message = held[this.next]!;
      held[this.next++] = undefined as unknown as Buffer;
      this.heldBytes -= message.length;
      this.conn.deliver(message);
    }
  }

  /** The connection closed: nothing more is delivered. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.held.length = 0;
    this.next = 0;
    this.heldBytes = 0;
  }

  private take(): boolean {
    const now = performance.now();
    const elapsed = now - this.stamp;
    this.stamp = now;
    this.tokens = Math.min(this.perSecond, this.tokens + elapsed * this.perMs);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private schedule(): void {
    // Until the next whole token; at least a millisecond (the timers' resolution).
    const wait = Math.max(1, Math.ceil((1 - this.tokens) / this.perMs));
    this.timer = setTimeout(onTimer, wait, this);
  }

  /** @internal The timer: the connection delivers (through `release`), then the queue is drained or waits again. */
  tick(): void {
    this.timer = null;
    this.conn.deliverHeld();
    if (this.held.length === 0) return; // stopped: the connection closed meanwhile
    if (this.next < this.held.length) {
      this.schedule();
      return;
    }
    this.held.length = 0;
    this.next = 0;
    this.conn.unthrottle();
  }
}

function onTimer(shaper: MessageShaper): void {
  shaper.tick();
}
