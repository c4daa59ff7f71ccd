/**
 * Connection churn against a server: a few loops, each connecting, asking one echo, checking
 * the reply byte for byte, and closing, over and over until stopped. Every failed session is
 * kept with its error, so a test can assert that none failed while something happened to the
 * server. No tests here and no side effects on import.
 */
import { expectedReply, SeedClient } from './seed-client.js';
import { within } from './wait.js';

/** A session that has not ended by then counts as failed (its connection was lost somewhere): the loop goes on. */
const SESSION_TIMEOUT_MS = 10_000;

export interface ChurnFailure {
  session: number;
  error: string;
  /** The client's port, to find the connection in the server's log (-1 when it never connected). */
  localPort: number;
}

export interface ChurnResult {
  sessions: number;
  failures: ChurnFailure[];
}

export class Churn {
  private sessions = 0;
  private readonly failures: ChurnFailure[] = [];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  /** Starts `loops` loops against `port` at once. */
  constructor(
    private readonly port: number,
    loops = 4,
    private readonly host = '127.0.0.1',
  ) {
    for (let i = 0; i < loops; i++) this.loops.push(this.loop(i));
  }

  /** Sessions finished so far (failed ones included). */
  get count(): number {
    return this.sessions;
  }

  /** Resolves once `more` sessions have finished after this call. */
  further(more: number): Promise<void> {
    const count = this.sessions + more;
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  /** Lets every loop finish its session, then says how it went. */
  async stop(): Promise<ChurnResult> {
    this.stopped = true;
    await Promise.all(this.loops);
    return { sessions: this.sessions, failures: [...this.failures] };
  }

  private async loop(id: number): Promise<void> {
    for (let round = 0; !this.stopped; round++) {
      const session = this.sessions;
      const place = { localPort: -1 };
      try {
        await within(this.session(`churn ${id}.${round}`, place), SESSION_TIMEOUT_MS, `session ${session}`);
      } catch (err) {
        const error = err as NodeJS.ErrnoException;
        this.failures.push({ session, error: `${error.code ?? ''} ${error.message}`.trim(), localPort: place.localPort });
      }
      this.sessions++;
      for (const waiter of this.waiters.filter((w) => this.sessions >= w.count)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  private async session(message: string, place: { localPort: number }): Promise<void> {
    const client = await SeedClient.connect(this.port, this.host);
    place.localPort = client.socket.localPort ?? -1;
    try {
      const reply = await client.request(message);
      if (!reply.equals(expectedReply(message))) throw new Error(`wrong reply to ${JSON.stringify(message)}: ${JSON.stringify(reply.toString('latin1'))}`);
      // FIN, and the server's close in answer: the whole session, as a real client has it.
      await client.end();
    } finally {
      client.destroy();
    }
  }
}
