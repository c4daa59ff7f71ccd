/**
 * What only the stress tests need: bounded concurrency, outcome counts, a client set. No tests
 * here and no side effects on import: `node --test build/test/` also loads this module.
 */
import assert from 'node:assert/strict';
import { expectedReply, SeedClient } from '../helpers/seed-client.js';

/**
 * Runs `task(0) .. task(count - 1)` with at most `limit` in flight and returns every outcome
 * in index order. A failing task does not stop the others, so a test can report how many of
 * N failed (and why) instead of the first rejection alone.
 */
export async function mapBounded<R>(count: number, limit: number, task: (index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      try {
        results[index] = { status: 'fulfilled', value: await task(index) };
      } catch (reason) {
        results[index] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
  return results;
}

/** Fails with the first few reasons when any outcome was a rejection; returns the values. */
export function assertAllFulfilled<R>(results: PromiseSettledResult<R>[], what: string): R[] {
  const failures: string[] = [];
  const values: R[] = [];
  results.forEach((result, index) => {
    if (result.status === 'fulfilled') values.push(result.value);
    else failures.push(`#${index}: ${result.reason instanceof Error ? result.reason.message : String(result.reason)}`);
  });
  assert.equal(failures.length, 0, `${failures.length} of ${results.length} ${what} failed, e.g.\n${failures.slice(0, 5).join('\n')}`);
  return values;
}

/** Checks a reply byte for byte; the message names the client so a mix-up is visible. */
export function assertReply(actual: Buffer, message: Buffer, who: string): void {
  if (!actual.equals(expectedReply(message))) {
    assert.fail(`${who}: expected ${JSON.stringify(expectedReply(message).toString('latin1'))}, got ${JSON.stringify(actual.toString('latin1'))}`);
  }
}

/**
 * Every client a test opens, so a failing test can still close them all: a socket left open
 * would keep the test file's process alive.
 */
export class ClientSet {
  readonly clients: SeedClient[] = [];

  async connect(port: number): Promise<SeedClient> {
    const client = await SeedClient.connect(port);
    this.clients.push(client);
    return client;
  }

  /** Clients whose socket is still open in both directions. */
  get openCount(): number {
    return this.clients.filter((client) => client.socket.readyState === 'open' && !client.socket.destroyed).length;
  }

  destroyAll(): void {
    for (const client of this.clients) client.destroy();
  }
}
