/**
 * What only the fault-injection suite needs: one scenario runner that sets up and tears down
 * an in-process server the same way for every fault, memory measurements, and a replayable
 * PRNG. The shared pieces (clients, the ledger, waiting, the CLI in a child process) are in
 * test/helpers/. No tests here, and no side effects on import (the runner only loads
 * *.test.js, but `node --test build/test/` would load this too).
 */
import { ReactorServer, type NetServer } from '../../src/index.js';
import { ConnectionLedger, WarningRecorder } from '../helpers/connection-ledger.js';
import { leakChecked } from '../helpers/resources.js';
import { bufferBytes, collectGarbage } from '../helpers/runtime.js';
import { WireClient, type Wire } from '../helpers/wire-client.js';

/** What a fault scenario's body gets: the started server's port and what it is watched with. */
export interface FaultScenario {
  readonly port: number;
  /** Built before the server starts, around the callbacks installed by then. */
  readonly ledger: ConnectionLedger;
  /** Process warnings during the scenario. */
  readonly warnings: WarningRecorder;
  /** Every client `connect` made, destroyed at the end whatever happened. */
  readonly clients: WireClient[];
  /** Connects a client speaking `wire` and keeps it for the cleanup. */
  connect(wire: Wire): Promise<WireClient>;
  /** Runs `cleanup` at the end, whatever happened, before the clients are destroyed and the server stopped. */
  onCleanup(cleanup: () => void): void;
}

/**
 * Runs one fault scenario against `target` (a NetServer, or a ReactorServer's): starts it,
 * runs `body`, and, only if the body passed, checks what every scenario must leave behind:
 * every connection gone by its own course, each onClose fired exactly once. Then, whatever
 * happened, runs the cleanups, destroys the clients and stops the server at once; after a body
 * that passed, this process must hold exactly the handles and descriptors it held before.
 */
export async function faultScenario(target: NetServer | ReactorServer, body: (scenario: FaultScenario) => Promise<void>): Promise<void> {
  const server = target instanceof ReactorServer ? target.server : target;
  const ledger = new ConnectionLedger(server);
  const warnings = new WarningRecorder();
  const clients: WireClient[] = [];
  const cleanups: (() => void)[] = [];
  await leakChecked(
    async () => {
      const { port } = await target.start();
      await body({
        port,
        ledger,
        warnings,
        clients,
        async connect(wire) {
          const client = await WireClient.connect(port, wire);
          clients.push(client);
          return client;
        },
        onCleanup: (cleanup) => void cleanups.push(cleanup),
      });
      await ledger.assertSettledCleanly();
    },
    async () => {
      for (const cleanup of cleanups) cleanup();
      for (const client of clients) client.destroy();
      await target.stop({ drainTimeout: 0 });
      warnings.dispose();
    },
  );
}

// --- memory ------------------------------------------------------------------------------------

export { collectGarbage };

/** Bytes of ArrayBuffers (Node Buffers included) still alive after a full collection. */
export function liveArrayBuffers(): number {
  collectGarbage();
  collectGarbage();
  return bufferBytes();
}

export const MiB = 1024 * 1024;

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** Samples memory every `intervalMs` until stopped; reports the peaks. */
export class MemorySampler {
  peakArrayBuffers = 0;
  peakRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(intervalMs = 25) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const usage = process.memoryUsage();
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, bufferBytes(usage));
    this.peakRss = Math.max(this.peakRss, usage.rss);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** A deterministic PRNG (mulberry32), so a failing random scenario can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytesFrom(random: () => number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}
