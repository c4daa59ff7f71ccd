/**
 * What only the unit tests need: a started NetServer, one loop turn, a recording codec sink.
 * The shared pieces (waiting, clients, resource checks) are in test/helpers/. No tests here:
 * `node --test build/test/` also loads this module as a test file, so it must have no side
 * effects on import.
 */
import { NetServer, type MessageSink, type NetServerOptions, type ServerCallbacks } from '../../src/index.js';

/** A NetServer on 127.0.0.1 and a free port, started. */
export async function startServer<T = unknown>(
  callbacks: ServerCallbacks<T>,
  options: Omit<NetServerOptions<T>, 'callbacks'> = {},
): Promise<{ server: NetServer<T>; port: number }> {
  const server = new NetServer<T>({ host: '127.0.0.1', port: 0, ...options, callbacks });
  const { port } = await server.start();
  return { server, port };
}

/** One macrotask turn: lets queued immediates (and what they queue for the same turn) run. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A decoder sink that keeps what it is given. */
export class RecordingSink implements MessageSink {
  readonly messages: Buffer[] = [];
  readonly failures: Error[] = [];
  deliver(message: Buffer): void {
    this.messages.push(message);
  }
  fail(error: Error): void {
    this.failures.push(error);
  }
  get texts(): string[] {
    return this.messages.map((m) => m.toString());
  }
}
