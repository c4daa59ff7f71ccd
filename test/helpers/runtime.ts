/**
 * What differs between the runtimes the tests run on (Node.js and Bun), in one place. No tests
 * here and no side effects on import.
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { isBun } from '../../src/transport/bun-api.js';

/** True under Bun (which also reports a process.versions.node of its own). */
export const runsOnBun = isBun();

/** The transports this runtime has: node:net everywhere, Bun's own sockets on Bun. */
export const transportsHere: readonly ('node' | 'bun')[] = runsOnBun ? ['node', 'bun'] : ['node'];

let gcFunction: (() => void) | null = null;

/**
 * A full, synchronous garbage collection: V8's gc (exposed on first use, without a
 * command-line flag) on Node.js, `Bun.gc(true)` on Bun.
 */
export function collectGarbage(): void {
  if (gcFunction === null) {
    const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
    if (bun !== undefined) {
      gcFunction = () => bun.gc(true);
    } else {
      setFlagsFromString('--expose-gc');
      gcFunction = runInNewContext('gc') as () => void;
    }
  }
  gcFunction();
}

/**
 * Bytes held in ArrayBuffers (Buffers included) as `usage` tells: its `arrayBuffers` on
 * Node.js; Bun always reports 0 there and counts its buffers in `external`.
 */
export function bufferBytes(usage: NodeJS.MemoryUsage = process.memoryUsage()): number {
  return runsOnBun ? usage.external : usage.arrayBuffers;
}
